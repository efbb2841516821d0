"""Decoding a policy through a reducer: greedy and beam search, batched, with optional kNN, and
test-time augmentation by a finite symmetry group of the problem.

Any method that pairs a :class:`~symco.core.policy.Policy` with a
:class:`~symco.core.reducer.SymmetryReducer` decodes with these (BQ-NCO does; an improver that
re-constructs parts of a solution reuses :func:`greedy` on states from ``state_from_partial``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from symco.core.errors import InvalidInstanceError
from symco.core.policy import Policy
from symco.core.problem import Problem
from symco.core.reducer import SymmetryReducer
from symco.core.symmetry.group import Group, element_size


def _choose(logits: Tensor, batch: Any) -> tuple[Tensor, Tensor]:
    """Original node and action of each row's best logit."""
    b, m, a = logits.shape
    flat = logits.reshape(b, m * a).argmax(dim=1)
    node = batch.node_index.gather(1, (flat // a)[:, None])[:, 0]
    return node, flat % a


def _best_per_owner(owner: Tensor, score: Tensor, owners: int, width: int) -> Tensor:
    """Rows of the ``width`` best finite scores of each owner, grouped by owner, best first.

    ``owner`` must be sorted (beams stay grouped by instance), so each owner's candidates are one
    contiguous run: they are laid out in a padded ``(owners, longest run)`` table and ranked with a
    single ``topk`` instead of a loop over instances."""
    counts = torch.bincount(owner, minlength=owners)  # (owners,)
    start = counts.cumsum(0) - counts
    pos = torch.arange(len(owner), device=owner.device) - start[owner]
    table = score.new_full((owners, int(counts.max())), -torch.inf)  # (owners, L)
    table[owner, pos] = score
    top, col = table.topk(min(width, table.shape[1]), dim=1)  # (owners, W)
    return (start[:, None] + col)[torch.isfinite(top)]  # row-major: grouped by owner


@torch.inference_mode()
def greedy(
    policy: Policy,
    reducer: SymmetryReducer[Any],
    instances: Mapping[str, Tensor],
    *,
    knn: int | None = None,
) -> list[np.ndarray]:
    """Follow the policy's most likely action until every episode ends."""
    return reducer.solutions(greedy_from(policy, reducer, reducer.init_state(instances), knn=knn))


@torch.inference_mode()
def greedy_from(
    policy: Policy, reducer: SymmetryReducer[Any], state: Any, *, knn: int | None = None
) -> Any:
    """Follow the policy's most likely action from ``state`` (e.g. one built by
    ``reducer.state_from_partial``) until every episode ends; returns the final state."""
    while not bool((done := reducer.done(state)).all()):
        batch = reducer.reduce(state, knn=knn)
        node, action = _choose(policy(batch), batch)
        # episodes end at different steps (OP, KP): finished rows get node -1, a no-op
        state = reducer.step(state, node.masked_fill(done, -1), action)
    return state


@torch.inference_mode()
def beam_search(
    policy: Policy,
    reducer: SymmetryReducer[Any],
    problem: Problem,
    instances: Mapping[str, Tensor],
    width: int,
    *,
    knn: int | None = None,
) -> list[np.ndarray]:
    """Keep the ``width`` most likely partial solutions per instance; return, per instance, the best
    final solution by the problem's objective among the beams *and* the greedy solution, so beam
    search never does worse than greedy with the same model."""
    first = next(iter(instances.values()))
    b = first.shape[0]
    state = reducer.init_state(instances)
    owner = torch.arange(b, device=first.device)  # instance of each beam
    score = torch.zeros(b, device=first.device)  # (beams,) log-probabilities
    while not bool((done := reducer.done(state)).all()):
        batch = reducer.reduce(state, knn=knn)
        logp = torch.log_softmax(policy(batch).flatten(1), dim=1)  # (beams, M*A)
        # a finished beam survives as one candidate with its score unchanged (node -1, a no-op)
        stay = torch.full_like(logp[0], -torch.inf)
        stay[0] = 0.0
        logp = torch.where(done[:, None], stay, logp)
        a = batch.action_mask.shape[-1]
        k = min(width, logp.shape[1])
        top, idx = (score[:, None] + logp).topk(k, dim=1)  # (beams, k)
        cand_owner = owner[:, None].expand(-1, k).reshape(-1)
        cand_score, cand_idx = top.reshape(-1), idx.reshape(-1)
        cand_beam = torch.arange(len(owner), device=first.device)[:, None].expand(-1, k).reshape(-1)
        sel = _best_per_owner(cand_owner, cand_score, b, width)
        beam = cand_beam[sel]
        node = batch.node_index[beam].gather(1, (cand_idx[sel] // a)[:, None])[:, 0]
        node = node.masked_fill(done[beam], -1)
        state = reducer.step(reducer.select(state, beam), node, cand_idx[sel] % a)
        owner, score = cand_owner[sel], cand_score[sel]
    finals = reducer.solutions(state)
    greedy_sols = greedy(policy, reducer, instances, knn=knn)
    np_inst = {k: v.cpu().numpy() for k, v in instances.items()}
    best: list[np.ndarray] = []
    owners = owner.cpu().numpy()
    for i in range(b):
        inst_i = problem.select(np_inst, i)
        cands = [greedy_sols[i]] + [finals[j] for j in np.nonzero(owners == i)[0]]
        values = problem.objective(
            {k: np.repeat(v, len(cands), 0) for k, v in inst_i.items()}, cands
        )
        pick = int(np.argmin(values) if problem.sense == "min" else np.argmax(values))
        best.append(cands[pick])
    return best


Decoder = Callable[[Mapping[str, Tensor]], list[np.ndarray]]
"""A batch of instances in, one solution per instance out (greedy, beam, ...)."""


def augmentation_key(problem: Problem, group: Group) -> str:
    """The instance array ``group`` acts on, if ``problem``'s objective is invariant under it.

    :raises InvalidInstanceError: the problem declares no invariance to ``group``.
    """
    key = problem.invariances.get(group.name)
    if key is None or group.elements() is None:
        declared = ", ".join(problem.invariances) or "none"
        raise InvalidInstanceError(
            f"--augment: {problem.name}'s objective is not declared invariant under "
            f"{group.name} (its invariances: {declared})"
        )
    return key


def augment(problem: Problem, group: Group, instances: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Every image of every instance under the finite ``group``, element-major: row
    ``k * B + b`` is element ``k`` applied to instance ``b`` (element 0 is the identity).

    The solutions of an image are solutions of the original (the group moves coordinates, not
    node labels) with the same objective value, by the declared invariance.
    """
    key = augmentation_key(problem, group)
    elements = group.elements()
    assert elements is not None
    first = instances[key]
    b = first.shape[0]
    k = element_size(elements)
    out = {name: v.repeat(k, *([1] * (v.dim() - 1))) for name, v in instances.items()}  # (K*B, ...)
    index = torch.arange(k).repeat_interleave(b)  # (K*B,) element per row (elements live on CPU)
    g = group.select(elements, index)
    out[key] = group.act(g, out[key].double()).to(first.dtype)
    return out


def best_of_images(
    problem: Problem,
    instances: Mapping[str, Tensor],
    solutions: list[np.ndarray],
    images: int,
) -> list[np.ndarray]:
    """Per instance, the best of its ``images`` solutions (element-major rows, see :func:`augment`)
    by the problem's objective on the original instance."""
    np_inst = {k: v.cpu().numpy() for k, v in instances.items()}
    b = next(iter(np_inst.values())).shape[0]
    tiled = {k: np.concatenate([v] * images) for k, v in np_inst.items()}
    values = problem.objective(tiled, solutions).reshape(images, b)  # (K, B)
    pick = values.argmin(axis=0) if problem.sense == "min" else values.argmax(axis=0)
    return [solutions[int(pick[i]) * b + i] for i in range(b)]


def decode_augmented(
    decode: Decoder, problem: Problem, group: Group, instances: Mapping[str, Tensor]
) -> list[np.ndarray]:
    """Decode all images of every instance in one batch and keep each instance's best
    (test-time augmentation; POMO's x8 augmentation is ``group = square-dihedral``)."""
    images = augment(problem, group, instances)  # checks the group is finite
    elements = group.elements()
    assert elements is not None
    return best_of_images(problem, instances, decode(images), element_size(elements))
