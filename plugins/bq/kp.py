"""The BQ reduction of the 0-1 knapsack: a partial packing becomes the knapsack that is left.

Once some items are packed, the rest of the problem is a knapsack over the unpacked items with
the remaining capacity; items that no longer fit can never be packed and are dropped (a further
quotient). Features per item: ``(value, weight, remaining capacity, tightness)``; one action per
item, "pack it". The target is multi-label: every remaining item of the expert's optimal set.

Tightness, ``min(1, remaining capacity / total weight of the remaining items)``, is the fraction of
the remaining weight that can still be packed. It tells the policy how selective to be without
counting items, which softmax attention (an average) cannot do: with a fixed capacity of 20, it
is about 0.4 for 100 items and 0.2 for 200. Trained on KP100 with varying capacities (the
``varcap`` distribution), a model meets the tightness of larger instances at training time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import Tensor

from symco.core.reducer import ReducedBatch
from symco.core.tensors import gather_rows, pad_left_aligned
from symco.plugins.bq.common import BQReducer

FIT_EPS = 1e-6  # relative to the capacity: float32 sums must not drop an item that fits exactly


@dataclass(frozen=True)
class KPState:
    """``weights``, ``values`` (B, N); ``capacity``, ``left`` (B,); ``packed`` (B, N) bool."""

    weights: Tensor
    values: Tensor
    capacity: Tensor
    left: Tensor
    packed: Tensor

    def candidates(self) -> Tensor:
        """(B, N) bool: items not packed that still fit."""
        slack = FIT_EPS * self.capacity[:, None]
        return ~self.packed & (self.weights <= self.left[:, None] + slack)


class BQKPReducer(BQReducer[KPState]):
    """Partial packing -> the knapsack of the items that still fit, with the capacity left.

    ``normalize`` divides weights by the remaining capacity and values by the largest remaining
    value (the optimal set is invariant to both scalings), keeping ``left / capacity`` as the
    third feature. Sub-problems for training pack a uniformly drawn number of the expert's items,
    chosen at random. There are no coordinates: no augmentation, and ``knn`` does nothing.
    """

    name: ClassVar[str] = "bq"
    problem: ClassVar[str] = "kp"
    num_features: ClassVar[int] = 4
    num_node_types: ClassVar[int] = 1
    actions_per_node: ClassVar[int] = 1
    supports_knn: ClassVar[bool] = False

    # -- the MDP ---------------------------------------------------------------------------------

    def init_state(self, instances: Mapping[str, Tensor]) -> KPState:
        w = instances["weights"].float()
        cap = instances["capacity"].float()
        return KPState(
            w, instances["values"].float(), cap, cap.clone(), torch.zeros_like(w, dtype=torch.bool)
        )

    def step(self, state: KPState, node: Tensor, action: Tensor) -> KPState:
        """Pack ``node``; rows whose episode has ended pass ``node = -1`` and are left alone."""
        active = node >= 0
        rows = torch.arange(len(node), device=node.device)[active]
        packed = state.packed.clone()
        packed[rows, node[active]] = True
        left = state.left.clone()
        left[rows] -= state.weights[rows, node[active]]
        return KPState(state.weights, state.values, state.capacity, left, packed)

    def done(self, state: KPState) -> Tensor:
        return ~state.candidates().any(dim=1)

    def solutions(self, state: KPState) -> list[np.ndarray]:
        return [np.flatnonzero(row) for row in state.packed.cpu().numpy()]

    def packed(self, state: KPState) -> Tensor:
        chosen = state.packed.bool()  # (B, N)
        n = chosen.shape[1]
        items = torch.where(chosen, torch.arange(n, device=chosen.device), n)
        out = items.sort(dim=1).values  # packed items first, ascending
        out = out.masked_fill(out == n, -1)
        return out[:, : int(chosen.sum(dim=1).max()) if n else 0]

    def select(self, state: KPState, index: Tensor) -> KPState:
        return KPState(*(getattr(state, f)[index] for f in KPState.__dataclass_fields__))

    def state_from_partial(self, instances: Mapping[str, Tensor], partial: Tensor) -> KPState:
        """The state after packing the items ``partial`` (B, L) (any order, ``-1`` padded; rows
        may differ in length): the capacity left is the capacity less their weights, subtracted
        one by one in the given order as :meth:`step` does.

        :raises ValueError: an item out of range or packed twice.
        """
        state = self.init_state(instances)
        b, n = state.weights.shape
        s = partial.long().to(state.weights.device)  # (B, L)
        valid = s >= 0
        if bool((s >= n).any()):
            raise ValueError(f"KP partial solutions hold items of 0..{n - 1}")
        packed = torch.zeros(b, n + 1, dtype=torch.bool, device=s.device)  # column n: padding
        packed.scatter_(1, torch.where(valid, s, n), True)
        packed = packed[:, :n]
        if bool((packed.sum(dim=1) != valid.sum(dim=1)).any()):
            raise ValueError("a KP partial solution packs an item twice")
        w = gather_rows(state.weights, s)  # (B, L)
        left = state.left
        for i in range(s.shape[1]):  # one by one (not a sum), so the float32 capacity is step's
            left = torch.where(valid[:, i], left - w[:, i], left)
        return KPState(state.weights, state.values, state.capacity, left, packed)

    def equivalent_partial(
        self, instances: Mapping[str, Tensor], partial: Tensor, generator: torch.Generator
    ) -> tuple[dict[str, Tensor], Tensor]:
        """The packed items in another order, in an instance where two of them (where at least two
        are packed) trade weight ``+delta``/``-delta`` (both stay positive, the packed weight is
        the same) and every packed item has another value; the unpacked items are untouched."""
        s = partial.long()
        b, width = s.shape
        dev = s.device
        valid = s >= 0
        key = torch.rand(b, width, generator=generator).to(dev).masked_fill(~valid, 2.0)
        out = torch.gather(s, 1, key.argsort(dim=1))  # (B, L) shuffled, padding last
        weights, values = instances["weights"].clone(), instances["values"].clone()
        n = weights.shape[1]
        if width >= 2:
            rows = (valid.sum(dim=1) >= 2).nonzero()[:, 0]  # (R,)
            i, j = out[rows, 0], out[rows, 1]  # two random packed items
            wi, wj = weights[rows, i], weights[rows, j]
            u = torch.rand(len(rows), generator=generator, dtype=torch.float64)
            delta = (u.to(dev, weights.dtype) - 0.5) * torch.minimum(wi, wj)  # |delta| < w / 2
            weights[rows, i], weights[rows, j] = wi + delta, wj - delta
        fresh = torch.rand(b, width, generator=generator, dtype=torch.float64).to(dev)
        fresh = fresh.to(values.dtype) * values.amax(dim=1, keepdim=True)  # (B, L)
        values = torch.cat([values, values[:, :1]], dim=1)  # column n: padding
        values.scatter_(1, torch.where(valid, s, n), fresh)
        return {**instances, "weights": weights, "values": values[:, :n]}, out

    # -- reduction -------------------------------------------------------------------------------

    def reduce(self, state: KPState, *, knn: int | None = None) -> ReducedBatch:
        return self._batch(state, pad_left_aligned(state.candidates()))

    def _batch(self, state: KPState, nodes: Tensor, target: Tensor | None = None) -> ReducedBatch:
        """The reduced batch of the items ``nodes`` (B, M), ``-1`` padded."""
        b, m = nodes.shape
        if m == 0:  # every episode has ended: one padding column keeps shapes valid
            nodes = torch.full((b, 1), -1, dtype=torch.long, device=nodes.device)
            m = 1
        valid = nodes >= 0
        w, v = gather_rows(state.weights, nodes), gather_rows(state.values, nodes)  # (B, M)
        w, v = w * valid, v * valid
        left = state.left[:, None].expand(b, m)
        tight = (left / w.sum(dim=1, keepdim=True).clamp_min(1e-12)).clamp_max(1.0)  # (B, M)
        if self.normalize:
            w = w / left.clamp_min(1e-12)
            v = v / v.amax(dim=1, keepdim=True).clamp_min(1e-12)
            left = left / state.capacity[:, None]
        features = torch.stack([v, w, left, tight], dim=-1).masked_fill(~valid[..., None], 0.0)
        node_type = torch.zeros(b, m, dtype=torch.long, device=nodes.device)
        return ReducedBatch(features, node_type, valid[..., None], nodes, target)

    # -- imitation samples -----------------------------------------------------------------------

    def trajectory(
        self, instances: Mapping[str, Tensor], solutions: Tensor
    ) -> tuple[Tensor, Tensor]:
        """The expert's items in increasing index order (any order builds the same set)."""
        big = torch.iinfo(torch.long).max  # sorts the -1 padding last
        s = solutions.long()
        items = torch.sort(torch.where(s < 0, big, s), dim=1).values
        items = torch.where(items == big, -1, items)
        return items, torch.where(items >= 0, 0, -1)

    def expand(
        self, instances: Mapping[str, Tensor], solutions: Tensor, *, generator: torch.Generator
    ) -> ReducedBatch:
        """Per expert set ``S``: pack a random ``t`` of its items (``t`` uniform in ``0..|S|-1``);
        the target is every other item of ``S`` (each is optimal next)."""
        state = self.init_state(instances)
        sol = solutions.long()
        b, n = state.weights.shape
        dev = sol.device
        in_opt = torch.zeros(b, n + 1, dtype=torch.bool, device=dev)
        in_opt.scatter_(1, torch.where(sol < 0, n, sol), True)  # column n collects the padding
        in_opt = in_opt[:, :n]
        size = in_opt.sum(dim=1)  # (B,)
        t = (torch.rand(b, generator=generator).to(dev) * size).long()  # (B,) in 0..|S|-1
        key = torch.rand(b, n, generator=generator).to(dev).masked_fill(~in_opt, 2.0)
        rank = key.argsort(dim=1).argsort(dim=1)  # rank of each item among S (S first)
        packed = in_opt & (rank < t[:, None])
        left = state.capacity - (state.weights * packed).sum(dim=1)
        state = KPState(state.weights, state.values, state.capacity, left, packed)
        nodes = pad_left_aligned(state.candidates())
        target = (gather_rows(in_opt.float(), nodes) * (nodes >= 0))[..., None]  # (B, M, 1)
        return self._batch(state, nodes, target)
