"""The BQ transformer's memory estimate: one block's activations, no attention scores."""

from __future__ import annotations

from symco.plugins.bq.policy import BQTransformer


def test_forward_bytes_is_one_block_linear_in_the_nodes() -> None:
    """Blocks run in turn and the fused attention kernel holds no ``(heads, M, M)`` scores, so
    the peak is one block's activations: ``max(9 dim, 6 dim + 2 ff_dim)`` floats per node."""
    paper = BQTransformer(2, 3, 1)  # 9 layers, dim 192, 12 heads, ff_dim 512
    assert paper.forward_bytes(1, 1000) == 4 * 1000 * max(9 * 192, 6 * 192 + 2 * 512)
    assert paper.forward_bytes(4, 2000) == 8 * paper.forward_bytes(1, 1000)
    wide = BQTransformer(2, 3, 1, num_layers=1, dim=64, heads=2, ff_dim=1024)
    assert wide.forward_bytes(1, 10) == 4 * 10 * (6 * 64 + 2 * 1024)  # the feed-forward's peak
    assert BQTransformer(2, 3, 1, num_layers=18).forward_bytes(1, 1000) == paper.forward_bytes(
        1, 1000
    )
