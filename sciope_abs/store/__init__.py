"""sciope_abs.store (see DESIGN.md)."""
