"""Built-in plugin: nbody — the charged-particle simulator, EGNN, the GNN and linear baselines,
frame averaging and the soft-equivariance regularizer (see :mod:`.lightning`)."""
