"""Registry entries for MixtureSameFamily (see registry.py for the fields)."""

EXAMPLES: list = []
