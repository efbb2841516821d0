"""Decoding a policy through a reducer: greedy and beam search, batched, with optional kNN, and
test-time augmentation by a finite symmetry group of the problem.

Any method that pairs a :class:`~symco.core.policy.Policy` with a
:class:`~symco.core.reducer.SymmetryReducer` decodes with these (BQ-NCO does; an improver that
re-constructs parts of a solution reuses :func:`greedy` on states from ``state_from_partial``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from symco.core.errors import InvalidInstanceError
from symco.core.policy import Policy
from symco.core.problem import Problem
from symco.core.reducer import SymmetryReducer
from symco.core.symmetry.group import Group, element_size


def greedy_choice(logits: Tensor, batch: Any) -> tuple[Tensor, Tensor]:
    """Original node and action of each row's best logit: ``logits`` ``(B, M, A)`` of the
    policy on the reduced ``batch`` (whose ``node_index`` maps its ``M`` nodes to the original
    ones) -> ``(B,)`` node and ``(B,)`` action, what :func:`greedy_from` steps with."""
    b, m, a = logits.shape
    flat = logits.reshape(b, m * a).argmax(dim=1)
    node = batch.node_index.gather(1, (flat // a)[:, None])[:, 0]
    return node, flat % a


def _runs_table(owner: Tensor, score: Tensor, owners: int, fill: float) -> tuple[Tensor, Tensor]:
    """``score`` laid out as a padded ``(owners, longest run)`` table (``fill`` where a run is
    shorter) and the first row of each owner's run; ``owner`` ``(R,)`` must be sorted, so each
    owner's rows are one contiguous run — ranked per owner with one tensor op, no loop."""
    counts = torch.bincount(owner, minlength=owners)  # (owners,)
    start = counts.cumsum(0) - counts
    pos = torch.arange(len(owner), device=owner.device) - start[owner]
    table = score.new_full((owners, int(counts.max())), fill)  # (owners, L)
    table[owner, pos] = score
    return table, start


def _best_per_owner(owner: Tensor, score: Tensor, owners: int, width: int) -> Tensor:
    """Rows of the ``width`` best finite scores of each owner, grouped by owner, best first
    (``owner`` sorted: beams stay grouped by instance)."""
    table, start = _runs_table(owner, score, owners, -torch.inf)
    top, col = table.topk(min(width, table.shape[1]), dim=1)  # (owners, W)
    return (start[:, None] + col)[torch.isfinite(top)]  # row-major: grouped by owner


@torch.inference_mode()
def greedy(
    policy: Policy,
    reducer: SymmetryReducer[Any],
    instances: Mapping[str, Tensor],
    *,
    knn: int | None = None,
    on_step: Callable[[], None] | None = None,
) -> Tensor:
    """Follow the policy's most likely action until every episode ends; returns the solutions
    packed, ``(B, L)`` int64 right-padded with ``-1`` (:meth:`SymmetryReducer.packed`).
    ``on_step`` is called after every step (progress inside one long decode)."""
    state = greedy_from(policy, reducer, reducer.init_state(instances), knn=knn, on_step=on_step)
    return reducer.packed(state)


@torch.inference_mode()
def greedy_from(
    policy: Policy,
    reducer: SymmetryReducer[Any],
    state: Any,
    *,
    knn: int | None = None,
    on_step: Callable[[], None] | None = None,
) -> Any:
    """Follow the policy's most likely action from ``state`` (e.g. one built by
    ``reducer.state_from_partial``) until every episode ends, calling ``on_step`` after every
    step; returns the final state."""
    while not bool((done := reducer.done(state)).all()):
        batch = reducer.reduce(state, knn=knn)
        node, action = greedy_choice(policy(batch), batch)
        # episodes end at different steps (OP, KP): finished rows get node -1, a no-op
        state = reducer.step(state, node.masked_fill(done, -1), action)
        if on_step is not None:
            on_step()
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
    on_step: Callable[[], None] | None = None,
) -> Tensor:
    """Keep the ``width`` most likely partial solutions per instance; return, per instance, the best
    final solution by the problem's objective among the beams *and* the greedy solution, so beam
    search never does worse than greedy with the same model (the first best on ties, the greedy
    solution first). Solutions are packed, ``(B, L)`` int64 padded with ``-1``. ``on_step`` is
    called after every step of the beams (the greedy pass after them, ``1/width`` of the rows,
    reports none)."""
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
        if on_step is not None:
            on_step()
    finals = reducer.packed(state)  # (beams, L)
    greedy_sols = greedy(policy, reducer, instances, knn=knn)  # (B, L')
    width_l = max(finals.shape[1], greedy_sols.shape[1])
    cands = torch.cat([pad_packed(greedy_sols, width_l), pad_packed(finals, width_l)])
    owners = torch.cat([torch.arange(b, device=owner.device), owner])  # (B + beams,)
    order = torch.sort(owners, stable=True).indices  # per instance: greedy first, then beams
    values = problem.objective_torch(
        select_rows(in_float64(instances), owners[order]), cands[order]
    )
    return cands[order][best_per_group(owners[order], values, b, problem.sense)]


def pad_packed(solutions: Tensor, width: int) -> Tensor:
    """``(B, L)`` packed solutions right-padded with ``-1`` to ``(B, width)``."""
    extra = width - solutions.shape[1]
    return solutions if extra <= 0 else torch.nn.functional.pad(solutions, (0, extra), value=-1)


def select_rows(instances: Mapping[str, Tensor], index: Tensor) -> dict[str, Tensor]:
    """Every array of ``instances`` indexed by ``index`` (``(R,)`` long) along the batch axis."""
    return {k: v[index.to(v.device)] for k, v in instances.items()}


def in_float64(instances: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``instances`` with every floating array in float64: objective values that decide between
    candidate solutions must not round differently from the problem's NumPy objective."""
    return {k: (v.double() if v.is_floating_point() else v) for k, v in instances.items()}


TIE_TOL = 1e-12
"""Relative difference under which two objective values are a tie (the first candidate wins)."""


def best_per_group(group: Tensor, values: Tensor, groups: int, sense: str) -> Tensor:
    """Row of each group's best value (the first on ties), ``(groups,)``; ``group`` ``(R,)`` must
    be sorted, every group non-empty; ``sense`` is the problem's ``"min"`` or ``"max"``."""
    score = values if sense == "min" else -values
    table, start = _runs_table(group, score, groups, torch.inf)  # (G, longest run)
    # equal up to rounding is a tie (the same routes in another order sum in another order)
    low = table.min(dim=1, keepdim=True).values
    tied = table <= low + TIE_TOL * low.abs()
    return start + tied.long().argmax(dim=1)  # the first of the tied best


Decode = Callable[[Mapping[str, Tensor]], Tensor]
"""A batch of instances in, one packed solution per instance out: ``(B, L)`` int64, ``-1``
padded (greedy, beam, ...)."""

StepDecode = Callable[[Mapping[str, Tensor], Callable[[], None]], Tensor]
"""A :data:`Decode` that also takes ``on_step``, called after every decoding step."""


@dataclass(frozen=True)
class Decoder:
    """How a model builds solutions, as the model declares it (``module.decoder(...)``, the way
    it declares ``symmetries()``): what ``symco evaluate`` runs for any constructive method.

    :param run: instances (tensors with leading ``B``, on the model's device) -> packed solutions
        ``(B, L)`` int64 padded with ``-1``.
    :param label: the decoding's name in tables and JSONL (``"greedy"``, ``"beam:16 knn100"``).
    :param knn: the candidate-list size the label names, if any: tables drop the tag for
        instances of at most ``knn`` nodes, where it changed nothing.
    :param rows_per_instance: how many batch rows one instance is counted as (beam search: 8,
        whatever its width), so the evaluation batches ``batch_size // rows_per_instance``
        instances.
    :param memory: ``(B, N)`` -> bytes of working memory to decode ``B`` instances of ``N``
        nodes in one ``run`` (``None``: unknown); ``symco evaluate`` refuses a run that would
        not fit before it starts.
    :param run_steps: ``run`` that also calls ``on_step()`` after every decoding step (about one
        per node), so a decode of one large instance can show its progress; ``None``: no steps to
        report.
    """

    run: Decode
    label: str
    knn: int | None = None
    rows_per_instance: int = 1
    memory: Callable[[int, int], int | None] | None = None
    run_steps: StepDecode | None = None


def augmentation_key(problem: Problem, group: Group) -> str:
    """The instance array ``group`` acts on, if ``problem``'s objective is invariant under it.

    :raises InvalidInstanceError: the problem declares no invariance to ``group``.
    """
    key = problem.invariances.get(group.name)
    if key is None or group.elements() is None:
        declared = ", ".join(problem.invariances) or "none"
        raise InvalidInstanceError(
            f"{problem.name}'s objective is not declared invariant under "
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
    problem: Problem, instances: Mapping[str, Tensor], solutions: Tensor, images: int
) -> Tensor:
    """Per instance, the best of its ``images`` packed solutions (element-major rows, see
    :func:`augment`; the first best on ties, so the identity image wins them) by the problem's
    objective on the original instance, in float64."""
    b = next(iter(instances.values())).shape[0]
    tiled = {k: v.repeat(images, *([1] * (v.dim() - 1))) for k, v in in_float64(instances).items()}
    values = problem.objective_torch(tiled, solutions)  # (K*B,) element-major
    owner = torch.arange(b, device=values.device).repeat(images)  # (K*B,) instance of each row
    order = torch.sort(owner, stable=True).indices  # per instance: its images, identity first
    return solutions[order[best_per_group(owner[order], values[order], b, problem.sense)]]


def decode_augmented(
    decode: Decode, problem: Problem, group: Group, instances: Mapping[str, Tensor]
) -> Tensor:
    """Decode all images of every instance in one batch and keep each instance's best
    (test-time augmentation; POMO's x8 augmentation is ``group = square-dihedral``)."""
    images = augment(problem, group, instances)  # checks the group is finite
    elements = group.elements()
    assert elements is not None
    return best_of_images(problem, instances, decode(images), element_size(elements))


def parse_decode(text: str) -> tuple[str, int]:
    """``"greedy"`` -> ``("greedy", 1)``; ``"beam:W"`` -> ``("beam", W)``.

    :raises ValueError: anything else.
    """
    if text == "greedy":
        return "greedy", 1
    kind, _, width = text.partition(":")
    if kind == "beam" and width.isdigit() and int(width) >= 1:
        return "beam", int(width)
    raise ValueError(f"decode must be 'greedy' or 'beam:W' with W >= 1, got {text!r}")


STATE_BYTES = 64
"""Bytes per row and node of a reducer's state and reduced batch beside the policy's working
memory (coordinates, visited flags, the partial solution, sort indices, kNN distances)."""
FIXED_BYTES = 8 * 2**20
"""Working memory of a decode that grows with neither (kernels' scratch buffers, the allocator's
slack): a whole greedy decode of 500 nodes peaks ~7 MiB above its per-row estimate."""


def policy_decoder(
    policy: Policy,
    reducer: SymmetryReducer[Any],
    problem: Problem,
    decode: str = "greedy",
    *,
    knn: int | None = None,
) -> Decoder:
    """The :class:`Decoder` of a policy decoded through its reducer: :func:`greedy` or
    :func:`beam_search` (``decode``: ``"greedy"`` or ``"beam:W"``), with ``knn`` candidate lists
    where the reducer supports them (the label names ``knn`` only then).

    :raises ValueError: an unknown ``decode``.
    """
    kind, width = parse_decode(decode)
    knn = knn if reducer.supports_knn else None

    def run_steps(instances: Mapping[str, Tensor], on_step: Callable[[], None] | None) -> Tensor:
        if kind == "greedy":
            return greedy(policy, reducer, instances, knn=knn, on_step=on_step)
        return beam_search(policy, reducer, problem, instances, width, knn=knn, on_step=on_step)

    def memory(batch: int, nodes: int) -> int | None:
        # a step sees the origin, the (K nearest) remaining nodes and the destination or depot
        seen = (min(nodes, knn) if knn else nodes) + 2
        rows = batch * width  # greedy: width 1
        step = policy.forward_bytes(rows, seen)
        return None if step is None else step + STATE_BYTES * rows * nodes + FIXED_BYTES

    label = decode + (f" knn{knn}" if knn else "")
    # beam search carries W beams per instance (8 as before: the batch shrinks, not W-fold)
    return Decoder(
        lambda instances: run_steps(instances, None),
        label,
        knn,
        1 if kind == "greedy" else 8,
        memory=memory,
        run_steps=run_steps,
    )
