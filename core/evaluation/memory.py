"""Whether ``symco evaluate`` fits in memory, checked before any work: the decoder and the
improvers say what one batch of each size needs (:attr:`~symco.core.decoding.Decoder.memory`,
:meth:`~symco.core.improver.Improver.memory_bytes`), the machine what it has. A run that would
not fit is refused in one line naming what to pass, instead of being killed hours into it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from symco.core.decoding import Decoder
from symco.core.evaluation.methods import instances_per_batch
from symco.core.improver import Improver

__all__ = ["KNN_HINT", "Need", "available_bytes", "needs", "refusal"]

KNN_HINT = 100
"""The ``--knn`` a refusal suggests (BQ-NCO decodes large instances with 100 candidates)."""


def available_bytes(device: str = "cpu") -> int | None:
    """Memory a new computation on ``device`` can have: ``MemAvailable`` of ``/proc/meminfo``
    (what the kernel hands out without swapping), else the free physical pages; on CUDA the
    device's free memory. ``None``: unknown (no check)."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info(torch.device(device))[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


@dataclass(frozen=True)
class Need:
    """Bytes to ``decode`` and to ``improve`` one batch of ``instances`` instances of ``nodes``
    nodes. Not at once: the decode's working memory is freed before the improvers start."""

    nodes: int
    instances: int
    decode: int
    improve: int

    @property
    def total(self) -> int:
        return max(self.decode, self.improve)


def needs(
    decoder: Decoder,
    improver: Improver[Any] | None,
    sizes: Mapping[int, int],
    *,
    batch_size: int,
    images: int = 1,
    plain_stage: bool = False,
) -> list[Need]:
    """What the largest batch of each size needs, largest size first; ``sizes``: instances
    per size. Batches as :func:`~symco.core.evaluation.methods.run_methods` makes them: an
    augmented batch carries ``images`` rows per instance, and ``plain_stage`` (``--stages``
    with ``--augment``) decodes the un-augmented batch too. Unknown (``None``) counts as 0."""
    out = []
    for nodes, count in sorted(sizes.items(), reverse=True):
        k = min(count, instances_per_batch(batch_size, decoder, images))
        rows = [k * images]
        if plain_stage:
            rows.append(min(count, instances_per_batch(batch_size, decoder)))
        decode = max((decoder.memory(r, nodes) or 0) if decoder.memory else 0 for r in rows)
        improve = improver.memory_bytes(k, nodes) if improver is not None else 0
        out.append(Need(nodes, k, decode, improve))
    return out


def _size(b: float) -> str:
    return f"{b / 2**30:.1f} GiB" if b >= 2**30 else f"{b / 2**20:.1f} MiB"


def refusal(
    need: Need,
    available: int,
    *,
    knn: int | None,
    knn_helps: bool,
    augment: str | None = None,
    images: int = 1,
    improve: str | None = None,
) -> str:
    """The one line refusing ``need`` (more than ``available`` bytes): how much, and what to
    pass. ``knn``: the ``--knn`` given; ``knn_helps``: whether the decoder narrows its view
    with one; ``augment``, ``images``, ``improve``: the ``--augment`` group and its images, the
    ``--improve`` chain, if given."""
    where = f"{need.nodes}-node instances in batches of {need.instances}"
    if images > 1:
        where += f" (x{images} images, --augment {augment})"
    if knn is not None:
        where += f" with --knn {knn}"
    elif knn_helps:
        where += " without --knn"
    task = f"for --improve {improve}" if need.improve > need.decode else "to decode"
    passes, drops = [], []
    if need.instances > 1:
        passes.append("a smaller --batch-size")
    if need.decode > available:
        if knn is None and knn_helps:
            passes.insert(0, f"--knn {KNN_HINT}")
        elif knn is not None and knn_helps:
            passes.append("a smaller --knn")
        if images > 1:
            drops.append("--augment")
    if need.improve > available:
        drops.append(f"--improve {improve}")
    advice = []
    if passes:
        advice.append(
            f"pass {passes[0]}" + (f" (or {', or '.join(passes[1:])})" if passes[1:] else "")
        )
    if drops:
        advice.append(f"leave out {' or '.join(drops)}")
    return (
        f"evaluate: {where} need about {_size(need.total)} {task}, {_size(available)} "
        f"available: {'; or '.join(advice) or 'use a machine with more memory'}"
    )
