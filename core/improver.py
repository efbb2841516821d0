"""The :class:`Improver` interface: anytime improvement of complete solutions at inference.

A constructive policy gives one solution per instance in one pass; an improver spends more time
to make it better — a local search (2-opt), or a learned re-construction of parts of it with the
same policy (random re-construction, :mod:`symco.plugins.rrc`). Improvers are registered per
problem (kind ``improver``) and run by ``symco evaluate --improve NAME``.

An improver is a small state machine, driven by :meth:`Improver.improve`::

    state = improver.start(instances, solutions)       # batched, on the tensors' device
    while budget left and not improver.converged(state):
        state = improver.step(state, generator)         # never makes a solution worse
    solutions = improver.solutions(state)

so every improver gets the same stopping rules (steps, wall-clock time) and the same anytime
trace for free. Solutions stay one packed ``(B, L)`` int64 tensor padded with ``-1`` (the
problem's ``pack_solutions`` layout) from the decoder through every improver to the objective;
a :class:`Chain` keeps each member's state across rounds and hands it the other members'
solutions with :meth:`Improver.restart`, so nothing is rebuilt from scratch every round.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from symco.core.policy import Policy
    from symco.core.problem import Problem
    from symco.core.reducer import SymmetryReducer
    from symco.core.symmetry.group import Group

StateT = TypeVar("StateT")


@dataclass
class Improved:
    """What :meth:`Improver.improve` returns for a batch of ``B`` instances.

    ``solutions``: the improved solutions, packed ``(B, L)`` int64 (``-1`` padded);
    ``costs`` / ``start_costs``: ``(B,)``
    objective values after and before; ``steps``: steps run; ``seconds``: wall time spent;
    ``trace``: ``(elapsed seconds, (B,) costs)`` after the start and after every step, the
    anytime curve of the batch.
    """

    solutions: Tensor
    costs: np.ndarray
    start_costs: np.ndarray
    steps: int
    seconds: float
    trace: list[tuple[float, np.ndarray]] = field(default_factory=list)


class Improver(ABC, Generic[StateT]):
    """Improves a batch of complete solutions of one problem, one :meth:`step` at a time.

    Contract (checked by the registry-parametrized tests for every improver): a step never makes
    a solution worse by the problem's objective, every intermediate solution is feasible, and the
    same ``generator`` seed gives the same result for the same number of steps.

    Every improver is built as ``cls(problem, policy=..., reducer=..., knn=...)``: a learned one
    (:attr:`needs_policy`) re-uses the model's policy and reducer; a local search ignores them.
    Class-specific options are keyword arguments with defaults.
    """

    name: ClassVar[str]
    """Registry name, unique per problem."""
    problem: ClassVar[str]
    """Name of the problem whose solutions this improver improves."""
    needs_policy: ClassVar[bool] = False
    """Whether it needs a trained policy and its reducer (``symco evaluate`` passes the model's)."""
    takes_views: ClassVar[bool] = False
    """Whether it decodes sub-problems in random images of a finite group (``views=``): then
    :meth:`build` hands it the problem's view group."""
    local_search: ClassVar[bool] = False
    """Whether it always reaches :meth:`converged` (a local optimum) in finitely many steps, so
    it may run without a step or time limit (2-opt); a randomized search never does."""

    def __init__(
        self,
        problem: Problem,
        policy: Policy | None = None,
        reducer: SymmetryReducer[Any] | None = None,
        *,
        knn: int | None = None,
    ) -> None:
        """:param problem: the problem instance (its objective decides what is better).
        :param policy: a trained policy, for improvers that re-construct with it.
        :param reducer: the policy's reducer (its ``state_from_partial`` builds sub-problems).
        :param knn: restrict the policy's views of large sub-problems to the ``knn`` nearest nodes.
        :raises ValueError: a learned improver without a policy and reducer.
        """
        if self.needs_policy and (policy is None or reducer is None):
            raise ValueError(f"improver {self.name!r} re-constructs with a policy and its reducer")
        self.prob = problem
        self.policy = policy
        self.reducer = reducer
        self.knn = knn

    # -- the state machine -----------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        problem: Problem,
        *,
        policy: Policy | None = None,
        reducer: SymmetryReducer[Any] | None = None,
        knn: int | None = None,
        views: Group | None = None,
    ) -> Improver[Any]:
        """The improver as ``symco evaluate --improve`` builds it for a model: a learned one
        (:attr:`needs_policy`) gets the model's policy and reducer; ``views`` (a finite group the
        problem's objective is invariant under) goes to improvers that :attr:`takes_views`."""
        extra: dict[str, Any] = {"views": views} if cls.takes_views else {}
        if cls.needs_policy:
            return cls(problem, policy, reducer, knn=knn, **extra)
        return cls(problem, knn=knn, **extra)

    @abstractmethod
    def start(self, instances: Mapping[str, Tensor], solutions: Tensor) -> StateT:
        """The improver's state for the packed ``solutions`` ``(B, L)`` of ``instances`` (tensors
        with leading ``B``)."""

    def restart(self, state: StateT, instances: Mapping[str, Tensor], solutions: Tensor) -> StateT:
        """A state of the same instances as ``state`` holding other ``solutions`` (what a
        :class:`Chain` hands over between members). The default calls :meth:`start`; an improver
        that caches per-instance work (distances, neighbour lists) overrides it to keep that."""
        return self.start(instances, solutions)

    @abstractmethod
    def step(self, state: StateT, generator: torch.Generator) -> StateT:
        """One improvement step over the whole batch; solutions never get worse."""

    @abstractmethod
    def costs(self, state: StateT) -> Tensor:
        """``(B,)`` current objective values."""

    @abstractmethod
    def solutions(self, state: StateT) -> Tensor:
        """The current solutions, packed ``(B, L)`` int64 padded with ``-1``."""

    def converged(self, state: StateT) -> bool:
        """``True`` when no further step can change anything (a local optimum); default never."""
        return False

    @property
    def stops(self) -> bool:
        """Whether it reaches :meth:`converged` on its own (:attr:`local_search`)."""
        return self.local_search

    def memory_bytes(self, batch: int, nodes: int) -> int:
        """Peak working memory in bytes of improving ``batch`` solutions of ``nodes``-node
        instances: what ``symco evaluate`` checks against the memory available before it
        decodes anything. The default, 0, is for improvers whose memory is negligible beside the
        decoder's (linear in ``nodes``); one that holds dense ``(B, N, N)`` tensors says so."""
        return 0

    # -- the driver ------------------------------------------------------------------------------

    @torch.inference_mode()
    def improve(
        self,
        instances: Mapping[str, Tensor],
        solutions: Tensor,
        *,
        generator: torch.Generator,
        steps: int | None = None,
        time_limit: float | None = None,
    ) -> Improved:
        """Run steps until ``steps`` are done, ``time_limit`` seconds (wall clock, for the whole
        batch) have passed, or :meth:`converged` — whichever comes first.

        The time limit is checked before each step, so it is exceeded by at most one step; with
        neither limit the improver runs to convergence (a local search), or raises for one that
        never converges.

        :raises ValueError: a non-positive ``steps`` or ``time_limit``, or no limit for an
            improver that does not converge on its own.
        """
        if steps is not None and steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if time_limit is not None and not time_limit > 0:
            raise ValueError(f"time_limit must be > 0 seconds, got {time_limit}")
        if steps is None and time_limit is None and not self.stops:
            raise ValueError(f"improver {self.name!r} needs a step count or a time limit")
        t0 = time.perf_counter()
        state = self.start(instances, solutions)
        start_costs = self.costs(state).double().cpu().numpy()
        trace = [(time.perf_counter() - t0, start_costs)]
        done = 0
        while (steps is None or done < steps) and not self.converged(state):
            if time_limit is not None and time.perf_counter() - t0 >= time_limit:
                break
            state = self.step(state, generator)
            done += 1
            trace.append((time.perf_counter() - t0, self.costs(state).double().cpu().numpy()))
        return Improved(
            self.solutions(state), trace[-1][1], start_costs, done, time.perf_counter() - t0, trace
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(problem={self.problem!r}, knn={self.knn})"


@dataclass(frozen=True)
class ChainState:
    """The instances, each member's own state (kept across rounds), and the current packed
    solutions and ``(B,)`` costs of a :class:`Chain`."""

    instances: Mapping[str, Tensor]
    states: tuple[Any, ...]
    solutions: Tensor
    cost: Tensor
    changed: bool = True


class Chain(Improver[ChainState]):
    """Several improvers of one problem taking turns (``symco evaluate --improve rrc+2opt``).

    One step runs one step of each member in order; a member that stops on its own (a local
    search with :meth:`Improver.converged`) runs until it does, so ``rrc+2opt`` re-constructs
    segments and then brings every tour to a 2-opt local optimum. Each member keeps its state
    from round to round and takes the previous member's solutions through
    :meth:`Improver.restart` (2-opt keeps its distance matrix). Each member never makes a
    solution worse, so neither does the chain.
    """

    name: ClassVar[str] = "chain"
    problem: ClassVar[str] = ""

    def __init__(self, members: list[Improver[Any]]) -> None:
        """:param members: built improvers, all of the same problem, in the order they run."""
        if not members:
            raise ValueError("a chain needs at least one improver")
        if len({m.problem for m in members}) > 1:
            raise ValueError(f"chained improvers of different problems: {members}")
        first = members[0]
        super().__init__(first.prob, first.policy, first.reducer, knn=first.knn)
        self.members = members

    def start(self, instances: Mapping[str, Tensor], solutions: Tensor) -> ChainState:
        states = tuple(m.start(instances, solutions) for m in self.members)
        first = self.members[0]
        return ChainState(instances, states, solutions, first.costs(states[0]))

    def step(self, state: ChainState, generator: torch.Generator) -> ChainState:
        sols, cost = state.solutions, state.cost
        states = []
        for m, s in zip(self.members, state.states):
            if len(self.members) > 1:  # the solutions come from the member before
                s = m.restart(s, state.instances, sols)
            s = m.step(s, generator)
            if m.stops:
                while not m.converged(s):
                    s = m.step(s, generator)
            sols, cost = m.solutions(s), m.costs(s)
            states.append(s)
        changed = bool((cost < state.cost).any())
        return ChainState(state.instances, tuple(states), sols, cost, changed)

    def costs(self, state: ChainState) -> Tensor:
        return state.cost

    def solutions(self, state: ChainState) -> Tensor:
        return state.solutions

    def converged(self, state: ChainState) -> bool:
        """Only a chain of local searches converges: when a whole round changed nothing."""
        return self.stops and not state.changed

    @property
    def stops(self) -> bool:
        return all(m.stops for m in self.members)

    def memory_bytes(self, batch: int, nodes: int) -> int:
        """The largest member's: members step one at a time."""
        return max(m.memory_bytes(batch, nodes) for m in self.members)

    def __repr__(self) -> str:
        return "Chain(" + ", ".join(repr(m) for m in self.members) + ")"
