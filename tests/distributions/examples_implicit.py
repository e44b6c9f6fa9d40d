"""Registry entries for Gamma, Chi2, Beta, Dirichlet, StudentT and the user-facing ImplicitReparameterized (see registry.py for the fields)."""

EXAMPLES: list = []
