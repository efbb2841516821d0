"""The :class:`SymmetryReducer` interface: canonical reduced states of a constructive MDP.

A constructive policy builds a solution one action at a time. Many partial solutions are
equivalent — they leave the same remaining sub-problem (BQ-NCO's bisimulation quotient), or
differ by a rotation/reflection of the input (frame averaging). A reducer maps every state to one
canonical representative, the :class:`ReducedBatch` the policy sees, and turns an expert solution
into supervised samples of those reduced states.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import ClassVar, Generic, TypeVar

import numpy as np
import torch
from torch import Tensor

StateT = TypeVar("StateT")


@dataclass(frozen=True)
class ReducedBatch:
    """A batch of reduced states, padded to ``M`` nodes; the policy's only input.

    Attributes (``B`` batch, ``M`` nodes of the largest reduced instance, ``F`` features per node,
    ``A`` actions per node):

    * ``features``: ``(B, M, F)`` float, per-node features of the reduced instance, in a frame
      chosen by the reducer (e.g. coordinates rescaled to the remaining nodes).
    * ``node_type``: ``(B, M)`` long, the role of each node (``0`` ordinary; reducer-defined roles
      such as origin/destination); policies embed it instead of using positions.
    * ``action_mask``: ``(B, M, A)`` bool, ``True`` where an action is feasible; padding is ``False``.
    * ``node_index``: ``(B, M)`` long, each reduced node's index in the original instance (``-1`` for
      padding), so an action on a reduced node maps back to the original problem.
    * ``target``: ``(B, M, A)`` float or ``None``, the expert's action distribution (one-hot, or a
      normalised multi-label when several actions are optimal); set only for training samples.
    """

    features: Tensor
    node_type: Tensor
    action_mask: Tensor
    node_index: Tensor
    target: Tensor | None = None

    @property
    def node_mask(self) -> Tensor:
        """``(B, M)`` bool, ``True`` for real (non-padding) nodes."""
        return self.node_index >= 0

    def to(self, device: torch.device | str) -> ReducedBatch:
        """Move every tensor to ``device``."""
        moved = {
            f.name: (v.to(device) if isinstance(v := getattr(self, f.name), Tensor) else v)
            for f in fields(self)
        }
        return replace(self, **moved)


class SymmetryReducer(ABC, Generic[StateT]):
    """Maps states of a problem's constructive MDP to canonical :class:`ReducedBatch` es.

    Contract (checked by the registry-parametrized tests for every reducer):

    * two states that leave the same sub-problem reduce to *identical* batches (checked on the
      witnesses of :meth:`equivalent_partial`, where a reducer provides them);
    * rolling an expert solution through :meth:`init_state`/:meth:`step` reproduces the solution
      and its objective (:meth:`solutions`), and :meth:`state_from_partial` of any prefix of it
      reaches the same state as stepping;
    * every target produced by :meth:`expand` puts its mass on feasible actions only.

    ``StateT`` is the reducer's own batched state type (tensors on one device).
    """

    name: ClassVar[str]
    """Registry name, unique per problem."""
    problem: ClassVar[str]
    """Name of the problem whose MDP this reducer quotients."""
    num_features: ClassVar[int]
    """``F``: features per node in :attr:`ReducedBatch.features`."""
    num_node_types: ClassVar[int] = 1
    """Number of distinct ``node_type`` values."""
    actions_per_node: ClassVar[int] = 1
    """``A``: actions per node (CVRP: 2, reach the node directly or via the depot)."""
    supports_knn: ClassVar[bool] = True
    """Whether :meth:`reduce` honours ``knn`` (no notion of nearness, e.g. knapsack items: False)."""

    @abstractmethod
    def init_state(self, instances: Mapping[str, Tensor]) -> StateT:
        """The initial state of a batch of instances (tensors with leading ``B``)."""

    @abstractmethod
    def reduce(self, state: StateT, *, knn: int | None = None) -> ReducedBatch:
        """The canonical reduced form of ``state`` (``target`` unset).

        :param knn: keep only the ``knn`` candidate nodes nearest to the current position (plus the
            nodes the reduced instance cannot drop, such as a destination or depot), so that large
            instances decode at the cost of small ones; ``None`` keeps every node.
        """

    @abstractmethod
    def select(self, state: StateT, index: Tensor) -> StateT:
        """The states ``state[index]`` (``index``: ``(B',)`` long), e.g. to fork beams."""

    @abstractmethod
    def step(self, state: StateT, node: Tensor, action: Tensor) -> StateT:
        """Apply ``action`` (``(B,)`` long, in ``[0, A)``) on original node ``node`` (``(B,)`` long)."""

    @abstractmethod
    def done(self, state: StateT) -> Tensor:
        """``(B,)`` bool, ``True`` where the episode has ended."""

    @abstractmethod
    def solutions(self, state: StateT) -> list[np.ndarray]:
        """The solutions built so far, in the problem's solution format."""

    def packed(self, state: StateT) -> Tensor:
        """The solutions built so far as one ``(B, L)`` int64 tensor on the state's device,
        right-padded with ``-1`` (the problem's ``pack_solutions`` layout): what decoding hands
        to improvers and objectives. The default packs :meth:`solutions`; reducers override it
        to stay on the device."""
        sols = self.solutions(state)
        width = max((len(s) for s in sols), default=0)
        out = torch.full((len(sols), width), -1, dtype=torch.long)
        for i, s in enumerate(sols):
            out[i, : len(s)] = torch.as_tensor(np.asarray(s, dtype=np.int64))
        device = next(
            (v.device for v in getattr(state, "__dict__", {}).values() if isinstance(v, Tensor)),
            None,
        )
        return out if device is None else out.to(device)

    @abstractmethod
    def state_from_partial(self, instances: Mapping[str, Tensor], partial: Tensor) -> StateT:
        """The state reached after the partial solution ``partial``.

        :param partial: (B, L) long, each row a partial solution in the problem's solution format
            (a prefix of what :meth:`solutions` returns along an episode), right-padded with ``-1``;
            rows may have different lengths, and an all ``-1`` row is the initial state. Each
            reducer documents its format and the restrictions of its state (e.g. the same number of
            visited nodes across the batch), raising :class:`ValueError` when they do not hold.
        :return: the state that rolling the same actions through :meth:`init_state`/:meth:`step`
            reaches (identical :meth:`reduce` and :meth:`solutions`).
        """

    def equivalent_partial(
        self, instances: Mapping[str, Tensor], partial: Tensor, generator: torch.Generator
    ) -> tuple[dict[str, Tensor], Tensor]:
        """Another ``(instances', partial')`` that leaves the same remaining sub-problem as
        ``(instances, partial)``: a witness of the quotient, used by the contract tests.

        ``reduce(state_from_partial(instances', partial'))`` must equal
        ``reduce(state_from_partial(instances, partial))`` (features up to float rounding). The
        witness is drawn with ``generator`` only.

        :raises NotImplementedError: by default (the quotient test is then skipped for this
            reducer).
        """
        raise NotImplementedError(f"{type(self).__name__} has no equivalent_partial witness")

    @abstractmethod
    def trajectory(
        self, instances: Mapping[str, Tensor], solutions: Tensor
    ) -> tuple[Tensor, Tensor]:
        """The expert's actions: rolling ``solutions`` through :meth:`step` rebuilds them.

        :param solutions: (B, L) packed solutions (``Problem.pack_solutions``, ``-1`` padding).
        :return: ``(node, action)``, each (B, T) long; step ``t`` applies ``action[:, t]`` on original
            node ``node[:, t]``; entries past an instance's last action are ``-1``.
        """

    @abstractmethod
    def expand(
        self,
        instances: Mapping[str, Tensor],
        solutions: Tensor,
        *,
        generator: torch.Generator,
    ) -> ReducedBatch:
        """Turn expert solutions into training samples with targets.

        Every suffix of an optimal solution is an optimal solution of its reduced sub-problem, so one
        solved instance yields many samples; which suffixes are drawn is decided with ``generator``
        only (no global RNG).
        """
