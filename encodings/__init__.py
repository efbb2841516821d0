"""Positional and structural graph encodings, registered as symco plugins."""
