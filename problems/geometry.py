"""Euclidean helpers shared by the routing problems (TSP, CVRP, OP)."""

from __future__ import annotations

import numpy as np

INT_SCALE = 100_000.0
"""Integer solvers see unit-square distances times this (rounding error <= 5e-6 per edge)."""


def distance_matrix(coords: np.ndarray, euc_2d: bool = False) -> np.ndarray:
    """``(N, N)`` Euclidean distances of ``(N, 2)`` points; TSPLIB ``EUC_2D`` rounds each to nint."""
    diff = coords[:, None, :] - coords[None, :, :]
    d = np.sqrt((diff**2).sum(-1))
    return np.floor(d + 0.5) if euc_2d else d


def int_distance_matrix(coords: np.ndarray, euc_2d: bool = False) -> np.ndarray:
    """Integer distances for integer solvers: TSPLIB nint for ``EUC_2D``, else scaled so that the
    bounding box spans :data:`INT_SCALE` units."""
    if euc_2d:
        return distance_matrix(coords, True).astype(np.int64)
    return np.rint(distance_matrix(coords * int_scale(coords))).astype(np.int64)


def int_scale(coords: np.ndarray) -> float:
    """The factor that maps ``coords`` (any extent) onto about ``INT_SCALE`` integer units."""
    extent = float(np.ptp(coords, axis=0).max()) if len(coords) else 0.0
    return INT_SCALE / extent if extent > 0 else 1.0


def edge_lengths(
    coords: np.ndarray, order: np.ndarray, euc_2d: np.ndarray | bool = False
) -> np.ndarray:
    """Lengths of the closed tours ``order`` (``(B, L)`` indices) over ``coords`` (``(B, N, 2)``).

    :return: ``(B, L)``; entry ``l`` is the edge from ``order[:, l]`` to ``order[:, l+1]`` (cyclic).
    """
    pts = np.take_along_axis(coords, order[..., None], axis=1)  # (B, L, 2)
    d = np.linalg.norm(pts - np.roll(pts, -1, axis=1), axis=-1)  # (B, L)
    rounded = np.broadcast_to(np.asarray(euc_2d, dtype=bool).reshape(-1, 1), d.shape)
    return np.where(rounded, np.floor(d + 0.5), d)
