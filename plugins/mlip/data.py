"""Molecular datasets labelled by GFN2-xTB: generation over a process pool, loading, and the
Lightning data module (what a set is and how a chunk is made: :mod:`.chunks`).

Batches are padded: ``z`` ``(B, N)`` atomic numbers (0: padding), ``pos`` and ``forces``
``(B, N, 3)`` (Å, eV/Å), ``energy`` ``(B,)`` (eV, float64: totals of thousands of eV keep
their meV digits). ``N`` is the largest molecule of the split.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor

from symco.core.dataset import chunk_path, chunk_ranges, manifest_folder, read_npz, run_chunks
from symco.core.errors import DataFileError, InvalidInstanceError, SymcoError
from symco.core.training.batches import Batches
from symco.core.training.sampler import trainer_position
from symco.plugins.mlip.atoms import ELEMENTS, symbol
from symco.plugins.mlip.chunks import KEYS, SPLITS, MoleculeSetSpec, molecule_splits, write_chunk
from symco.plugins.mlip.sampling import Sampling


def dataset_folder(data_dir: str | Path, spec: MoleculeSetSpec, *, create: bool = True) -> Path:
    """``data_dir/<spec.name>``, its manifest checked against ``spec`` (written if missing and
    ``create``; :func:`~symco.core.dataset.manifest_folder`)."""
    return manifest_folder(data_dir, spec.name, spec.manifest(), create=create)


def generate(
    spec: MoleculeSetSpec,
    sizes: dict[str, int],
    data_dir: str | Path,
    *,
    chunk_size: int = 25,
    workers: int | None = None,
    progress: bool = False,
) -> tuple[Path, list[str]]:
    """Label every missing chunk of ``sizes`` (``{"train": 1000, ...}``: molecules, or frames of
    a trajectory set); the folder and the reasons of every sample recorded as failed (in the
    new chunks and the ones on disk).

    :param workers: processes (``None``: the usable cores); 1 labels in this process.
    """
    if chunk_size < 1:
        raise InvalidInstanceError(f"data: chunk_size must be >= 1, got {chunk_size}")
    folder = dataset_folder(data_dir, spec)
    smiles = molecule_splits(spec) if spec.kind == "molecules" else None
    todo = []
    for code, split in enumerate(SPLITS):
        for start, stop in chunk_ranges(sizes.get(split, 0), chunk_size):
            path = chunk_path(folder, split, start, stop)
            if not path.is_file():
                names = smiles[split][start:stop] if smiles else [spec.smiles] * (stop - start)
                todo.append((code, start, stop, names, str(path)))

    def report(i: int, job: tuple[Any, ...]) -> None:
        if progress:
            print(f"chunk {i + 1}/{len(todo)}: {Path(job[-1]).name}", flush=True)

    run_chunks(partial(write_chunk, spec), todo, workers, report)
    return folder, failures(folder, sizes, chunk_size)


def failures(folder: Path, sizes: dict[str, int], chunk_size: int) -> list[str]:
    """The recorded reasons of every failed sample of the chunks of ``sizes``."""
    out: list[str] = []
    for split in SPLITS:
        for start, stop in chunk_ranges(sizes.get(split, 0), chunk_size):
            path = chunk_path(folder, split, start, stop)
            if path.is_file():
                out.extend(str(r) for r in read_npz(path).get("reasons", []))
    return out


def check_chunk(arrays: dict[str, np.ndarray], path: Path, elements: Sequence[int]) -> None:
    """One :class:`DataFileError`/:class:`InvalidInstanceError` line for a malformed chunk:
    missing arrays, shapes that disagree, non-finite values, unknown elements."""
    missing = [k for k in KEYS if k not in arrays]
    if missing:
        raise DataFileError(f"{path}: no array {missing[0]!r} (a chunk holds {', '.join(KEYS)})")
    total, s = len(arrays["numbers"]), len(arrays["energy"])
    for key in ("positions", "forces"):
        a = arrays[key]
        if a.ndim != 2 or a.shape != (total, 3):
            raise InvalidInstanceError(
                f"{path}: {key} has shape {a.shape}, expected ({total}, 3) (one row per atom)"
            )
    for key in ("atoms", "sample", "temperature", "displaced"):
        if arrays[key].shape != (s,):
            raise InvalidInstanceError(
                f"{path}: {key} has shape {arrays[key].shape}, expected ({s},) (one per structure)"
            )
    if int(arrays["atoms"].sum()) != total or (arrays["atoms"] < 1).any():
        raise InvalidInstanceError(
            f"{path}: atoms per structure sum to {int(arrays['atoms'].sum())}, numbers has {total}"
        )
    for key in ("positions", "forces", "energy"):
        bad = ~np.isfinite(arrays[key])
        if bad.any():
            i = int(np.argwhere(bad)[0, 0])
            raise InvalidInstanceError(f"{path}: {key} row {i} is not finite (NaN or inf)")
    unknown = sorted(set(arrays["numbers"].tolist()) - set(elements))
    if unknown:
        raise InvalidInstanceError(
            f"{path}: element {symbol(unknown[0])} is not in the data module's elements "
            f"({', '.join(symbol(e) for e in elements)})"
        )


def pad(arrays: dict[str, np.ndarray], max_atoms: int | None = None) -> dict[str, Tensor]:
    """Ragged structures as padded tensors: ``z`` ``(S, N)``, ``pos``/``forces`` ``(S, N, 3)``
    (float32), ``energy`` ``(S,)`` (float64), ``sample`` ``(S,)``."""
    counts = arrays["atoms"].astype(np.int64)
    s, n = len(counts), int(max_atoms or (counts.max() if len(counts) else 1))
    rows = np.repeat(np.arange(s), counts)
    cols = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
    z = np.zeros((s, n), dtype=np.int64)
    pos = np.zeros((s, n, 3), dtype=np.float32)
    forces = np.zeros((s, n, 3), dtype=np.float32)
    z[rows, cols] = arrays["numbers"]
    pos[rows, cols] = arrays["positions"]
    forces[rows, cols] = arrays["forces"]
    return {
        "z": torch.from_numpy(z),
        "pos": torch.from_numpy(pos),
        "forces": torch.from_numpy(forces),
        "energy": torch.from_numpy(arrays["energy"].astype(np.float64)),
        "sample": torch.from_numpy(arrays["sample"].astype(np.int64)),
    }


def load_split(
    folder: Path, split: str, size: int, chunk_size: int, elements: Sequence[int]
) -> dict[str, np.ndarray]:
    """The ragged arrays of ``split``'s first ``size`` samples (chunks read and checked)."""
    parts = []
    for start, stop in chunk_ranges(size, chunk_size):
        path = chunk_path(folder, split, start, stop)
        if not path.is_file():
            raise DataFileError(f"{path}: missing chunk (run the data module's prepare_data)")
        arrays = read_npz(path)
        check_chunk(arrays, path, elements)
        parts.append(arrays)
    if not parts:
        raise DataFileError(f"{folder}: split {split} is empty")
    return {k: np.concatenate([p[k] for p in parts]) for k in KEYS}


def reference_energies(arrays: dict[str, np.ndarray], elements: Sequence[int]) -> np.ndarray:
    """Per-element energies ``(len(elements),)`` eV: the least-squares fit of the structures'
    energies on their element counts (what is left is the interaction energy a potential
    learns; MACE's ``E0s="average"`` does the same)."""
    counts = arrays["atoms"].astype(np.int64)
    rows = np.repeat(np.arange(len(counts)), counts)
    col = {e: i for i, e in enumerate(elements)}
    a = np.zeros((len(counts), len(elements)))
    np.add.at(a, (rows, [col[int(z)] for z in arrays["numbers"]]), 1.0)
    e0, *_ = np.linalg.lstsq(a, arrays["energy"], rcond=None)
    return e0


class MLIPDataModule(L.LightningDataModule):
    """A GFN2-xTB-labelled molecule set (see :mod:`.chunks`); ``prepare_data`` labels what is
    missing under ``data_dir``, ``setup`` loads and checks the splits.

    :param kind: ``trajectory`` (one molecule's MD, ``smiles``) or ``molecules`` (from
        ``source``, split by molecule).
    :param train_size: molecules (``molecules``) or frames (``trajectory``); likewise the others.
    :param frames: structures per molecule of a ``molecules`` set.
    :param workers: labelling processes (``None``: the usable cores).
    """

    def __init__(
        self,
        kind: str = "molecules",
        data_dir: str = "data/mlip",
        smiles: str = "CC(=O)Oc1ccccc1C(=O)O",
        source: str = "rdkit-nci",
        elements: Sequence[int] = ELEMENTS,
        min_heavy: int = 3,
        max_heavy: int = 20,
        train_size: int = 1200,
        val_size: int = 100,
        test_size: int = 300,
        frames: int = 4,
        burn: int = 10,
        stride: int = 5,
        timestep_fs: float = 1.0,
        t_min: float = 300.0,
        t_max: float = 1000.0,
        displace: float = 0.25,
        sigma: float = 0.04,
        seed: int = 0,
        chunk_size: int = 25,
        workers: int | None = None,
        batch_size: int = 16,
        eval_batch_size: int = 64,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config_error: SymcoError | None = None
        try:
            if kind not in ("trajectory", "molecules"):
                raise InvalidInstanceError(
                    f"data: kind must be 'trajectory' or 'molecules', got {kind!r}"
                )
            if min(train_size, val_size, test_size, frames) < 1:
                raise InvalidInstanceError(
                    "data: train_size, val_size, test_size and frames must be >= 1"
                )
            if min(batch_size, eval_batch_size, chunk_size) < 1:
                raise InvalidInstanceError("data: batch sizes and chunk_size must be >= 1")
            if not 0 < t_min <= t_max:
                raise InvalidInstanceError(f"data: need 0 < t_min <= t_max, got {t_min}, {t_max}")
        except SymcoError as exc:  # reported as one line by the first hook (see check_inputs)
            self.config_error = exc
        sampling = Sampling(frames=frames, burn=burn, stride=stride, timestep_fs=timestep_fs,
                            t_min=t_min, t_max=t_max, displace=displace, sigma=sigma)  # fmt: skip
        self.spec = MoleculeSetSpec(
            kind="trajectory" if kind == "trajectory" else "molecules", smiles=smiles,
            source=source, elements=tuple(int(e) for e in elements), min_heavy=min_heavy,
            max_heavy=max_heavy, seed=seed, sampling=sampling,
            splits=(train_size, val_size, test_size) if kind == "molecules" else (0, 0, 0),
        )  # fmt: skip
        self.raw: dict[str, dict[str, np.ndarray]] = {}
        self.splits: dict[str, dict[str, Tensor]] = {}

    def check_inputs(self) -> None:
        """Raise a configuration error found by the constructor."""
        if self.config_error is not None:
            raise self.config_error

    def sizes(self) -> dict[str, int]:
        hp = self.hparams
        return {"train": hp["train_size"], "val": hp["val_size"], "test": hp["test_size"]}

    def prepare_data(self) -> None:
        self.check_inputs()
        hp = self.hparams
        _, failed = generate(self.spec, self.sizes(), hp["data_dir"], chunk_size=hp["chunk_size"],
                             workers=hp["workers"])  # fmt: skip
        for reason in failed:
            print(f"skipped: {reason}")

    def folder(self) -> Path:
        return dataset_folder(self.hparams["data_dir"], self.spec, create=False)

    def setup(self, stage: str | None = None) -> None:
        self.check_inputs()
        if self.splits:
            return
        hp = self.hparams
        folder = self.folder()
        for split, size in self.sizes().items():
            self.raw[split] = load_split(folder, split, size, hp["chunk_size"], self.spec.elements)
        n = max(int(r["atoms"].max()) for r in self.raw.values())
        self.splits = {split: pad(raw, n) for split, raw in self.raw.items()}

    def reference_energies(self) -> Tensor:
        """``(119,)`` per-element energies (eV) fitted on the training split, 0 elsewhere."""
        self.setup()
        e0 = reference_energies(self.raw["train"], self.spec.elements)
        table = torch.zeros(119, dtype=torch.float64)
        table[list(self.spec.elements)] = torch.from_numpy(e0)
        return table

    def force_scale(self) -> float:
        """The RMS force component of the training split (eV/Å): the models' output unit."""
        self.setup()
        return float(np.sqrt((self.raw["train"]["forces"] ** 2).mean()))

    def train_dataloader(self) -> Batches:
        hp = self.hparams
        position = (lambda: trainer_position(self.trainer)) if self.trainer is not None else None
        return Batches(self.splits["train"], hp["batch_size"], shuffle=True, seed=hp["seed"],
                       position=position)  # fmt: skip

    def val_dataloader(self) -> Batches:
        return Batches(self.splits["val"], self.hparams["eval_batch_size"], shuffle=False)

    def test_dataloader(self) -> Batches:
        return Batches(self.splits["test"], self.hparams["eval_batch_size"], shuffle=False)


__all__ = ["MLIPDataModule", "check_chunk", "generate", "load_split", "pad", "reference_energies"]
