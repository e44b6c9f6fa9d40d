"""Registry entries for user-declared, wrapped and transformed distributions."""

EXAMPLES = []
