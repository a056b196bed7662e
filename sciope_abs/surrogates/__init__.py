"""sciope_abs.surrogates (see DESIGN.md)."""
