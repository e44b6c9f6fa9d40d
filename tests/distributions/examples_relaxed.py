"""Registry entries for RelaxedBernoulli and RelaxedOneHotCategorical (see registry.py for the fields)."""

EXAMPLES: list = []
