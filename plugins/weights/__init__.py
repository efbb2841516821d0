"""Built-in plugin: weights — weight-space symmetry of trained networks: aligning two models'
units (weight matching, activation matching) and interpolating between them."""
