"""sciope_abs.summaries (see DESIGN.md)."""
