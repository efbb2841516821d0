"""The BQ-NCO policy: an encoder-only transformer without positional encoding."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from symco.core.policy import Policy, masked_logits
from symco.core.reducer import ReducedBatch
from symco.core.symmetry.weights import Axis, Permutation, PermutationSpec, columns, rows


class Block(nn.Module):
    """Self-attention then a ReLU feed-forward, each added back through a ReZero gate.

    ReZero (Bachlechner et al. 2020): ``h + α f(h)`` with ``α`` a learned scalar starting at 0,
    so every block starts as the identity and deep stacks train without normalisation layers.
    """

    def __init__(self, dim: int, heads: int, ff_dim: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.ff = nn.Sequential(nn.Linear(dim, ff_dim), nn.ReLU(), nn.Linear(ff_dim, dim))
        self.alpha_attn = nn.Parameter(torch.zeros(()))
        self.alpha_ff = nn.Parameter(torch.zeros(()))

    def forward(self, h: Tensor, attn_mask: Tensor | None) -> Tensor:
        b, m, d = h.shape
        q, k, v = (
            self.qkv(h).view(b, m, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        )  # (B, H, M, d/H)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)  # (B, H, M, d/H)
        h = h + self.alpha_attn * self.out(a.transpose(1, 2).reshape(b, m, d))
        return h + self.alpha_ff * self.ff(h)


class BQTransformer(Policy):
    """Node features and a node-type embedding in, one logit per action per node out.

    .. math::
        h^0_i = W x_i + E[\\text{type}_i], \\quad
        h^{l+1} = \\mathrm{ReZero}(\\mathrm{FF}, \\mathrm{ReZero}(\\mathrm{MHA}, h^l)), \\quad
        \\ell_{i,a} = (W_o h^L_i)_a

    No positional encoding: permuting the nodes permutes the logits (equivariance). Paper model:
    9 layers, ``dim=192``, 12 heads, ``ff_dim=512`` (~3.1M parameters).

    Shapes: ``features`` (B, M, F), ``node_type`` (B, M) -> logits (B, M, A), ``-inf`` where infeasible.
    """

    name: ClassVar[str] = "transformer"

    def __init__(
        self,
        num_features: int,
        num_node_types: int,
        actions_per_node: int,
        num_layers: int = 9,
        dim: int = 192,
        heads: int = 12,
        ff_dim: int = 512,
    ) -> None:
        super().__init__()
        self.dim, self.heads, self.ff_dim = dim, heads, ff_dim
        self.embed = nn.Linear(num_features, dim)
        self.node_type = nn.Embedding(num_node_types, dim)
        self.blocks = nn.ModuleList(Block(dim, heads, ff_dim) for _ in range(num_layers))
        self.head = nn.Linear(dim, actions_per_node)

    def forward(self, batch: ReducedBatch) -> Tensor:
        h = self.embed(batch.features) + self.node_type(batch.node_type)  # (B, M, d)
        valid = batch.node_mask
        # padding (node_index -1) must not be attended to; skip the mask when there is none. A row
        # of padding only (a finished episode) attends everywhere rather than producing NaNs.
        valid = valid | ~valid.any(dim=1, keepdim=True)
        attn_mask = None if bool(valid.all()) else valid[:, None, None, :]
        for block in self.blocks:
            h = block(h, attn_mask)
        # at least float32 (bf16 autocast), float64 kept (the symmetry check)
        logits = self.head(h)
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        return masked_logits(logits, batch.action_mask)  # (B, M, A)

    def weight_permutations(self) -> PermutationSpec:
        """The permutations of its parameters that leave the logits unchanged
        (:math:`f_{g \\cdot \\theta} = f_\\theta`, ``symco check-symmetry`` checks it):

        * ``ff{l}``: the ``ff_dim`` hidden units of block ``l``'s feed-forward (rows of
          ``ff.0``, columns of ``ff.2``);
        * ``heads{l}``: block ``l``'s heads, each head's query, key and value rows (``qkv`` rows
          viewed as ``(3, heads, dim / heads)``) with its columns of ``out``;
        * ``residual``: the ``dim`` features of the residual stream, tied through every block —
          rows of ``embed``, ``out``, ``ff.2``, columns of the node-type embedding, ``qkv``,
          ``ff.0`` and ``head``. It holds because nothing mixes features by position: the
          ReZero gates are scalars and there is no normalisation layer (a LayerNorm with
          per-feature affine would move with the stream too).

        Not declared: the finer symmetries inside each head (its query and key dimensions
        together; its value dimensions with its columns of ``out``), which would take one
        permutation per head and block.
        """
        blocks = [f"blocks.{i}" for i in range(len(self.blocks))]
        head_dim = self.dim // self.heads
        perms = {}
        for i, b in enumerate(blocks):
            perms[f"ff{i}"] = Permutation(self.ff_dim, (*rows(f"{b}.ff.0"), *columns(f"{b}.ff.2")))
            perms[f"heads{i}"] = Permutation(
                self.heads,
                (*rows(f"{b}.qkv", outer=3, inner=head_dim), *columns(f"{b}.out", inner=head_dim)),
            )
        stream = [*rows("embed"), Axis("node_type.weight", 1), *columns("head")]
        for b in blocks:
            stream += [*columns(f"{b}.qkv"), *rows(f"{b}.out"), *columns(f"{b}.ff.0")]
            stream += rows(f"{b}.ff.2")
        perms["residual"] = Permutation(self.dim, tuple(stream))
        what = f"{len(blocks)} blocks' FF units, heads, residual stream"
        return PermutationSpec(perms, what)

    def forward_bytes(self, batch: int, nodes: int) -> int:
        """``4 * batch * nodes * max(9 * dim, 6 * dim + 2 * ff_dim)`` bytes (float32).

        Blocks run one after another, so the peak is one block's. Through the block its input
        and ``qkv`` stay alive (``4 dim`` per node) with the attention's output (``dim``); then
        the attention's residual branch holds 4 more ``dim`` (reshaped output, projection, gated,
        new ``h``), or the feed-forward its new ``h`` and hidden layer before and after the ReLU
        (``dim + 2 ff_dim``). No ``(heads, nodes, nodes)`` scores: ``scaled_dot_product_attention``
        runs a fused kernel (flash on CPU, flash or memory-efficient on CUDA) that never holds them.

        Calibrated against peak RSS of one forward of the shipped bq-tsp model (5x128, ff 256, CPU,
        one thread, large blocks mmapped so RSS follows live memory) on the first step of a TSP
        (``nodes = N + 2``): 1500 nodes, batch 1: 7.3 MiB estimated, 10.8 measured; batch 4: 29.3
        vs 32.9; 6000 nodes, batch 1: 29.3 vs 32.8 (the difference is a constant ~3.5 MiB).
        """
        return 4 * batch * nodes * max(9 * self.dim, 6 * self.dim + 2 * self.ff_dim)

    def __repr__(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        blk = self.blocks[0] if len(self.blocks) else None
        dim = self.embed.out_features
        heads = blk.heads if isinstance(blk, Block) else 0
        return f"{type(self).__name__}(layers={len(self.blocks)}, dim={dim}, heads={heads}, params={n / 1e6:.2f}M)"
