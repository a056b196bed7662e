"""sciope_abs.abstraction (see DESIGN.md)."""
