"""CVRP specifics: hand-made instances, brute force, CVRPLIB files, solvers, bad inputs."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from symco.core.errors import DataFileError, InfeasibleSolutionError, InvalidInstanceError
from symco.problems.cvrp import CVRP
from symco.problems.cvrp.problem import capacity_for, join_routes, split_routes
from symco.problems.cvrp.solvers import HGSCVRP, ExactCVRP, OrToolsCVRP, SavingsCVRP

SHARED = Path(__file__).resolve().parents[3] / "benchmarks" / "instances"


def _line() -> dict[str, np.ndarray]:
    """Depot at 0, customers at 1, 2, 3 on a line; capacity 2, unit demands."""
    return {
        "coords": np.array([[[0, 0], [1, 0], [2, 0], [3, 0]]], dtype=float),
        "demands": np.array([[0, 1, 1, 1]]),
        "capacity": np.array([2]),
    }


def test_route_lengths_by_hand() -> None:
    inst = _line()
    assert CVRP().objective(inst, [np.array([0, 1, 2, 0, 3])])[0] == pytest.approx(4 + 6)
    assert CVRP().objective(inst, [np.array([0, 1, 0, 2, 3])])[0] == pytest.approx(2 + 6)
    assert CVRP().solution_to_json(np.array([0, 1, 0, 2, 3])) == [[1], [2, 3]]
    assert [r.tolist() for r in split_routes(join_routes([[3], [], [1, 2]]))] == [[3], [1, 2]]


@pytest.mark.parametrize(
    "sol, message",
    [
        ([0, 1, 2, 3], "route 1 carries 3 > capacity 2"),
        ([0, 1, 2], "missing \\[3\\]"),
        ([0, 1, 1, 0, 2, 3], "exactly once"),
        ([1, 0, 2, 3], "must start at the depot"),
    ],
)
def test_infeasible_solutions(sol: list[int], message: str) -> None:
    with pytest.raises(InfeasibleSolutionError, match=message):
        CVRP().check_solution(_line(), [np.array(sol)])


def _brute_force(inst: dict[str, np.ndarray]) -> float:
    """Every order of the customers with every way of cutting it into routes."""
    cvrp, n = CVRP(), inst["coords"].shape[1] - 1
    best = np.inf
    for perm in itertools.permutations(range(1, n + 1)):
        for cuts in itertools.product([False, True], repeat=n - 1):
            routes, cur = [], [perm[0]]
            for c, cut in zip(perm[1:], cuts):
                if cut:
                    routes.append(cur)
                    cur = []
                cur.append(c)
            routes.append(cur)
            if all(inst["demands"][0, r].sum() <= inst["capacity"][0] for r in routes):
                best = min(best, cvrp.objective(inst, [join_routes(routes)])[0])
    return best


@pytest.mark.parametrize("n", [2, 4, 6])
def test_exact_matches_brute_force(n: int) -> None:
    cvrp = CVRP()
    inst = cvrp.generate(1, n, rng=np.random.default_rng(n))
    inst["capacity"][:] = 12
    sol = ExactCVRP().solve(inst)
    cvrp.check_solution(inst, [sol])
    assert cvrp.objective(inst, [sol])[0] == pytest.approx(_brute_force(inst))


@pytest.mark.slow
@pytest.mark.parametrize("solver", [OrToolsCVRP, HGSCVRP, SavingsCVRP])
def test_solvers_near_exact_on_tiny(solver: type) -> None:
    cvrp = CVRP()
    inst = cvrp.generate(3, 8, rng=np.random.default_rng(3))
    inst["capacity"][:] = 15
    exact = cvrp.objective(inst, [ExactCVRP().solve(cvrp.select(inst, i)) for i in range(3)])
    sols = [solver(time_limit=0.5).solve(cvrp.select(inst, i)) for i in range(3)]
    cvrp.check_solution(inst, sols)
    got = cvrp.objective(inst, sols)
    assert np.all(got >= exact - 1e-6)
    assert np.all(got <= exact * (1.15 if solver.heuristic else 1.01))


def test_generator_follows_the_paper() -> None:
    inst = CVRP().generate(16, 100, rng=np.random.default_rng(0))
    assert inst["coords"].shape == (16, 101, 2) and CVRP().size(inst) == 100
    d = inst["demands"]
    assert np.all(d[:, 0] == 0) and d[:, 1:].min() == 1 and d[:, 1:].max() == 9
    assert np.all(inst["capacity"] == 50)
    assert [capacity_for(n) for n in (100, 200, 500, 1000, 150, 5)] == [50, 80, 100, 250, 50, 20]


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda i: i["demands"].__setitem__((0, 2), 99),
            "demand of node 2 in instance 0 is 99, larger than the capacity 20",
        ),
        (
            lambda i: i["demands"].__setitem__((1, 3), -1),
            "demand of customer 3 in instance 1 must be positive",
        ),
        (lambda i: i["demands"].__setitem__((0, 0), 4), "depot \\(node 0\\) must have demand 0"),
        (lambda i: i["capacity"].__setitem__(1, 0), "capacity must be positive"),
        (
            lambda i: i["coords"].__setitem__((0, 1, 1), np.nan),
            "'coords' has a non-finite value nan",
        ),
    ],
)
def test_bad_instances_one_line(change, message: str) -> None:
    inst = CVRP().generate(2, 5, rng=np.random.default_rng(0))
    change(inst)
    with pytest.raises(InvalidInstanceError, match=message) as err:
        CVRP().validate(inst, "f.npz")
    assert "\n" not in str(err.value) and str(err.value).startswith("f.npz: ")


def test_reads_cvrplib_with_reference() -> None:
    inst, ref = CVRP().read(SHARED / "X-n101-k25.vrp")
    assert inst["coords"].shape == (1, 101, 2) and CVRP().size(inst) == 100
    assert int(inst["capacity"][0]) == 206 and bool(inst["euc_2d"][0])
    assert ref is not None and ref[0] == 27591


def test_best_known_routes_cost_what_the_file_says(tmp_path: Path) -> None:
    import shutil

    shutil.copy(SHARED / "X-n101-k25.vrp", tmp_path / "x.vrp")
    text = (SHARED / "X-n101-k25.sol").read_text().splitlines()
    (tmp_path / "x.sol").write_text("\n".join(t for t in text if not t.startswith("Cost")) + "\n")
    _, ref = CVRP().read(tmp_path / "x.vrp")  # cost recomputed from the routes, EUC_2D rounding
    assert ref is not None and ref[0] == 27591


def test_write_read_round_trip(tmp_path: Path) -> None:
    cvrp = CVRP()
    inst = cvrp.generate(1, 7, rng=np.random.default_rng(2))
    sol = ExactCVRP().solve(inst)
    cvrp.write(tmp_path / "a.vrp", inst, sol)
    back, ref = cvrp.read(tmp_path / "a.vrp")
    np.testing.assert_allclose(back["coords"], inst["coords"])
    np.testing.assert_array_equal(back["demands"], inst["demands"])
    assert ref is not None and ref[0] == pytest.approx(cvrp.objective(inst, [sol])[0], rel=1e-6)


@pytest.mark.parametrize(
    "content, message",
    [
        ("garbage\n", "not a readable|no NODE_COORD"),
        (
            "NAME: x\nTYPE: CVRP\nDIMENSION: 3\nEDGE_WEIGHT_TYPE: EUC_2D\nCAPACITY: 5\nNODE_COORD_SECTION\n1 0 0\n2 1 1\n3 2 0\nDEMAND_SECTION\n1 0\n2 9\n3 1\nDEPOT_SECTION\n1\n-1\nEOF\n",
            "larger than the capacity 5",
        ),
        (
            "NAME: x\nTYPE: CVRP\nDIMENSION: 3\nEDGE_WEIGHT_TYPE: EUC_2D\nCAPACITY: 5\nNODE_COORD_SECTION\n1 0 0\n2 1 1\n3 2 0\nEOF\n",
            "no DEMAND_SECTION",
        ),
    ],
)
def test_malformed_cvrplib(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.vrp"
    path.write_text(content)
    with pytest.raises((DataFileError, InvalidInstanceError), match=message):
        CVRP().read(path)


def test_torch_objective_and_feasibility_by_hand() -> None:
    """On the line instance: route lengths with padding and a repeated depot; overloaded or
    missing customers are infeasible; ``euc_2d`` rounds each edge."""
    import torch

    inst = {k: torch.as_tensor(v) for k, v in _line().items()}
    tours = torch.tensor(
        [[0, 1, 2, 0, 3, -1], [0, 1, 0, 0, 2, 3], [0, 1, 2, 3, -1, -1], [0, 1, 2, -1, -1, -1]]
    )
    inst = {k: v.expand(4, *v.shape[1:]) for k, v in inst.items()}
    cost = CVRP().objective_torch(inst, tours)
    torch.testing.assert_close(
        cost, torch.tensor([4.0 + 6.0, 2.0 + 6.0, 6.0, 4.0], dtype=torch.float64)
    )
    assert CVRP().feasible_torch(inst, tours).tolist() == [True, True, False, False]
    scaled = {
        **inst,
        "coords": inst["coords"] * 1.3,
        "euc_2d": torch.tensor([True, False, True, True]),
    }
    np.testing.assert_allclose(
        CVRP().objective_torch(scaled, tours).numpy(),
        CVRP().objective(
            {k: v.numpy() for k, v in scaled.items()}, CVRP().unpack_solutions(tours.numpy())
        ),
        rtol=1e-12,
    )
