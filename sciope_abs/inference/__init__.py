"""sciope_abs.inference (see DESIGN.md)."""
