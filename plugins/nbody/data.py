"""N-body datasets: seeded, chunked, resumable generation and the Lightning data module.

A dataset is a folder ``DATA_DIR/<spec name>/`` holding ``manifest.json`` (the
:class:`SimulationSpec`) and chunks ``<split>-<start>-<stop>.npz`` of samples
``start..stop-1`` of a split. Sample ``i`` of split ``s`` is simulated from its own seed
``(seed, s, i)`` (a NumPy ``SeedSequence``), so a chunk ``k`` is a pure function of
``(seed, split, k)``, a larger split extends a smaller one (the paper's "first 3,000 of 10k"
training samples), and changing the chunk size changes files, not samples. Chunks are written
atomically; a run that is stopped resumes by skipping the chunks already on disk. Missing chunks
are simulated over a process pool (``usable_cores()`` workers, one thread each).

Batches are dense: fully connected 5-node graphs need no edge index, so a batch is a dict of
``(B, N, 3)`` positions/velocities/targets and ``(B, N)`` charges (one ``index_select`` per
batch, no per-graph ``Data`` objects or collation — several times faster than PyG batching for
graphs this small, and every model here is written densely over ``(B, N, N)`` pairs).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch import Tensor

from symco.core.dataset import chunk_path, chunk_ranges, manifest_folder, read_npz, run_chunks
from symco.core.errors import DataFileError, InvalidInstanceError, SymcoError
from symco.core.training.batches import Batches
from symco.plugins.nbody.simulate import Clip, SimulationSpec, write_chunk

SPLITS: tuple[str, ...] = ("train", "val", "test")
KEYS: tuple[str, ...] = ("loc", "vel", "charges", "target")
"""Arrays of a chunk: ``loc``/``vel``/``target`` ``(n, N, 3)``, ``charges`` ``(n, N)``."""


def dataset_folder(data_dir: str | Path, spec: SimulationSpec, *, create: bool = True) -> Path:
    """``data_dir/<spec.name>``, its manifest checked against ``spec`` (written if missing and
    ``create``; :func:`~symco.core.dataset.manifest_folder`)."""
    return manifest_folder(data_dir, spec.name, spec.manifest(), create=create)


def generate(
    spec: SimulationSpec,
    sizes: dict[str, int],
    data_dir: str | Path,
    *,
    chunk_size: int = 250,
    workers: int | None = None,
) -> Path:
    """Simulate every missing chunk of ``sizes`` (``{"train": 3000, ...}``); the folder.

    :param workers: processes (``None``: the usable cores); 1 simulates in this process.
    """
    if chunk_size < 1:
        raise InvalidInstanceError(f"data: chunk_size must be >= 1, got {chunk_size}")
    folder = dataset_folder(data_dir, spec)
    todo = [
        (code, start, stop, str(chunk_path(folder, split, start, stop)))
        for code, split in enumerate(SPLITS)
        for start, stop in chunk_ranges(sizes.get(split, 0), chunk_size)
        if not chunk_path(folder, split, start, stop).is_file()
    ]
    run_chunks(partial(write_chunk, spec), todo, workers)
    return folder


def check_chunk(arrays: dict[str, np.ndarray], path: Path, num_particles: int) -> None:
    """One :class:`InvalidInstanceError`/:class:`DataFileError` line for a malformed chunk:
    missing arrays, a particle count or dimension other than ``(num_particles, 3)``, mismatched
    lengths, or non-finite values."""
    missing = [k for k in KEYS if k not in arrays]
    if missing:
        raise DataFileError(
            f"{path}: no array {missing[0]!r} (an n-body chunk holds {', '.join(KEYS)})"
        )
    n = len(arrays["loc"])
    for key in ("loc", "vel", "target"):
        a = arrays[key]
        if a.ndim != 3 or a.shape[2] != 3:
            raise InvalidInstanceError(
                f"{path}: {key} has shape {a.shape}, expected (samples, {num_particles}, 3): "
                "positions and velocities are 3-D"
            )
        if a.shape[1] != num_particles:
            raise InvalidInstanceError(
                f"{path}: {key} has {a.shape[1]} particles, the data module expects {num_particles}"
            )
    if arrays["charges"].shape != (n, num_particles):
        raise InvalidInstanceError(
            f"{path}: charges has shape {arrays['charges'].shape}, expected ({n}, {num_particles})"
        )
    for key in KEYS:
        a = arrays[key]
        if len(a) != n:
            raise InvalidInstanceError(f"{path}: {key} has {len(a)} samples, loc has {n}")
        bad = ~np.isfinite(a)
        if bad.any():
            i = int(np.argwhere(bad)[0, 0])
            raise InvalidInstanceError(f"{path}: {key} of sample {i} is not finite (NaN or inf)")


def load_split(
    folder: Path, split: str, size: int, chunk_size: int, num_particles: int
) -> dict[str, Tensor]:
    """The ``size`` samples of ``split`` as float32 tensors (chunks read and checked)."""
    parts = []
    for start, stop in chunk_ranges(size, chunk_size):
        path = chunk_path(folder, split, start, stop)
        arrays = read_npz(path)
        check_chunk(arrays, path, num_particles)
        if len(arrays["loc"]) != stop - start:
            raise InvalidInstanceError(
                f"{path}: holds {len(arrays['loc'])} samples, its name says {stop - start}"
            )
        parts.append(arrays)
    return {k: torch.from_numpy(np.concatenate([p[k] for p in parts]).astype(np.float32))
            for k in KEYS}  # fmt: skip


class NBodyDataModule(L.LightningDataModule):
    """The charged n-body datasets (see the module docstring); ``prepare_data`` simulates what is
    missing under ``data_dir``, ``setup`` loads and checks the splits.

    :param field: constant external field on the charges (``[0, 0, E]``: along z).
    :param clip: force clipping of the simulator (``component``: the paper's; ``norm`` keeps
        :math:`E(3)` exact).
    :param workers: simulation processes (``None``: the usable cores; 1: in this process).
    """

    def __init__(
        self,
        data_dir: str = "data/nbody",
        train_size: int = 3000,
        val_size: int = 2000,
        test_size: int = 2000,
        num_particles: int = 5,
        field: Sequence[float] = (0.0, 0.0, 0.0),
        seed: int = 0,
        frame_in: int = 30,
        frame_out: int = 40,
        clip: Clip = "component",
        chunk_size: int = 250,
        workers: int | None = None,
        batch_size: int = 100,
        eval_batch_size: int = 500,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config_error: SymcoError | None = None
        try:
            if min(train_size, val_size, test_size) < 1:
                raise InvalidInstanceError("data: train_size, val_size and test_size must be >= 1")
            if min(batch_size, eval_batch_size, chunk_size) < 1:
                raise InvalidInstanceError("data: batch sizes and chunk_size must be >= 1")
            self.spec = SimulationSpec(
                num_particles=num_particles, field=tuple(float(e) for e in field),  # type: ignore[arg-type]
                seed=seed, frame_in=frame_in, frame_out=frame_out, clip=clip,
            )  # fmt: skip
        except SymcoError as exc:  # reported by the first hook, as one line (see check_inputs)
            self.config_error, self.spec = exc, SimulationSpec()
        self.splits: dict[str, dict[str, Tensor]] = {}

    def check_inputs(self) -> None:
        """Raise a configuration error found by the constructor (``symco fit`` calls this before
        training; ``prepare_data`` and ``setup`` call it too)."""
        if self.config_error is not None:
            raise self.config_error

    def sizes(self) -> dict[str, int]:
        hp = self.hparams
        return {"train": hp["train_size"], "val": hp["val_size"], "test": hp["test_size"]}

    def prepare_data(self) -> None:
        self.check_inputs()
        hp = self.hparams
        generate(self.spec, self.sizes(), hp["data_dir"], chunk_size=hp["chunk_size"],
                 workers=hp["workers"])  # fmt: skip

    def setup(self, stage: str | None = None) -> None:
        self.check_inputs()
        if self.splits:
            return
        hp = self.hparams
        folder = dataset_folder(hp["data_dir"], self.spec, create=False)
        for split, size in self.sizes().items():
            self.splits[split] = load_split(
                folder, split, size, hp["chunk_size"], hp["num_particles"]
            )

    def train_dataloader(self) -> Batches:
        hp = self.hparams
        return Batches(self.splits["train"], hp["batch_size"], shuffle=True, seed=hp["seed"],
                       position=self._position if self.trainer is not None else None)  # fmt: skip

    def _position(self) -> tuple[int, int]:
        """``(epoch, batches trained on in it)`` from the trainer's (restored) loop progress."""
        trainer = self.trainer
        progress = trainer.fit_loop.epoch_loop.batch_progress.current
        return int(trainer.current_epoch), int(progress.processed)

    def val_dataloader(self) -> Batches:
        return Batches(self.splits["val"], self.hparams["eval_batch_size"], shuffle=False)

    def test_dataloader(self) -> Batches:
        return Batches(self.splits["test"], self.hparams["eval_batch_size"], shuffle=False)
