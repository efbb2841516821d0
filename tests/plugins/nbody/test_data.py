"""Chunked, resumable dataset generation and the data module: seeds, files, pool, checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from symco.core.dataset import read_npz, save_npz
from symco.core.errors import DataFileError, InvalidInstanceError
from symco.plugins.nbody import data as data_mod
from symco.plugins.nbody.data import NBodyDataModule, generate, load_split
from symco.plugins.nbody.simulate import SimulationSpec

from .conftest import TINY

SMALL = SimulationSpec(frame_in=2, frame_out=4)  # 400 steps: fast


def test_chunks_are_seeded_atomic_and_resumable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = generate(SMALL, {"train": 12, "val": 5}, tmp_path, chunk_size=5, workers=1)
    names = sorted(p.name for p in folder.glob("*.npz"))
    assert names == ["train-000000-000005.npz", "train-000005-000010.npz",
                     "train-000010-000012.npz", "val-000000-000005.npz"]  # fmt: skip
    assert not list(folder.glob(".*"))  # no temporary files left
    first = read_npz(folder / "train-000005-000010.npz")
    # stop a run half-way: remove one chunk; the rerun simulates exactly that one again
    (folder / "train-000005-000010.npz").unlink()
    calls: list[str] = []
    real = data_mod.write_chunk
    monkeypatch.setattr(data_mod, "write_chunk", lambda *a: calls.append(a[-1]) or real(*a))
    generate(SMALL, {"train": 12, "val": 5}, tmp_path, chunk_size=5, workers=1)
    assert [Path(c).name for c in calls] == ["train-000005-000010.npz"]
    again = read_npz(folder / "train-000005-000010.npz")
    assert all(np.array_equal(first[k], again[k]) for k in first)
    # a larger split extends the smaller one (per-sample seeds): the first 12 are the same
    big = load_split(
        generate(SMALL, {"train": 20}, tmp_path / "b", chunk_size=20), "train", 20, 20, 5
    )
    small = load_split(folder, "train", 12, 5, 5)
    assert torch.equal(big["loc"][:12], small["loc"]) and torch.equal(
        big["target"][:12], small["target"]
    )


def test_a_process_pool_writes_the_same_chunks(tmp_path: Path) -> None:
    one = generate(SMALL, {"train": 6}, tmp_path / "one", chunk_size=3, workers=1)
    two = generate(SMALL, {"train": 6}, tmp_path / "two", chunk_size=3, workers=2)
    for name in ("train-000000-000003.npz", "train-000003-000006.npz"):
        a, b = read_npz(one / name), read_npz(two / name)
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_a_folder_of_other_settings_is_refused(tmp_path: Path) -> None:
    folder = generate(SMALL, {"train": 2}, tmp_path, chunk_size=2, workers=1)
    text = (folder / "manifest.json").read_text().replace('"seed": 0', '"seed": 5')
    (folder / "manifest.json").write_text(text)
    with pytest.raises(DataFileError, match=r"seed=5, but the data module asks for 0"):
        generate(SMALL, {"train": 2}, tmp_path, chunk_size=2, workers=1)


def test_field_datasets_live_apart() -> None:
    assert SimulationSpec().name == "charged5-seed0"
    assert SimulationSpec(field=(0.0, 0.0, 0.5)).name == "charged5-field0_0_0.5-seed0"
    assert SimulationSpec(clip="norm", seed=2).name == "charged5-clipnorm-seed2"
    with pytest.raises(InvalidInstanceError, match="field must have 3 components"):
        SimulationSpec(field=(0.0, 1.0))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("key", "make", "message"),
    [
        ("loc", lambda a: a[:, :4], r"loc has 4 particles, the data module expects 5"),
        ("vel", lambda a: a[..., :2], r"vel has shape \(4, 5, 2\), expected \(samples, 5, 3\)"),
        ("target", lambda a: np.where(np.arange(4)[:, None, None] == 2, np.nan, a),
         r"target of sample 2 is not finite"),
        ("charges", lambda a: a[:3], r"charges has shape \(3, 5\), expected \(4, 5\)"),
    ],
)  # fmt: skip
def test_malformed_files_fail_with_one_line(tmp_path: Path, key: str, make, message: str) -> None:  # type: ignore[no-untyped-def]
    folder = generate(SMALL, {"train": 4}, tmp_path, chunk_size=4, workers=1)
    path = folder / "train-000000-000004.npz"
    arrays = read_npz(path)
    arrays[key] = make(arrays[key])
    save_npz(path, arrays)
    with pytest.raises(InvalidInstanceError, match=message):
        load_split(folder, "train", 4, 4, 5)


def test_data_module_batches(tiny_data_dir: Path) -> None:
    dm = NBodyDataModule(data_dir=str(tiny_data_dir), batch_size=10, **TINY)  # type: ignore[arg-type]
    dm.prepare_data()  # everything is there: nothing simulated
    dm.setup("fit")
    loader = dm.train_dataloader()
    batches = list(loader)
    assert [len(b["loc"]) for b in batches] == [10, 10, 4]
    b = batches[0]
    assert b["loc"].shape == (10, 5, 3) and b["vel"].shape == (10, 5, 3)
    assert b["charges"].shape == (10, 5) and b["target"].shape == (10, 5, 3)
    assert b["loc"].dtype == torch.float32
    again = [x["loc"] for x in loader]  # the next epoch: another order
    assert not torch.equal(again[0], b["loc"])
    fresh = NBodyDataModule(data_dir=str(tiny_data_dir), batch_size=10, **TINY)  # type: ignore[arg-type]
    fresh.setup("fit")
    assert torch.equal(next(iter(fresh.train_dataloader()))["loc"], b["loc"])  # same seed
    assert len(dm.val_dataloader()) == 1 and len(next(iter(dm.test_dataloader()))["loc"]) == 8


def test_bad_options_are_reported_by_the_first_hook(tmp_path: Path) -> None:
    dm = NBodyDataModule(data_dir=str(tmp_path), train_size=0)
    with pytest.raises(
        InvalidInstanceError, match="train_size, val_size and test_size must be >= 1"
    ):
        dm.check_inputs()
    with pytest.raises(InvalidInstanceError):
        dm.prepare_data()
