"""The compose stage."""
