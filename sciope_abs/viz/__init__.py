"""sciope_abs.viz (see DESIGN.md)."""
