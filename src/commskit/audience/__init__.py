"""The audience stage."""
