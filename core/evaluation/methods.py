"""Running methods on evaluation items: a model's declared decoder (with test-time augmentation
and improvement), and registered solvers (references, baselines).

Solutions stay packed ``(B, L)`` int64 tensors from the decoder through the improvers to the
objective; they become the problem's NumPy format only in :attr:`Item.results`, which is what
tables, JSONL files and plots read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from torch import Tensor

from symco.core.decoding import Decoder, decode_augmented

if TYPE_CHECKING:
    from symco.core.cluster import Cluster
from symco.core.evaluation.inputs import Item
from symco.core.improver import Chain, Improved, Improver
from symco.core.problem import Instances, Problem
from symco.core.registry import Registry
from symco.core.solver import Solver
from symco.core.symmetry.group import Group, element_size

__all__ = [
    "EvaluatedModel",
    "Improvement",
    "decode_items",
    "improvers_for",
    "instances_per_batch",
    "run_methods",
    "solve_items",
    "stage_labels",
    "view_group",
]


class EvaluatedModel(Protocol):
    """What ``symco evaluate`` needs of a model (a registered module): its ``problem`` and a
    declared :meth:`decoder`, the way a model declares ``symmetries()``. A model whose decoding
    is a policy through a reducer also has ``policy`` and ``reducer``, which learned improvers
    (``--improve rrc``) re-construct with."""

    problem: Problem

    def decoder(self, decode: str = "greedy", *, knn: int | None = None) -> Decoder: ...


@dataclass
class Improvement:
    """``--improve``: the improvers (taking turns, as a :class:`~symco.core.improver.Chain`), the
    step limit per batch, the time limit in seconds per instance (construction included) and the
    seed of the improvers' generator."""

    members: list[Improver[Any]]
    steps: int | None = None
    time_limit: float | None = None
    seed: int = 0

    @property
    def improver(self) -> Improver[Any]:
        return self.members[0] if len(self.members) == 1 else Chain(self.members)

    @property
    def label(self) -> str:
        return " +" + "+".join(m.name for m in self.members)

    def run(
        self, instances: Mapping[str, Tensor], solutions: Tensor, built_s: float, chunk: int
    ) -> Improved:
        """Improve the ``chunk`` packed solutions decoded in ``built_s`` seconds: the time limit
        is the batch's share, ``chunk * time_limit`` seconds, less the construction."""
        limit = None
        if self.time_limit is not None:
            limit = max(self.time_limit * chunk - built_s, 1e-9)  # spent: no step runs
        gen = torch.Generator().manual_seed(self.seed)
        return self.improver.improve(instances, solutions, generator=gen, steps=self.steps,
                                     time_limit=limit)  # fmt: skip


def view_group(registry: Registry, problem: Problem) -> Group | None:
    """The first finite group the problem's objective is declared invariant under (a learned
    improver decodes each sub-problem in a random image of it), or ``None``."""
    for name in problem.invariances:
        group: Group = registry.get("group", name)()
        if group.elements() is not None:
            return group
    return None


def improvers_for(
    registry: Registry, model: Any, names: Sequence[str], knn: int | None
) -> list[Improver[Any]]:
    """The registered improvers ``names`` of the model's problem, each built by its own
    :meth:`~symco.core.improver.Improver.build` with the model's ``policy`` and ``reducer`` (for
    learned ones), ``knn`` and the problem's :func:`view_group`.

    :raises UnknownNameError: an improver the problem does not have.
    """
    problem = model.problem
    views = view_group(registry, problem)
    parts = {"policy": getattr(model, "policy", None), "reducer": getattr(model, "reducer", None)}
    return [
        registry.get("improver", name, problem.name).build(problem, knn=knn, views=views, **parts)
        for name in names
    ]


STEP_PROGRESS = 2000
"""Instances of at least this many nodes show progress inside their decode (steps, ETA): one
of 100,000 nodes decodes for minutes."""


def instances_per_batch(batch_size: int, decoder: Decoder, images: int = 1) -> int:
    """How many instances are decoded together: ``batch_size`` rows, each instance counting as
    the decoder's ``rows_per_instance`` rows, times ``images`` when augmented."""
    return max(1, max(1, batch_size // decoder.rows_per_instance) // images)


def _batches(items: Sequence[Item]) -> list[list[Item]]:
    """Items grouped by size and array names (one batch shape each), sizes ascending."""
    groups: dict[tuple[int, tuple[str, ...]], list[Item]] = {}
    for it in items:
        groups.setdefault((it.size, tuple(sorted(it.instance))), []).append(it)
    return [groups[k] for k in sorted(groups)]


def decode_items(
    decoder: Decoder,
    problem: Problem,
    items: Sequence[Item],
    *,
    label: str,
    batch_size: int,
    device: torch.device | str = "cpu",
    augment: Group | None = None,
    improvement: Improvement | None = None,
    before_label: str | None = None,
    quiet: bool = True,
) -> None:
    """Decode every item with ``decoder`` in batches of ``batch_size`` instances of one size;
    fills ``results[label]``.

    With ``augment`` (a finite group) each batch carries every image of its instances; with
    ``improvement`` each batch's solutions are improved after decoding (``time_s`` counts both),
    and ``before_label``, when given, also records the solutions as they were before improving.
    Progress: one bar (or, off a terminal, one line) per size, and from :data:`STEP_PROGRESS`
    nodes on one inside each decode too (its steps, with an ETA), where the decoder reports them.
    """
    from symco.core.progress import progress

    for group in _batches(items):
        size = group[0].size
        desc = f"{label} n={size}"
        run = decoder.run if quiet else _step_run(decoder, size, desc)
        if augment is not None:
            run = partial(decode_augmented, run, problem, augment)
        with progress(len(group), desc, quiet=quiet) as done:
            for start in range(0, len(group), batch_size):
                chunk = group[start : start + batch_size]
                _decode_chunk(chunk, run, problem, device, label, improvement, before_label)
                done(len(chunk))


def _step_run(decoder: Decoder, size: int, desc: str) -> Callable[[Mapping[str, Tensor]], Tensor]:
    """The decoder's ``run``, showing its steps (about ``size``: one node each) from
    :data:`STEP_PROGRESS` nodes on, where the decoder reports steps."""
    from symco.core.progress import steps

    stepped = decoder.run_steps
    if stepped is None or size < STEP_PROGRESS:
        return decoder.run

    def run(instances: Mapping[str, Tensor]) -> Tensor:
        with steps(size, desc) as tick:
            return stepped(instances, tick)

    return run


def _record(
    chunk: Sequence[Item],
    problem: Problem,
    arrays: Instances,
    solutions: Tensor,
    label: str,
    seconds: float,
    extra: Sequence[dict[str, Any]] | None = None,
) -> np.ndarray:
    """Check the packed ``solutions`` of ``chunk`` and store them (the problem's format) with
    their costs under ``label``; returns the costs."""  # fmt: skip
    sols = problem.unpack_solutions(solutions.cpu().numpy())  # the edge: results are NumPy
    problem.check_solution(arrays, sols)
    costs = problem.objective(arrays, sols)
    per = seconds / len(chunk)
    for i, (it, sol, cost) in enumerate(zip(chunk, sols, costs)):
        more = extra[i] if extra is not None else {}
        it.results[label] = {"cost": float(cost), "solution": sol, "time_s": per, **more}
    return costs


def _decode_chunk(
    chunk: Sequence[Item],
    run: Callable[[Mapping[str, Tensor]], Tensor],
    problem: Problem,
    device: torch.device | str,
    label: str,
    improvement: Improvement | None,
    before_label: str | None,
) -> None:
    arrays = {k: np.concatenate([it.instance[k] for it in chunk]) for k in chunk[0].instance}
    tensors = {k: torch.as_tensor(v).to(device) for k, v in arrays.items()}
    t0 = time.perf_counter()
    sols = run(tensors)  # (B, L) packed
    built_s = time.perf_counter() - t0
    if improvement is None:
        _record(chunk, problem, arrays, sols, label, built_s)
        return
    if before_label is not None:
        built = _record(chunk, problem, arrays, sols, before_label, built_s)
    else:
        built = problem.objective(arrays, problem.unpack_solutions(sols.cpu().numpy()))
    res = improvement.run(tensors, sols, built_s, len(chunk))
    extra = [{"start_cost": float(c), "improve_steps": res.steps} for c in built]
    _record(chunk, problem, arrays, res.solutions, label, time.perf_counter() - t0, extra)


def solve_items(
    solver_cls: type[Solver],
    options: dict[str, Any],
    items: Sequence[Item],
    workers: int,
    label: str,
    quiet: bool = True,
    cluster: Cluster | None = None,
) -> None:
    """Solve every item with a registered solver (baselines, references), ``workers`` processes
    or the ``cluster``'s workers; fills ``results[label]``."""
    from symco.core.labels import Pool
    from symco.core.progress import progress

    with Pool(workers, cluster) as pool, progress(len(items), label, quiet=quiet) as done:
        futs = [pool.submit(solver_cls, options, it.instance) for it in items]
        for it, fut in zip(items, futs):
            sol, seconds = fut.result()
            done(1)
            it.problem.check_solution(it.instance, [sol])
            cost = float(it.problem.objective(it.instance, [sol])[0])
            it.results[label] = {"cost": cost, "solution": sol, "time_s": seconds}


def run_methods(
    model: Any,
    name: str,
    registry: Registry,
    items: Sequence[Item],
    decodes: Sequence[str],
    *,
    knn: int | None,
    batch_size: int,
    baselines: bool = False,
    baseline_time_limit: float = 1.0,
    workers: int = 1,
    augment: Group | None = None,
    improvement: Improvement | None = None,
    stages: bool = False,
    quiet: bool = True,
    cluster: Cluster | None = None,
) -> list[str]:
    """Decode ``items`` with each decoding of the model (its :meth:`EvaluatedModel.decoder`),
    then run the problem's baseline solvers.

    Labels read ``"{name} {decoder label} +{group short name} +{improvers}"``. With ``stages``,
    every stage of the pipeline gets its own row: the decoding alone, then with augmentation,
    then with improvement (which starts from the augmented solutions; its time counts both).
    A decoder's ``rows_per_instance`` divides the batch, and so does the augmentation group's
    order (each instance carries that many images).

    :return: the method labels, in table order (a model's last stage before the baselines).
    """
    methods = []
    problem = model.problem
    device = _device_of(model)
    images = 1 if augment is None else element_size(_elements(augment))
    for decode in decodes:
        dec = model.decoder(decode, knn=knn)
        plain, augmented, full = stage_labels(name, dec, augment, improvement)
        bs = instances_per_batch(batch_size, dec)
        if stages and full != plain and (augment is not None or improvement is None):
            decode_items(
                dec, problem, items, label=plain, batch_size=bs, device=device, quiet=quiet
            )
            methods.append(plain)
        before = augmented if stages and improvement is not None else None
        decode_items(dec, problem, items, label=full,
                     batch_size=instances_per_batch(batch_size, dec, images),
                     device=device, augment=augment, improvement=improvement,
                     before_label=before, quiet=quiet)  # fmt: skip
        methods += ([before] if before is not None else []) + [full]
    if baselines:
        for solver in problem.baselines:
            cls = registry.solver_class(problem.name, solver)
            if cls.available():
                options = {"seed": 0, "time_limit": baseline_time_limit}
                solve_items(cls, options, items, workers, solver, quiet=quiet, cluster=cluster)
                methods.append(solver)
    return methods


def stage_labels(
    name: str, decoder: Decoder, augment: Group | None, improvement: Improvement | None
) -> tuple[str, str, str]:
    """The labels of the decoding alone, with the augmentation, and with the improvement too
    (``"bq-tsp greedy knn100"``, ``"... +d4"``, ``"... +d4 +rrc+2opt"``); a stage not asked
    for repeats the one before. The last is the whole pipeline: JSONL's ``method``."""
    plain = f"{name} {decoder.label}"
    augmented = plain + (f" +{augment.short_name}" if augment is not None else "")
    return plain, augmented, augmented + (improvement.label if improvement is not None else "")


def _device_of(model: Any) -> torch.device:
    """Where the model's weights (or buffers) are: instances are decoded there."""
    tensors = [*model.parameters(), *model.buffers()] if hasattr(model, "parameters") else []
    return tensors[0].device if tensors else torch.device("cpu")


def _elements(group: Group) -> Any:
    elements = group.elements()
    if elements is None:
        raise ValueError(f"augmentation needs a finite group, got {group.name}")
    return elements
