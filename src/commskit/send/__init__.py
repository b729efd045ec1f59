"""The send stage."""
