"""The :class:`Policy` interface: masked action logits for a batch of reduced states."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from symco.core.problem import Problem
from symco.core.reducer import ReducedBatch, SymmetryReducer
from symco.core.symmetry.declare import Symmetry


def masked_logits(logits: Tensor, mask: Tensor) -> Tensor:
    """Set infeasible actions to ``-inf`` so a softmax gives them zero probability.

    :param logits: ``(B, M, A)``.
    :param mask: ``(B, M, A)`` bool, ``True`` where feasible.
    """
    return logits.masked_fill(~mask, float("-inf"))


class Policy(nn.Module, ABC):
    """An ``nn.Module`` scoring every action of every node of a :class:`ReducedBatch`.

    A policy knows nothing of problem names: its input sizes (features, node types, actions per
    node) come from the reducer (``SymmetryReducer.num_features`` etc.), passed to its constructor.
    Permuting the nodes of the batch must permute the logits the same way (equivariance): use no
    positional encoding over the node axis.
    """

    name: ClassVar[str]
    """Registry name."""

    @abstractmethod
    def forward(self, batch: ReducedBatch) -> Tensor:
        """Return ``(B, M, A)`` logits, ``-inf`` where ``batch.action_mask`` is ``False``."""

    def forward_bytes(self, batch: int, nodes: int) -> int | None:
        """Peak working memory in bytes of one forward pass over ``batch`` reduced instances of
        ``nodes`` nodes, weights excluded: what ``symco evaluate`` checks against the memory
        available before it decodes anything. ``None`` (the default): unknown, no check."""
        return None


def permute_nodes(group: Any, g: Any, batch: ReducedBatch) -> ReducedBatch:
    """The reduced batch with its node axis permuted by ``g`` (a batch of elements of a
    :class:`~symco.core.symmetry.NodePermutation` group): every per-node tensor moves together."""
    target = None if batch.target is None else group.act(g, batch.target)
    return replace(
        batch,
        features=group.act(g, batch.features),
        node_type=group.act(g, batch.node_type),
        action_mask=group.act(g, batch.action_mask),
        node_index=group.act(g, batch.node_index),
        target=target,
    )


def node_permutation_symmetry(num_nodes: int) -> Symmetry:
    """A policy's declared symmetry: permuting the nodes of a reduced batch permutes its logits
    the same way (``(B, M, A)`` rows)."""
    from symco.core.symmetry import NodePermutation

    group = NodePermutation(num_nodes)
    return Symmetry(
        group,
        act_input=lambda g, batch: permute_nodes(group, g, batch),
        act_output=lambda g, logits: group.act(g, logits),
        relation="permuted",
        description="nodes of the reduced instance -> rows of the logits",
    )


def random_reduced_batch(
    problem: Problem,
    reducer: SymmetryReducer[Any],
    n: int,
    size: int,
    generator: torch.Generator,
    steps: int = 2,
) -> ReducedBatch:
    """A reduced batch of ``n`` random ``size``-node instances after ``steps`` random feasible
    actions (so origin, destination and padding roles all occur), features in float64.

    Drawn from ``generator`` only; what a policy's symmetry check runs on.
    """
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
    inst = problem.generate(n, size, rng=np.random.default_rng(seed))
    state = reducer.init_state({k: torch.as_tensor(v) for k, v in inst.items()})
    for _ in range(steps):
        done = reducer.done(state)
        if bool(done.all()):
            break
        batch = reducer.reduce(state)
        b, m, a = batch.action_mask.shape
        score = torch.rand(b, m * a, generator=generator).masked_fill(
            ~batch.action_mask.reshape(b, m * a), -1.0
        )
        flat = score.argmax(dim=1)  # (B,) a random feasible action
        node = batch.node_index.gather(1, (flat // a)[:, None])[:, 0]
        state = reducer.step(state, node.masked_fill(done, -1), flat % a)
    batch = reducer.reduce(state)
    return replace(batch, features=batch.features.double())
