"""The BQ-NCO PerceiverIO policy: nodes -> a fixed set of latents -> nodes, linear in the nodes.

Drakulic et al. (NeurIPS 2023, arXiv 2301.03313) publish a PerceiverIO variant of their policy
(Jaegle et al. 2022, arXiv 2107.14795): a cross-attention from the ``M`` nodes into ``L`` learned
latents, self-attention among the latents only, and a cross-attention from the nodes back to the
latents. Every step costs ``O(M L)`` instead of the transformer's ``O(M^2)``, so large instances
decode at a cost linear in their size.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from symco.core.policy import Policy, masked_logits
from symco.core.reducer import ReducedBatch


class CrossAttentionBlock(nn.Module):
    """Queries from ``y`` attend over ``x``, then a ReLU feed-forward; pre-norm, residual on ``y``.

    .. math::
        a = \\mathrm{LN}_x(x),\\quad b = \\mathrm{LN}_y(y),\\quad
        o_n = \\sum_k \\Big(\\sum_m \\mathrm{softmax}_m
            \\frac{(a_m K_k + c_k) \\cdot (b_n Q_k)}{\\sqrt{h}}\\, a_m V_k + e_k\\Big) O_k^\\top

    .. math::
        z = y + o,\\qquad \\mathrm{out} = z + W_2\\,\\mathrm{ReLU}(W_1\\,\\mathrm{LN}_{ff}(z))

    with per-head key/query/value/output matrices ``K_k, V_k`` (Dx, h), ``Q_k, O_k`` (Dy, h),
    a key bias ``c_k`` and a value bias ``e_k`` (h), ``h = Dx / heads``. With ``x = y`` it is
    self-attention. No positional encoding: permuting ``x`` leaves the output unchanged,
    permuting ``y`` permutes it.

    Shapes: ``x`` (B, M, Dx), ``y`` (B, N, Dy), ``x_mask`` (B, M) bool (``True`` = attend) ->
    (B, N, Dy).
    """

    def __init__(self, dim_x: int, dim_y: int, heads: int = 8, ff_dim: int = 512) -> None:
        super().__init__()
        if dim_x % heads:
            raise ValueError(f"dim_x={dim_x} must be divisible by heads={heads}")
        h = dim_x // heads
        self.heads, self.head_dim = heads, h
        self.key = nn.Parameter(torch.empty(heads, dim_x, h))
        self.query = nn.Parameter(torch.empty(heads, dim_y, h))
        self.value = nn.Parameter(torch.empty(heads, dim_x, h))
        self.out = nn.Parameter(torch.empty(heads, dim_y, h))
        self.key_bias = nn.Parameter(torch.zeros(heads, h))
        self.value_bias = nn.Parameter(torch.zeros(heads, h))
        self.norm_x = nn.LayerNorm(dim_x)
        self.norm_y = nn.LayerNorm(dim_y)
        self.norm_ff = nn.LayerNorm(dim_y)
        self.ff = nn.Sequential(nn.Linear(dim_y, ff_dim), nn.ReLU(), nn.Linear(ff_dim, dim_y))
        for w in (self.key, self.query, self.value, self.out):
            # fan-in of each head's map, as nn.Linear's default would give the stacked matrix
            nn.init.uniform_(w, -1 / math.sqrt(w.shape[1]), 1 / math.sqrt(w.shape[1]))

    def forward(self, x: Tensor, y: Tensor, x_mask: Tensor | None = None) -> Tensor:
        a, b = self.norm_x(x), self.norm_y(y)
        k = torch.einsum("bmd,kdh->bkmh", a, self.key) + self.key_bias[:, None]  # (B, H, M, h)
        q = torch.einsum("bnd,kdh->bknh", b, self.query)  # (B, H, N, h)
        v = torch.einsum("bmd,kdh->bkmh", a, self.value)  # (B, H, M, h)
        mask = None if x_mask is None else x_mask[:, None, None, :]  # (B, 1, 1, M)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # (B, H, N, h)
        # the value bias after the weighted sum: the softmax weights of each query sum to one
        o = torch.einsum("bknh,kdh->bnd", o + self.value_bias[:, None], self.out)  # (B, N, Dy)
        z = y + o
        return z + self.ff(self.norm_ff(z))

    def __repr__(self) -> str:
        dx, dy = self.key.shape[1], self.query.shape[1]
        ff = self.ff[0].out_features
        return f"{type(self).__name__}(x={dx}, y={dy}, heads={self.heads}, ff_dim={ff})"


class BQPerceiver(Policy):
    """BQ-NCO's PerceiverIO policy: node features in, one logit per action per node out.

    .. math::
        h_i = W x_i + E[\\text{type}_i],\\quad
        z = \\mathrm{Enc}(x{=}h,\\ y{=}Z_0),\\quad
        z \\leftarrow \\mathrm{Lat}_l(z, z)\\ (l = 1..L),\\quad
        \\ell_i = W_o\\, \\mathrm{Dec}(x{=}z,\\ y{=}h)_i

    where ``Z_0`` are ``num_latents`` learned latent vectors of width ``latent_dim`` and every
    stage is a :class:`CrossAttentionBlock`. The node roles (origin, destination, depot) enter
    through the node-type embedding ``E`` (row 0, ordinary nodes, is learned like the others), so
    the policy is node-permutation equivariant: permuting the nodes permutes the logits. The
    published model: 64 latents of width 48, 9 latent layers, ``dim=192``, 8 heads,
    ``ff_dim=512``; per step ``O(M * num_latents)`` for ``M`` nodes.

    Shapes: ``features`` (B, M, F), ``node_type`` (B, M) -> logits (B, M, A), ``-inf`` where
    infeasible.
    """

    name: ClassVar[str] = "perceiver"

    def __init__(
        self,
        num_features: int,
        num_node_types: int,
        actions_per_node: int,
        num_layers: int = 9,
        dim: int = 192,
        num_latents: int = 64,
        latent_dim: int = 48,
        heads: int = 8,
        ff_dim: int = 512,
    ) -> None:
        super().__init__()
        self.dim, self.latent_dim, self.ff_dim = dim, latent_dim, ff_dim
        self.embed = nn.Linear(num_features, dim)
        self.node_type = nn.Embedding(num_node_types, dim)
        self.latents = nn.Parameter(torch.randn(num_latents, latent_dim) * 0.02)
        self.encoder = CrossAttentionBlock(dim, latent_dim, heads, ff_dim)
        self.layers = nn.ModuleList(
            CrossAttentionBlock(latent_dim, latent_dim, heads, ff_dim) for _ in range(num_layers)
        )
        self.decoder = CrossAttentionBlock(latent_dim, dim, heads, ff_dim)
        self.head = nn.Linear(dim, actions_per_node)

    def forward(self, batch: ReducedBatch) -> Tensor:
        h = self.embed(batch.features) + self.node_type(batch.node_type)  # (B, M, d)
        valid = batch.node_mask
        # a row of padding only (a finished episode) attends everywhere rather than to nothing
        valid = valid | ~valid.any(dim=1, keepdim=True)
        mask = None if bool(valid.all()) else valid  # (B, M)
        z = self.latents.to(h.dtype).expand(h.shape[0], -1, -1)  # (B, L, dl)
        z = self.encoder(h, z, mask)  # (B, L, dl): the latents read the nodes
        for layer in self.layers:
            z = layer(z, z)
        out = self.decoder(z, h)  # (B, M, d): every node reads the latents
        logits = self.head(out)
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        return masked_logits(logits, batch.action_mask)  # (B, M, A)

    def forward_bytes(self, batch: int, nodes: int) -> int:
        """``4 * batch * nodes * (5 * dim + latent_dim + 2 * ff_dim)`` bytes (float32): the peak
        is in the decoder block, where every node holds ``h``, its normalisation, the attention's
        output projected back, the residual sum and its normalisation (``5 dim``), the queries
        (``latent_dim``) and the feed-forward's hidden layer before and after the ReLU
        (``2 ff_dim``); the latents' share does not grow with ``nodes``, and the fused attention
        kernel never holds the ``(heads, nodes, latents)`` scores. Calibrated on peak RSS (CPU,
        default dims, large blocks mmapped): 3000 nodes, batch 1: 23.3 MiB estimated, 29.8
        measured; 6000 nodes: 46.5 vs 53.1 (a constant ~6 MiB apart).
        """
        per_node = 5 * self.dim + self.latent_dim + 2 * self.ff_dim
        return 4 * batch * nodes * per_node

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        latents, width = self.latents.shape
        return (
            f"{type(self).__name__}(layers={len(self.layers)}, dim={self.embed.out_features}, "
            f"latents={latents}x{width}, heads={self.encoder.heads}, params={n / 1e6:.2f}M)"
        )
