"""Registry entries for the multivariate families (see registry.py for the fields)."""

EXAMPLES = []
