"""sciope_abs.exploration (see DESIGN.md)."""
