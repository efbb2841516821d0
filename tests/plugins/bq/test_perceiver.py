"""The PerceiverIO policy: its block against the equations written out by hand, padding, and
node-permutation equivariance in float64."""

from __future__ import annotations

import math
from dataclasses import replace

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from symco.core.reducer import ReducedBatch
from symco.plugins.bq.perceiver import BQPerceiver, CrossAttentionBlock


def _block_by_hand(block: CrossAttentionBlock, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The block's equations with explicit loops over heads and query rows (float64)."""
    a, b = block.norm_x(x), block.norm_y(y)
    out = torch.zeros_like(y)
    for n in range(y.shape[1]):
        o = torch.zeros(y.shape[0], y.shape[2], dtype=y.dtype)
        for k in range(block.heads):
            keys = a @ block.key[k] + block.key_bias[k]  # (B, M, h)
            query = b[:, n] @ block.query[k]  # (B, h)
            s = (keys @ query[:, :, None])[..., 0] / math.sqrt(block.head_dim)  # (B, M)
            w = s.softmax(dim=1)
            mixed = (w[..., None] * (a @ block.value[k])).sum(dim=1) + block.value_bias[k]
            o = o + mixed @ block.out[k].T
        z = y[:, n] + o
        out[:, n] = z + block.ff(block.norm_ff(z))
    return out


def test_block_matches_its_equations() -> None:
    torch.manual_seed(0)
    block = CrossAttentionBlock(16, 8, heads=4, ff_dim=12).double()
    for p in block.parameters():  # non-trivial biases and norms
        torch.nn.init.normal_(p, std=0.3)
    x, y = torch.randn(2, 7, 16, dtype=torch.float64), torch.randn(2, 5, 8, dtype=torch.float64)
    torch.testing.assert_close(block(x, y), _block_by_hand(block, x, y))


def test_block_mask_ignores_padding() -> None:
    torch.manual_seed(1)
    block = CrossAttentionBlock(8, 8, heads=2, ff_dim=8).double()
    x, y = torch.randn(1, 6, 8, dtype=torch.float64), torch.randn(1, 3, 8, dtype=torch.float64)
    mask = torch.tensor([[True, True, True, True, False, False]])
    padded = x.clone()
    padded[:, 4:] = 100.0  # whatever sits in padding must not matter
    torch.testing.assert_close(block(padded, y, mask), block(x[:, :4], y))


def _batch(b: int, m: int, generator: torch.Generator) -> ReducedBatch:
    features = torch.rand(b, m, 3, generator=generator, dtype=torch.float64)
    node_type = torch.zeros(b, m, dtype=torch.long)
    node_type[:, 0], node_type[:, -1] = 1, 2
    mask = torch.rand(b, m, 2, generator=generator) < 0.7
    mask[:, 0], mask[:, -1] = False, False
    mask[:, 1, 0] = True
    index = torch.arange(m).expand(b, m).clone()
    return ReducedBatch(features, node_type, mask, index)


@settings(max_examples=20, deadline=None)
@given(m=st.integers(3, 12), seed=st.integers(0, 2**16))
def test_permuting_nodes_permutes_logits(m: int, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    policy = BQPerceiver(3, 3, 2, num_layers=2, dim=16, num_latents=5, latent_dim=8, heads=4,
                         ff_dim=16).double()  # fmt: skip
    batch = _batch(2, m, gen)
    perm = torch.randperm(m, generator=gen)
    moved = replace(
        batch,
        features=batch.features[:, perm],
        node_type=batch.node_type[:, perm],
        action_mask=batch.action_mask[:, perm],
        node_index=batch.node_index[:, perm],
    )
    with torch.no_grad():
        out, out_moved = policy(batch), policy(moved)
    assert torch.equal(torch.isinf(out[:, perm]), torch.isinf(out_moved))
    fin = torch.isfinite(out_moved)
    torch.testing.assert_close(out[:, perm][fin], out_moved[fin], rtol=1e-12, atol=1e-12)


def test_masked_actions_and_padding_rows() -> None:
    gen = torch.Generator().manual_seed(3)
    policy = BQPerceiver(3, 3, 2, num_layers=1, dim=8, num_latents=4, latent_dim=8, heads=2,
                         ff_dim=8).double()  # fmt: skip
    batch = _batch(2, 6, gen)
    index = batch.node_index.clone()
    index[1, 4:] = -1  # padding in the second row
    mask = batch.action_mask.clone()
    mask[1, 4:] = False
    logits = policy(replace(batch, node_index=index, action_mask=mask))
    assert logits.shape == (2, 6, 2)
    assert torch.isinf(logits[~mask]).all() and torch.isfinite(logits[mask]).all()
    alone = policy(
        ReducedBatch(batch.features[1:, :4], batch.node_type[1:, :4], mask[1:, :4], index[1:, :4])
    )
    torch.testing.assert_close(logits[1:, :4][mask[1:, :4]], alone[mask[1:, :4]])


def test_cost_is_linear_in_the_nodes() -> None:
    """Attention over latents: doubling the nodes doubles the score entries, never squares them."""
    policy = BQPerceiver(2, 3, 1, num_layers=1, dim=8, num_latents=4, latent_dim=8, heads=2)
    seen: list[tuple[int, ...]] = []

    def record(module, args, kwargs, output) -> None:
        seen.append((args[0].shape[1], args[1].shape[1]))

    for blk in (policy.encoder, *policy.layers, policy.decoder):
        blk.register_forward_hook(record, with_kwargs=True)
    gen = torch.Generator().manual_seed(0)
    b = _batch(1, 50, gen)
    policy(replace(b, features=b.features[..., :2].float(), action_mask=b.action_mask[..., :1]))
    assert seen == [(50, 4), (4, 4), (4, 50)]  # (keys, queries) of each stage
    assert "latents=4x8" in repr(policy) and "x=8, y=8" in repr(policy.encoder)


def test_forward_bytes_is_linear_in_the_nodes() -> None:
    policy = BQPerceiver(2, 3, 1)  # dim 192, latents of width 48, ff_dim 512
    assert policy.forward_bytes(1, 1000) == 4 * 1000 * (5 * 192 + 48 + 2 * 512)
    assert policy.forward_bytes(2, 4000) == 8 * policy.forward_bytes(1, 1000)
