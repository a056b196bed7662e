"""sciope_abs.pipeline (see DESIGN.md)."""
