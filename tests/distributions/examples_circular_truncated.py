"""Registry entries for VonMises and TruncatedNormal (see registry.py for the fields)."""

EXAMPLES: list = []
