"""ZINC graph regression with Lightning: ``symco fit --config configs/zinc/spe.yaml``.

The constructor signatures below are the configuration schema (LightningCLI). The model names
its positional encoding (registry name or class path); the data module asks the model for the
per-graph transform that encoding needs and precomputes it once per split.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader
from torch_geometric.transforms import BaseTransform

from symco.core.errors import InvalidInstanceError, SymcoError
from symco.core.symmetry.declare import Symmetry
from symco.core.training.schedule import cosine_to_floor
from symco.encodings.base import build_encoding
from symco.plugins.zinc.dataset import ATOM_VOCAB, BOND_VOCAB, SPLITS, load_split, penalized_logp
from symco.plugins.zinc.gine import GINERegressor


def l1_loss(model: torch.nn.Module, batch: Data) -> Tensor:
    """Mean absolute error of ``model`` on ``batch`` (the ZINC benchmark's loss and metric)."""
    return (model(batch) - batch.y).abs().mean()


class ZincModule(L.LightningModule):
    """A GINE regressor of penalized logP with an optional positional encoding.

    ``encoding``: a class path (``"symco.encodings.SPE"``), a mapping
    ``{class_path: ..., init_args: {...}}``, ``"none"``/``null``, or in a ``symco fit`` config a
    registered name (``spe``, ``lappe``, ``rwpe``, ``signnet``: the CLI resolves it with its
    registry); ``encoding_args`` are its constructor arguments.
    A bad encoding is reported by the first hook (``setup``/``data_transform``), not by the
    constructor, so that ``symco fit`` can print it as one line.
    """

    registry_fields: ClassVar[dict[str, str]] = {"encoding": "encoding"}
    """Arguments a config may give as registry names (resolved by ``symco fit``)."""

    def __init__(
        self,
        encoding: str | dict[str, Any] | None = "symco.encodings.SPE",
        encoding_args: dict[str, Any] | None = None,
        hidden: int = 64,
        num_layers: int = 4,
        dropout: float = 0.0,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        min_lr_ratio: float = 0.01,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self._config_error: SymcoError | None = None
        try:
            enc = build_encoding(encoding, encoding_args)
        except SymcoError as exc:
            # LightningCLI (jsonargparse) turns a constructor error into a traceback: keep it for
            # the first hook, where `symco fit` prints it as one line (see `_check_config`)
            self._config_error, enc = exc, None
        self.model = GINERegressor(ATOM_VOCAB, BOND_VOCAB, hidden, num_layers, enc, dropout)

    def _check_config(self) -> None:
        if self._config_error is not None:
            raise self._config_error

    def setup(self, stage: str) -> None:
        self._check_config()

    def data_transform(self) -> BaseTransform | None:
        """What each graph needs precomputed for this model's encoding (``None``: nothing).

        Raises the model's configuration error, if any (the data module calls this first).
        """
        self._check_config()
        enc = self.model.encoding
        return enc.transform() if enc is not None else None

    # -- declared symmetries (symco check-symmetry) --------------------------------------------

    symmetry_nodes: ClassVar[int] = 8

    def symmetry_inputs(self, n: int, generator: torch.Generator) -> Data:
        """``n`` random molecule-like graphs (atom/bond categories) with the encoding's transform."""
        from symco.encodings.symmetry import random_graphs

        return random_graphs(
            n, self.symmetry_nodes, generator, chords=2, node_vocab=ATOM_VOCAB,
            edge_vocab=BOND_VOCAB, transform=self.data_transform(),
        )  # fmt: skip

    def symmetries(self, inputs: Data) -> list[Symmetry]:
        """The prediction is invariant to relabelling the atoms of a molecule."""
        from symco.encodings.symmetry import node_permutation

        return [node_permutation(self.symmetry_nodes, graph_level=True)]

    def symmetry_outputs(self, inputs: Data) -> Tensor:
        return self.model(inputs)  # type: ignore[no-any-return]

    def training_step(self, batch: Data, batch_idx: int) -> Tensor:
        loss = l1_loss(self.model, batch)
        self.log("train/mae", loss, prog_bar=True, batch_size=batch.num_graphs)
        return loss

    def validation_step(self, batch: Data, batch_idx: int) -> None:
        self.log("val/mae", l1_loss(self.model, batch), prog_bar=True, batch_size=batch.num_graphs)

    def test_step(self, batch: Data, batch_idx: int) -> None:
        self.log("test/mae", l1_loss(self.model, batch), batch_size=batch.num_graphs)

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        opt = torch.optim.Adam(self.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
        return cosine_to_floor(opt, self.trainer.estimated_stepping_batches, hp["min_lr_ratio"])


def graphs_from_arrays(arrays: dict[str, np.ndarray], y: np.ndarray, code: int) -> list[Data]:
    """The ``Data`` objects of split ``code`` (0 train, 1 val, 2 test) from the cached arrays."""
    x, ei, ea = (torch.as_tensor(arrays[k]) for k in ("x", "edge_index", "edge_attr"))
    nptr, eptr = arrays["node_ptr"], arrays["edge_ptr"]
    out = []
    for g in np.flatnonzero(arrays["split"] == code):
        n0, n1, e0, e1 = int(nptr[g]), int(nptr[g + 1]), int(eptr[g]), int(eptr[g + 1])
        out.append(
            Data(x=x[n0:n1], edge_index=ei[:, e0:e1], edge_attr=ea[e0:e1],
                 y=torch.tensor([y[g]], dtype=torch.float32), num_nodes=n1 - n0)
        )  # fmt: skip
    return out


def _describe(transform: BaseTransform | None) -> str:
    """Class and settings of a transform (torch_geometric's ``repr`` omits the settings)."""
    return f"{type(transform).__qualname__}{sorted(vars(transform).items()) if transform else ''}"


class ZincDataModule(L.LightningDataModule):
    """ZINC molecules with a fixed seeded train/val/test split (see :mod:`.dataset`).

    ``prepare_data`` builds and caches the split under ``cache_dir`` (RDKit, once);
    ``setup`` loads it and applies the model's encoding transform
    (:meth:`ZincModule.data_transform`) to every graph, once, with a seeded RNG.
    """

    def __init__(
        self,
        source: str = "moses",
        train_size: int = 10000,
        val_size: int = 1000,
        test_size: int = 1000,
        seed: int = 0,
        target: Literal["normalized", "raw"] = "normalized",
        cache_dir: str = "data/zinc",
        batch_size: int = 128,
        eval_batch_size: int = 256,
    ) -> None:
        super().__init__()
        if min(train_size, val_size, test_size) < 1:
            raise InvalidInstanceError("data: train_size, val_size and test_size must be >= 1")
        self.save_hyperparameters()
        self.transform: BaseTransform | None = None
        self.splits: dict[str, list[Data]] = {}
        self._built_for: str | None = None  # the transform the splits were built with

    def _sizes(self) -> dict[str, int]:
        hp = self.hparams
        return {"train": hp["train_size"], "val": hp["val_size"], "test": hp["test_size"]}

    def prepare_data(self) -> None:
        hp = self.hparams
        load_split(hp["cache_dir"], hp["source"], self._sizes(), hp["seed"])

    def setup(self, stage: str) -> None:
        hp = self.hparams
        if self.trainer is not None and hasattr(self.trainer.lightning_module, "data_transform"):
            self.transform = self.trainer.lightning_module.data_transform()
        if self.splits and self._built_for == _describe(self.transform):
            return  # e.g. `test` after `fit` in one process: the encodings are already there
        arrays = load_split(hp["cache_dir"], hp["source"], self._sizes(), hp["seed"])
        y = penalized_logp(arrays["logp"], arrays["sa"], arrays["cycle"], hp["target"])
        # LapPE's torch_geometric transform draws eigenvector signs from torch's global RNG:
        # fork it and seed, so the cached encodings are reproducible and the caller's RNG untouched
        with torch.random.fork_rng():
            torch.manual_seed(hp["seed"])
            for code, name in enumerate(SPLITS):
                graphs = graphs_from_arrays(arrays, y, code)
                self.splits[name] = (
                    [self.transform(g) for g in graphs] if self.transform else graphs
                )
        self._built_for = _describe(self.transform)

    def _loader(self, name: str, batch_size: int, shuffle: bool) -> DataLoader:
        gen = torch.Generator().manual_seed(self.hparams["seed"]) if shuffle else None
        return DataLoader(self.splits[name], batch_size=batch_size, shuffle=shuffle, generator=gen)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.hparams["batch_size"], shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.hparams["eval_batch_size"], shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.hparams["eval_batch_size"], shuffle=False)
