"""OP specifics: hand-made instances, prizes, budgets, solvers against the exact DP, the CLI."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symco.core.cli import main
from symco.core.dataset import read_npz
from symco.core.errors import InfeasibleSolutionError, InvalidInstanceError
from symco.problems.op import OP
from symco.problems.op.problem import default_max_length
from symco.problems.op.solvers import ExactOP, GreedyOP, OrToolsOP

# depot at the origin, nodes on the unit square's corners and one far away
SQUARE = {
    "coords": np.array([[[0, 0], [1, 0], [1, 1], [0, 1], [5, 5]]], dtype=float),
    "prizes": np.array([[0, 0.1, 0.2, 0.3, 9.0]]),
    "max_length": np.array([4.0]),
}


def test_objective_and_length_by_hand() -> None:
    op = OP()
    assert op.validate(SQUARE) == (1, 4)
    tour = np.array([1, 2, 3])
    assert op.objective(SQUARE, [tour])[0] == pytest.approx(0.6)
    assert op.lengths(SQUARE, [tour])[0] == pytest.approx(4.0)
    op.check_solution(SQUARE, [tour])  # exactly on the budget
    assert op.objective(SQUARE, [np.array([], dtype=np.int64)])[0] == 0.0
    op.check_solution(SQUARE, [np.array([], dtype=np.int64)])


@pytest.mark.parametrize(
    "tour, message",
    [
        ([1, 2, 4], "over its max_length"),
        ([0, 1], r"node 0, not in 1\.\.4"),
        ([1, 5], r"node 5, not in 1\.\.4"),
        ([1, 2, 1], "node 1 more than once"),
    ],
)
def test_infeasible_tours(tour: list[int], message: str) -> None:
    with pytest.raises(InfeasibleSolutionError, match=message):
        OP().check_solution(SQUARE, [np.array(tour)])


def test_exact_on_the_square() -> None:
    # the far node (prize 9) needs a round trip of 14.1 > 4: the best is the whole square
    tour = ExactOP().solve(SQUARE)
    assert sorted(tour.tolist()) == [1, 2, 3]


@pytest.mark.parametrize("n", [1, 2, 4, 6, 7])
def test_exact_matches_brute_force(n: int) -> None:
    op = OP()
    inst = op.generate(1, n, rng=np.random.default_rng(n))
    best = 0.0
    for k in range(1, n + 1):
        for tour in itertools.permutations(range(1, n + 1), k):
            t = np.array(tour)
            if op.lengths(inst, [t])[0] <= inst["max_length"][0]:
                best = max(best, op.objective(inst, [t])[0])
    tour = ExactOP().solve(inst)
    op.check_solution(inst, [tour])
    assert op.objective(inst, [tour])[0] == pytest.approx(best)


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 9), st.integers(0, 2**32 - 1), st.sampled_from(OP.distributions))
def test_solvers_against_exact(n: int, seed: int, distribution: str) -> None:
    op = OP()
    inst = op.generate(1, n, rng=np.random.default_rng(seed), distribution=distribution)
    ref = op.objective(inst, [ExactOP().solve(inst)])[0]
    ort = OrToolsOP(time_limit=0.2).solve(inst)
    greedy = GreedyOP().solve(inst)
    both = {k: np.concatenate([v, v]) for k, v in inst.items()}
    op.check_solution(both, [ort, greedy])
    got = op.objective(both, [ort, greedy])
    assert got[0] == pytest.approx(ref, rel=1e-9)
    assert got[1] <= ref * (1 + 1e-9)


def test_ortools_never_below_greedy_on_op50() -> None:
    op = OP()
    inst = op.generate(2, 50, rng=np.random.default_rng(50))
    ort = [OrToolsOP(time_limit=0.3).solve(op.select(inst, i)) for i in range(2)]
    greedy = [GreedyOP().solve(op.select(inst, i)) for i in range(2)]
    op.check_solution(inst, ort)
    assert np.all(op.objective(inst, ort) >= op.objective(inst, greedy) - 1e-9)


def test_tight_budget_never_exceeded() -> None:
    # budgets set to exactly the length of the exact tour: integer rounding must not overshoot
    op = OP()
    inst = op.generate(4, 8, rng=np.random.default_rng(8))
    tours = [ExactOP().solve(op.select(inst, i)) for i in range(4)]
    inst["max_length"] = op.lengths(inst, tours)
    ort = [OrToolsOP(time_limit=0.1).solve(op.select(inst, i)) for i in range(4)]
    op.check_solution(inst, ort)
    assert np.all(op.lengths(inst, ort) <= inst["max_length"] * (1 + 1e-9))


def test_distance_prizes_formula() -> None:
    inst = OP().generate(16, 50, rng=np.random.default_rng(0))
    c, p = inst["coords"], inst["prizes"]
    assert c.shape == (16, 51, 2) and c.min() >= 0 and c.max() < 1
    d = np.linalg.norm(c[:, 1:] - c[:, :1], axis=-1)
    # the order of Kool et al. and BQ-NCO: (d / max d) * 99, then floor
    want = (1 + np.floor(d / d.max(axis=1, keepdims=True) * 99)) / 100
    np.testing.assert_allclose(p[:, 1:], want)
    assert np.all(p[:, 0] == 0)
    assert np.all(p[:, 1:] >= 0.01) and np.all(p[:, 1:] <= 1.0)
    assert np.all(p[:, 1:].max(axis=1) == 1.0)  # the farthest node
    np.testing.assert_allclose(p * 100, np.rint(p * 100), atol=1e-9)  # a 0.01 grid


def test_uniform_prizes_and_budgets() -> None:
    inst = OP().generate(3, 10, rng=np.random.default_rng(0), distribution="uniform")
    assert np.all(inst["prizes"][:, 1:] == 1) and np.all(inst["prizes"][:, 0] == 0)
    assert [default_max_length(n) for n in (1, 20, 21, 50, 51, 100, 200, 1000)] == [
        2,
        2,
        3,
        3,
        4,
        4,
        4,
        4,
    ]
    assert np.all(OP().generate(2, 100, rng=np.random.default_rng(0))["max_length"] == 4)


def test_seeding_uses_only_the_rng() -> None:
    a = OP().generate(2, 7, rng=np.random.default_rng(3))
    np.random.seed(0)  # the global RNG must not matter
    b = OP().generate(2, 7, rng=np.random.default_rng(3))
    assert all(np.array_equal(a[k], b[k]) for k in a)


def _bad(**change: object) -> dict[str, np.ndarray]:
    inst = {k: v.copy() for k, v in SQUARE.items()}
    for key, (index, value) in change.items():
        inst[key][index] = value
    return inst


@pytest.mark.parametrize(
    "inst, message",
    [
        (
            _bad(prizes=((0, 2), -0.5)),
            r"'prizes' must be non-negative, instance 0 has -0\.5 at node 2",
        ),
        (
            _bad(prizes=((0, 0), 1.0)),
            r"'prizes' of the depot \(node 0\) must be 0, instance 0 has 1\.0",
        ),
        (_bad(max_length=(0, 0.0)), r"'max_length' must be positive, instance 0 has 0\.0"),
        (
            _bad(max_length=(0, 1.5)),
            r"'max_length' of instance 0 is 1\.5, too small to leave the depot",
        ),
        (
            _bad(coords=((0, 2, 1), np.nan)),
            r"'coords' has a non-finite value nan at index \(0, 2, 1\)",
        ),
        (_bad(prizes=((0, 3), np.inf)), r"'prizes' has a non-finite value inf"),
    ],
)
def test_bad_instances_one_line(inst: dict[str, np.ndarray], message: str) -> None:
    with pytest.raises(InvalidInstanceError, match=message) as info:
        OP().validate(inst, "f.npz")
    assert "\n" not in str(info.value) and str(info.value).startswith("f.npz: ")


def test_relabelling_keeps_the_objective() -> None:
    op = OP()
    inst = op.generate(2, 8, rng=np.random.default_rng(1))
    sols = [ExactOP().solve(op.select(inst, i)) for i in range(2)]
    rng = np.random.default_rng(2)
    perm = np.array([0, *(1 + rng.permutation(8))])
    inst2, sols2 = op.relabel(inst, sols, perm)
    op.check_solution(inst2, sols2)
    np.testing.assert_allclose(op.objective(inst2, sols2), op.objective(inst, sols))
    np.testing.assert_allclose(op.lengths(inst2, sols2), op.lengths(inst, sols))
    # and the exact optimum of the relabelled instance is the same
    again = [ExactOP().solve(op.select(inst2, i)) for i in range(2)]
    np.testing.assert_allclose(op.objective(inst2, again), op.objective(inst, sols))


def test_pack_unpack_with_empty_tour() -> None:
    op = OP()
    sols = [np.array([3, 1], dtype=np.int64), np.zeros(0, dtype=np.int64)]
    back = op.unpack_solutions(op.pack_solutions(sols))
    assert [b.tolist() for b in back] == [[3, 1], []]


def test_cli_data_then_solve(capsys, tmp_path: Path) -> None:
    out = tmp_path / "op.npz"
    argv = ["data", "--problem", "op", "--size", "7", "--num", "3", "--solver", "exact"]
    assert main([*argv, "--seed", "1", "--out", str(out), "--quiet"]) == 0
    arrays = read_npz(out)
    assert arrays["coords"].shape == (3, 8, 2) and arrays["prizes"].shape == (3, 8)
    assert arrays["max_length"].shape == (3,) and arrays["prizes_collected"].shape == (3,)
    capsys.readouterr()
    jsonl = tmp_path / "r.jsonl"
    args = ["solve", "--solver", "ortools", "--time-limit", "0.1", str(out), "--out", str(jsonl)]
    assert main(args) == 0
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert [x["problem"] for x in lines] == ["op"] * 3
    for x, ref in zip(lines, arrays["prizes_collected"]):
        assert x["n"] == 7 and x["cost"] == pytest.approx(ref)
        assert x["gap_percent"] == pytest.approx(0.0, abs=1e-9)


def test_cli_bad_budget_one_line(capsys, tmp_path: Path) -> None:
    from symco.core.dataset import save_npz

    path = tmp_path / "bad.npz"
    save_npz(path, _bad(max_length=(0, 0.5)))
    assert main(["solve", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "too small to leave the depot" in err
