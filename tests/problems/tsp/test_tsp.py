"""TSP specifics: hand-made instances, brute force, TSPLIB files, LKH vs OR-Tools."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from symco.core.errors import DataFileError, InfeasibleSolutionError
from symco.problems.tsp import TSP
from symco.problems.tsp.solvers import LKHTSP, ExactTSP, OrToolsTSP

SHARED = Path(__file__).resolve().parents[3] / "benchmarks" / "instances"


def test_unit_square_tour_length() -> None:
    square = {"coords": np.array([[[0, 0], [1, 0], [1, 1], [0, 1]]], dtype=float)}
    assert TSP().objective(square, [np.array([0, 1, 2, 3])])[0] == pytest.approx(4.0)
    assert TSP().objective(square, [np.array([0, 2, 1, 3])])[0] == pytest.approx(2 + 2 * np.sqrt(2))


def test_euc_2d_rounds_each_edge() -> None:
    inst = {"coords": np.array([[[0, 0], [1.4, 0], [1.4, 1.4]]]), "euc_2d": np.array([True])}
    # edges 1.4 -> 1, 1.4 -> 1, 1.98 -> 2
    assert TSP().objective(inst, [np.array([0, 1, 2])])[0] == 4.0


def test_torch_objective_rounds_like_numpy_on_tsplib_scales() -> None:
    """``objective_torch`` with ``euc_2d`` on TSPLIB-like coordinates (hundreds of units, some
    integer, some not, edges exactly at ``k + 0.5`` included): NumPy's value, float64, per row."""
    import torch

    rng = np.random.default_rng(3)
    coords = np.concatenate([np.round(rng.random((3, 12, 2)) * 500), rng.random((3, 12, 2)) * 500])
    coords[0, :2] = [[0.0, 0.0], [2.5, 0.0]]  # an edge of length 2.5: nint 3 (half up)
    inst = {"coords": coords, "euc_2d": np.array([True, False, True, True, False, True])}
    tours = np.stack([rng.permutation(12) for _ in range(6)])
    tours[0, :2] = [0, 1]
    want = TSP().objective(inst, tours)
    got = TSP().objective_torch(
        {k: torch.as_tensor(v) for k, v in inst.items()}, torch.as_tensor(tours)
    )
    assert got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    assert np.array_equal(want[inst["euc_2d"]], np.round(want[inst["euc_2d"]]))
    f32 = TSP().objective_torch(
        {"coords": torch.as_tensor(coords[:1]).float()}, torch.as_tensor(tours[:1])
    )
    assert f32.dtype == torch.float32


@pytest.mark.parametrize("tour", [[0, 1, 1, 3], [0, 1, 2], [0, 1, 2, 3, 4], [0, 1, 2, 7]])
def test_infeasible_tours(tour: list[int]) -> None:
    inst = TSP().generate(1, 4, rng=np.random.default_rng(0))
    with pytest.raises(InfeasibleSolutionError, match="tour 0 is not a permutation"):
        TSP().check_solution(inst, [np.array(tour)])


@pytest.mark.parametrize("n", [3, 4, 5, 6, 7, 8])
def test_exact_matches_brute_force(n: int) -> None:
    tsp = TSP()
    inst = tsp.generate(1, n, rng=np.random.default_rng(n))
    best = min(
        tsp.objective(inst, [np.array([0, *p])])[0] for p in itertools.permutations(range(1, n))
    )
    tour = ExactTSP().solve(inst)
    tsp.check_solution(inst, [tour])
    assert tsp.objective(inst, [tour])[0] == pytest.approx(best)


def test_clustered_stays_in_unit_square() -> None:
    c = TSP().generate(8, 200, rng=np.random.default_rng(0), distribution="clustered")["coords"]
    assert c.min() >= 0 and c.max() <= 1
    u = TSP().generate(8, 200, rng=np.random.default_rng(0))["coords"]

    # clustered points are closer to their nearest neighbour than uniform ones
    def nn(x: np.ndarray) -> float:
        d = np.linalg.norm(x[:, :, None] - x[:, None], axis=-1) + np.eye(x.shape[1]) * 9
        return float(d.min(-1).mean())

    assert nn(c) < 0.7 * nn(u)


def test_reads_tsplib_with_reference() -> None:
    inst, ref = TSP().read(SHARED / "d1291.tsp")
    assert inst["coords"].shape == (1, 1291, 2) and bool(inst["euc_2d"][0])
    assert ref is not None and ref[0] == 50801


def test_reads_reference_tour_without_cost(tmp_path: Path) -> None:
    inst = TSP().generate(1, 5, rng=np.random.default_rng(0))
    TSP().write(tmp_path / "a.tsp", inst, np.array([0, 2, 1, 3, 4]))
    text = (tmp_path / "a.sol").read_text().splitlines()
    (tmp_path / "a.sol").write_text("\n".join(line for line in text if not line.startswith("Cost")))
    _, ref = TSP().read(tmp_path / "a.tsp")
    assert ref is not None
    assert ref[0] == pytest.approx(TSP().objective(inst, [np.array([0, 2, 1, 3, 4])])[0], rel=1e-9)


@pytest.mark.parametrize(
    "content, message",
    [
        ("garbage\n", "no NODE_COORD_SECTION|not a readable"),
        (
            "NAME: x\nTYPE: TSP\nDIMENSION: 3\nEDGE_WEIGHT_TYPE: GEO\nNODE_COORD_SECTION\n1 0 0\n2 1 1\n3 2 0\nEOF\n",
            "GEO is not supported",
        ),
        (
            "NAME: x\nTYPE: TSP\nDIMENSION: 4\nEDGE_WEIGHT_TYPE: EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 1 1\n3 2 0\nEOF\n",
            "DIMENSION is 4",
        ),
        (
            "NAME: x\nTYPE: TSP\nDIMENSION: 2\nEDGE_WEIGHT_TYPE: EUC_2D\nNODE_COORD_SECTION\n1 0 0\n2 1 1\nEOF\n",
            "at least 3",
        ),
    ],
)
def test_malformed_tsplib(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.tsp"
    path.write_text(content)
    with pytest.raises((DataFileError, ValueError), match=message):
        TSP().read(path)


@pytest.mark.slow
@pytest.mark.skipif(not LKHTSP.available(), reason="elkai not installed")
def test_lkh_at_least_as_good_as_ortools_on_50() -> None:
    tsp = TSP()
    inst = tsp.generate(4, 50, rng=np.random.default_rng(50))
    lkh = [LKHTSP().solve(tsp.select(inst, i)) for i in range(4)]
    ort = [OrToolsTSP(time_limit=2.0).solve(tsp.select(inst, i)) for i in range(4)]
    a, b = tsp.objective(inst, lkh), tsp.objective(inst, ort)
    assert np.all(a <= b * (1 + 1e-5))  # LKH never worse (beyond integer rounding)
    assert (
        np.mean(b / a) < 1.10
    )  # OR-Tools GLS is close behind (time-limited: loose under CPU load)


def test_reads_tsplib_opt_tour(tmp_path: Path) -> None:
    inst = TSP().generate(1, 5, rng=np.random.default_rng(1))
    inst["coords"] = np.round(inst["coords"] * 100)
    inst["euc_2d"] = np.array([True])
    TSP().write(tmp_path / "b.tsp", inst)
    (tmp_path / "b.opt.tour").write_text(
        "NAME : b.opt.tour\nTYPE : TOUR\nDIMENSION : 5\nTOUR_SECTION\n1\n3\n2\n5\n4\n-1\nEOF\n"
    )
    _, ref = TSP().read(tmp_path / "b.tsp")
    assert ref is not None
    assert ref[0] == TSP().objective(inst, [np.array([0, 2, 1, 4, 3])])[0]
    (tmp_path / "b.opt.tour").write_text("TOUR_SECTION\n1\n2\n2\n-1\n")
    with pytest.raises(DataFileError, match=r"b\.opt\.tour: tour 0 is not a permutation"):
        TSP().read(tmp_path / "b.tsp")


def test_dense_improvers_say_what_their_distance_tensors_need() -> None:
    """2-opt holds five ``(B, N, N)`` float64 tensors at once, Or-opt nine: quadratic in the
    nodes, linear in the batch; a chain needs its largest member's (they step in turn)."""
    import torch

    from symco.core.improver import Chain
    from symco.problems.tsp.improvers import OrOpt, TwoOpt

    tsp = TSP()
    inst = {
        k: torch.as_tensor(v) for k, v in tsp.generate(2, 50, rng=np.random.default_rng(0)).items()
    }
    dist = TwoOpt(tsp).start(inst, torch.arange(50).repeat(2, 1)).dist  # (B, N, N) float64
    two, orr = TwoOpt(tsp), OrOpt(tsp)
    assert two.memory_bytes(2, 50) == 5 * dist.nbytes + 8 * 50**2
    assert orr.memory_bytes(2, 50) == 9 * dist.nbytes + 16 * 50**2
    assert two.memory_bytes(1, 100_000) > 370 * 2**30  # 2-opt is no polish for 100,000 nodes
    assert Chain([two, orr]).memory_bytes(4, 1000) == orr.memory_bytes(4, 1000)
