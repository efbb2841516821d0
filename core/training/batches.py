"""Dense batches of a split held in memory, resumable mid-epoch (the n-body and the
interatomic-potential data modules)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import Tensor


class Batches:
    """Shuffled (or ordered) batches of a split held as a dict of equally long tensors: each
    batch is the same dict with ``B`` rows of every tensor (one ``index_select`` each).

    Shuffling draws a fresh permutation per epoch from ``(seed, epoch)``, so every run with the
    same seed sees the same batches. ``position()`` says where the run stands, ``(epoch,
    batches already trained on in it)`` (the trainer's restored loop progress): a run resumed
    mid-epoch continues the epoch's permutation where it stopped instead of replaying it.
    Without ``position`` epochs are counted here, from 0.
    """

    def __init__(
        self,
        arrays: dict[str, Tensor],
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        position: Callable[[], tuple[int, int]] | None = None,
    ) -> None:
        self.arrays, self.batch_size, self.shuffle, self.seed = arrays, batch_size, shuffle, seed
        self.n = len(next(iter(arrays.values())))
        self.position = position
        self.epoch = 0

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        epoch, done = self.position() if self.position is not None else (self.epoch, 0)
        self.epoch += 1
        if self.shuffle:
            gen = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
            order = torch.randperm(self.n, generator=gen)
        else:
            order = torch.arange(self.n)
        for i in range(done * self.batch_size, self.n, self.batch_size):
            idx = order[i : i + self.batch_size]
            yield {k: v.index_select(0, idx) for k, v in self.arrays.items()}


__all__ = ["Batches"]
