"""sciope_abs.engine (see DESIGN.md)."""
