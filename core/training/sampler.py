"""A seeded, resumable, DDP-ready order of the training examples.

Under DDP rank ``r`` of ``W`` takes every ``W``-th example of one permutation: with a per-rank
batch ``B`` the ranks' batches ``k`` together are exactly the examples of the single-process
batch ``k`` of size ``W B`` — the same global batch, so a model whose loss is a mean over examples
gets the same gradient (up to the order of the float sums) either way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import Dataset, DistributedSampler


class EpochSampler(DistributedSampler[int]):
    """This rank's share of a fresh permutation of the instances each epoch, a pure function of
    ``(seed, epoch)``, entered where the run stands: a run resumed mid-epoch sees exactly the
    batches an uninterrupted one would (no replay of the epoch's first batches, no reshuffle).

    ``position()`` returns ``(epoch, batches this rank has already trained on in it)``; Lightning
    calls ``iter`` once per epoch, after restoring a checkpoint's loop state. Being a
    ``DistributedSampler`` (rank ``r`` of ``W`` takes every ``W``-th index), it is used as is
    under DDP instead of being wrapped by Lightning.
    """

    def __init__(
        self,
        dataset: Dataset[Any],
        batch_size: int,
        seed: int,
        position: Callable[[], tuple[int, int]],
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        super().__init__(dataset, world_size, rank, shuffle=True, seed=seed, drop_last=True)
        self.batch_size, self.position = batch_size, position

    def __iter__(self) -> Iterator[int]:
        epoch, done = self.position()
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        n = len(self.dataset)  # type: ignore[arg-type]
        order = torch.randperm(n, generator=gen)[: self.total_size]  # (W * num_samples,)
        mine = order[self.rank :: self.num_replicas]  # (num_samples,)
        return iter(mine[done * self.batch_size :].tolist())


def trainer_position(trainer: Any) -> tuple[int, int]:
    """``(epoch, batches trained on in it)`` from a trainer's (restored) loop progress, per rank
    (under DDP each rank counts its own batches); ``(0, 0)`` without a trainer (a loader used
    outside a Trainer starts at the beginning)."""
    if trainer is None:
        return 0, 0
    progress = trainer.fit_loop.epoch_loop.batch_progress.current
    return int(trainer.current_epoch), int(progress.processed)


__all__ = ["EpochSampler", "trainer_position"]
