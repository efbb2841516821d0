"""ZINC molecular regression: a GINE backbone with a positional encoding (symco.encodings)."""
