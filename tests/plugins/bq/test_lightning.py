"""The training data order: per-epoch permutations, DDP shards, and entering an epoch mid-way."""

from __future__ import annotations

import pytest
import torch

from symco.core.training.sampler import EpochSampler
from symco.plugins.bq.lightning import _Rows

DATA = _Rows({"x": torch.arange(37)})


def _order(epoch: int, done: int = 0, rank: int = 0, world: int = 1) -> list[int]:
    return list(EpochSampler(DATA, 4, 3, lambda: (epoch, done), rank=rank, world_size=world))


@pytest.mark.parametrize("world", [1, 2, 3])
def test_ranks_share_out_one_permutation(world: int) -> None:
    shards = [_order(1, rank=r, world=world) for r in range(world)]
    assert all(len(s) == 37 // world for s in shards)
    seen = [i for s in shards for i in s]
    assert len(set(seen)) == len(seen) and set(seen) <= set(range(37))


def test_epochs_reshuffle_and_repeat() -> None:
    assert _order(0) != _order(1) and _order(1) == _order(1)
    assert sorted(_order(2)) == list(range(37))


@pytest.mark.parametrize("world", [1, 2])
def test_entering_mid_epoch_skips_the_batches_done(world: int) -> None:
    for rank in range(world):
        whole = _order(2, rank=rank, world=world)
        assert _order(2, done=3, rank=rank, world=world) == whole[3 * 4 :]
