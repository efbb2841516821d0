"""The problem-independent half of random re-construction: decode proposals, keep the better.

A problem's RRC (:mod:`symco.plugins.rrc.tsp`, :mod:`symco.plugins.rrc.cvrp`) proposes ``R``
sub-problems per step — each a small instance plus a partial solution, so that the reducer's
``state_from_partial`` gives exactly the reduced state of the part to re-build (the bisimulation
quotient: the reduced state only depends on what is left, not on how the rest was built) — and
splices the accepted re-constructions back. This module does what lies between: decode every
proposal (and its images under a finite symmetry group), cost it with the problem's objective on
the small instance, keep the best view, and flag where it beats the current part.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor

from symco.core.decoding import augmentation_key, greedy_from, in_float64
from symco.core.improver import Improver
from symco.core.policy import Policy
from symco.core.problem import Problem
from symco.core.reducer import SymmetryReducer
from symco.core.symmetry.group import Group, element_size

StateT = TypeVar("StateT")

REL_TOL = 1e-9
"""A re-construction is kept only if shorter by more than this fraction (no float-noise churn)."""


@dataclass(frozen=True)
class Proposal:
    """``R`` sub-problems to re-build.

    ``sub``: a batch of ``R`` small instances of the problem (tensors with leading ``R``);
    ``partial``: ``(R, L)`` long, the partial solution of each (``state_from_partial`` format)
    whose remaining sub-problem is the part to re-build; ``current``: ``(R, L')`` long, the
    part as it is now, as a complete solution of the small instance (``-1`` padded);
    ``owner``: ``(R,)`` long, the instance each proposal belongs to. Problem-specific
    bookkeeping for the splice goes in ``extra``.
    """

    sub: dict[str, Tensor]
    partial: Tensor
    current: Tensor
    owner: Tensor
    extra: dict[str, Tensor]


@dataclass(frozen=True)
class Rebuilt:
    """The best re-construction of each proposal: ``solution`` ``(R, L'')`` long (``-1``
    padded, a complete solution of the small instance), ``cost`` and ``current_cost`` ``(R,)``
    float64, ``better`` ``(R,)`` bool (shorter by more than :data:`REL_TOL`)."""

    solution: Tensor
    cost: Tensor
    current_cost: Tensor
    better: Tensor


class Reconstruction(Improver[StateT]):
    """An improver that re-builds proposed parts with the policy (greedy, optionally over every
    image of a finite symmetry group of the problem) and keeps what is shorter.

    Subclasses implement :meth:`propose` and :meth:`splice`, plus the state machine's
    :meth:`start`, :meth:`costs` and :meth:`solutions`.
    """

    needs_policy: ClassVar[bool] = True
    # `symco evaluate` decodes each sub-problem in a random image under the problem's view group:
    # d4 images of every segment measured slower for the same gap than more segments; one random
    # image costs nothing
    takes_views: ClassVar[bool] = True

    def __init__(
        self,
        problem: Problem,
        policy: Policy | None = None,
        reducer: SymmetryReducer[Any] | None = None,
        *,
        knn: int | None = None,
        augment: Group | None = None,
        views: Group | None = None,
    ) -> None:
        """:param augment: also decode every image of each sub-problem under this finite group
            (e.g. the square's dihedral group) and keep the best, as ``--augment`` does for the
            construction; ``None`` decodes each sub-problem once.
        :param views: decode each sub-problem once, in the image under a random element of
            this group (drawn per proposal with the step's generator). The policy is not
            exactly invariant under the group, so the same segment gets a different greedy
            re-construction each time it comes up, at no extra cost (``bq-tsp``, TSP100, 5 s:
            mean gap 0.41% -> 0.36%, median 0.26% -> 0.16%; it does not free every stalled
            tour, see ``benchmarks/improve.py --stall``). Exclusive with ``augment``.
        """
        super().__init__(problem, policy, reducer, knn=knn)
        if augment is not None and views is not None:
            raise ValueError(
                "augment (every image) and views (one random image) exclude each other"
            )
        for group in (augment, views):
            if group is not None:
                augmentation_key(problem, group)  # the objective must be invariant under it
        self.augment, self.views = augment, views

    @abstractmethod
    def propose(self, state: StateT, generator: torch.Generator) -> Proposal:
        """Draw this step's sub-problems (with ``generator`` only)."""

    @abstractmethod
    def splice(self, state: StateT, proposal: Proposal, rebuilt: Rebuilt) -> StateT:
        """The state with every ``rebuilt.better`` re-construction put in place."""

    def step(self, state: StateT, generator: torch.Generator) -> StateT:
        proposal = self.propose(state, generator)
        if proposal.owner.numel() == 0:
            return state
        return self.splice(state, proposal, self.rebuild(proposal, generator))

    def rebuild(self, proposal: Proposal, generator: torch.Generator | None = None) -> Rebuilt:
        """Greedily re-decode every proposal (every image of it under :attr:`augment`, or one
        random image under :attr:`views`, drawn with ``generator``), cost the results on the
        small instances in float64 and keep each proposal's best."""
        assert self.policy is not None and self.reducer is not None
        sub, partial = proposal.sub, proposal.partial
        images, k = sub, 1
        if self.views is not None and generator is not None:
            key = augmentation_key(self.prob, self.views)
            g = self.views.sample(partial.shape[0], generator, device=partial.device)  # (R,)
            images = dict(sub)
            images[key] = self.views.act(g, sub[key].double()).to(sub[key].dtype)
        if self.augment is not None:
            from symco.core.decoding import augment as augment_images

            images = augment_images(self.prob, self.augment, sub)  # element-major (K*R, ...)
            elements = self.augment.elements()
            assert elements is not None
            k = element_size(elements)
            partial = partial.repeat(k, 1)
        state = self.reducer.state_from_partial(images, partial)
        size = self.prob.size({key: v[:1] for key, v in sub.items()})
        knn = self.knn if self.knn is not None and size > self.knn else None
        final = greedy_from(self.policy, self.reducer, state, knn=knn)
        solved = self.reducer.packed(final).to(partial.device)  # (K*R, L'')
        exact = in_float64(sub)
        tiled = {key: v.repeat(k, *([1] * (v.dim() - 1))) for key, v in exact.items()}
        cost = self.prob.objective_torch(tiled, solved).view(k, -1)  # (K, R)
        best, view = cost.min(dim=0)  # (R,) each
        r = best.shape[0]
        solution = solved.view(k, r, -1)[view, torch.arange(r, device=view.device)]  # (R, L'')
        current = self.prob.objective_torch(exact, proposal.current)  # (R,)
        better = best < current - REL_TOL * current.abs()
        return Rebuilt(solution, best, current, better)


def rows_of(instances: Mapping[str, Tensor], owner: Tensor, skip: str) -> dict[str, Tensor]:
    """Every array of ``instances`` but ``skip``, indexed by ``owner`` (``(R,)``): the per-instance
    fields (capacity, ``euc_2d``) of the small instances built from the rows ``owner``."""
    return {key: v[owner] for key, v in instances.items() if key != skip}


__all__ = ["Proposal", "Rebuilt", "Reconstruction", "in_float64", "rows_of"]
