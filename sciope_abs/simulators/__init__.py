"""sciope_abs.simulators (see DESIGN.md)."""
