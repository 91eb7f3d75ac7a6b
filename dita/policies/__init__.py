"""Policies shipped with dita (examples; the alpha side is the user's)."""
