"""The feeds stage."""
