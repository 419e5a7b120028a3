"""Data shipped with the hiring application: the scorer's vocabulary and first-name list."""
