"""KP specifics: hand-made instances, generator, solvers against brute force, the CLI."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symco.core.cli import main
from symco.core.dataset import read_npz, save_npz
from symco.core.errors import InfeasibleSolutionError, InvalidInstanceError
from symco.problems.kp import KP
from symco.problems.kp.problem import default_capacity
from symco.problems.kp.solvers import DynamicProgrammingKP, GreedyKP, OrToolsKP, integer_instance

HAND = {
    "weights": np.array([[0.5, 0.4, 0.3, 0.2]]),
    "values": np.array([[0.6, 0.45, 0.35, 0.1]]),
    "capacity": np.array([0.7]),
}


def test_objective_by_hand() -> None:
    kp = KP()
    assert kp.validate(HAND) == (1, 4)
    assert kp.objective(HAND, [np.array([0, 3])])[0] == pytest.approx(0.7)
    kp.check_solution(HAND, [np.array([0, 3])])  # weight 0.7: exactly the capacity
    kp.check_solution(HAND, [np.zeros(0, dtype=np.int64)])
    assert kp.objective(HAND, [np.zeros(0, dtype=np.int64)])[0] == 0.0
    # the optimum is items 1 and 2 (0.8); greedy by ratio takes 0 (ratio 1.2), then only 3 fits
    for solver in (OrToolsKP(), DynamicProgrammingKP()):
        assert solver.solve(HAND).tolist() == [1, 2]
    assert GreedyKP().solve(HAND).tolist() == [0, 3]


@pytest.mark.parametrize(
    "items, message",
    [
        ([0, 1], "weigh 0.9, over the capacity 0.7"),
        ([4], r"item 4, not in 0\.\.3"),
        ([-1], r"item -1, not in 0\.\.3"),
        ([2, 2], "item 2 more than once"),
    ],
)
def test_infeasible_solutions(items: list[int], message: str) -> None:
    with pytest.raises(InfeasibleSolutionError, match=message):
        KP().check_solution(HAND, [np.array(items)])


def _brute_force(kp: KP, inst: dict[str, np.ndarray]) -> float:
    n = kp.size(inst)
    best = 0.0
    for k in range(1, n + 1):
        for items in itertools.combinations(range(n), k):
            s = np.array(items)
            if kp.total_weights(inst, [s])[0] <= inst["capacity"][0] + 1e-9:
                best = max(best, kp.objective(inst, [s])[0])
    return best


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 10), st.integers(0, 2**32 - 1))
def test_solvers_against_brute_force(n: int, seed: int) -> None:
    kp = KP()
    inst = kp.generate(1, n, rng=np.random.default_rng(seed))
    best = _brute_force(kp, inst)
    for solver in (OrToolsKP(), DynamicProgrammingKP()):
        items = solver.solve(inst)
        kp.check_solution(inst, [items])
        assert np.all(np.diff(items) > 0)  # sorted
        assert kp.objective(inst, [items])[0] == pytest.approx(best, rel=1e-12)
    greedy = GreedyKP().solve(inst)
    kp.check_solution(inst, [greedy])
    got = kp.objective(inst, [greedy])[0]
    assert best / 2 - 1e-12 <= got <= best + 1e-12  # the 1/2-approximation


def test_off_grid_floats_stay_feasible() -> None:
    rng = np.random.default_rng(0)
    inst = {
        "weights": rng.random((1, 9)) + 1e-3,
        "values": rng.random((1, 9)),
        "capacity": np.array([2.0 + np.pi / 10]),
    }
    w, _, c, scale = integer_instance(inst["weights"][0], inst["values"][0], inst["capacity"][0])
    assert scale == 1_000_000 and np.all(w / scale >= inst["weights"][0]) and c / scale <= 2.32
    kp = KP()
    best = _brute_force(kp, inst)
    for solver in (OrToolsKP(), DynamicProgrammingKP()):
        items = solver.solve(inst)
        kp.check_solution(inst, [items])
        assert kp.objective(inst, [items])[0] == pytest.approx(best, abs=1e-5)


def test_ortools_equals_dp_on_kp100() -> None:
    kp = KP()
    inst = kp.generate(8, 100, rng=np.random.default_rng(100))
    a = [OrToolsKP().solve(kp.select(inst, i)) for i in range(8)]
    b = [DynamicProgrammingKP().solve(kp.select(inst, i)) for i in range(8)]
    kp.check_solution(inst, a)
    np.testing.assert_allclose(kp.objective(inst, a), kp.objective(inst, b), rtol=1e-12)
    assert np.all(
        kp.objective(inst, a)
        >= kp.objective(inst, [GreedyKP().solve(kp.select(inst, i)) for i in range(8)])
    )


def test_generator_ranges_and_capacity() -> None:
    inst = KP().generate(64, 200, rng=np.random.default_rng(0))
    w, v = inst["weights"], inst["values"]
    assert w.shape == v.shape == (64, 200)
    for a in (w, v):
        assert a.min() >= 0.001 and a.max() <= 0.998
        np.testing.assert_allclose(a * 1000, np.rint(a * 1000), atol=1e-9)
        assert 0.45 < a.mean() < 0.55
    assert np.all(inst["capacity"] == 20)
    assert [default_capacity(n) for n in (1, 5, 50, 100, 1000)] == [0.2, 1.0, 10.0, 20.0, 20.0]
    small = KP().generate(200, 6, rng=np.random.default_rng(1))
    # tiny instances are not "take everything"
    assert np.mean(small["weights"].sum(axis=1) > small["capacity"]) > 0.9


@pytest.mark.parametrize("size", [10, 17, 100, 201])
def test_varcap_capacity_range_and_grid(size: int) -> None:
    """``varcap`` capacities span size/20 .. 3 size/10 on the 1/5 grid (1/1000 grid of weights)."""
    cap = KP().generate(4000, size, rng=np.random.default_rng(size), distribution="varcap")[
        "capacity"
    ]
    assert size / 20 - 1e-9 <= cap.min() < size / 20 + 0.2  # the grid's first step at or above
    assert 0.3 * size - 0.2 < cap.max() <= 0.3 * size + 1e-9
    np.testing.assert_allclose(cap * 5, np.rint(cap * 5), atol=1e-9)
    assert len(np.unique(cap)) > size // 4  # spread over the range, not a few values


def test_seeding_uses_only_the_rng() -> None:
    a = KP().generate(2, 7, rng=np.random.default_rng(3))
    np.random.seed(0)
    b = KP().generate(2, 7, rng=np.random.default_rng(3))
    c = KP().generate(2, 7, rng=np.random.default_rng(4))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["weights"], c["weights"])


def _bad(key: str, index: tuple[int, ...], value: float) -> dict[str, np.ndarray]:
    inst = {k: v.copy() for k, v in HAND.items()}
    inst[key][index] = value
    return inst


@pytest.mark.parametrize(
    "inst, message",
    [
        (
            _bad("weights", (0, 2), -0.1),
            r"'weights' must be positive, instance 0, item 2 has -0\.1",
        ),
        (_bad("weights", (0, 1), 0.0), r"'weights' must be positive, instance 0, item 1 has 0\.0"),
        (
            _bad("values", (0, 3), -1.0),
            r"'values' must be non-negative, instance 0, item 3 has -1\.0",
        ),
        (_bad("capacity", (0,), 0.0), r"'capacity' must be positive, instance 0 has 0\.0"),
        (
            _bad("weights", (0, 0), np.nan),
            r"'weights' has a non-finite value nan at index \(0, 0\)",
        ),
        (_bad("values", (0, 0), np.inf), r"'values' has a non-finite value inf"),
    ],
)
def test_bad_instances_one_line(inst: dict[str, np.ndarray], message: str) -> None:
    with pytest.raises(InvalidInstanceError, match=message) as info:
        KP().validate(inst, "f.npz")
    assert "\n" not in str(info.value) and str(info.value).startswith("f.npz: ")


def test_relabelling_keeps_the_objective_and_sorts() -> None:
    kp = KP()
    inst = kp.generate(3, 9, rng=np.random.default_rng(5))
    sols = [DynamicProgrammingKP().solve(kp.select(inst, i)) for i in range(3)]
    perm = np.random.default_rng(6).permutation(9)
    inst2, sols2 = kp.relabel(inst, sols, perm)
    kp.check_solution(inst2, sols2)
    assert all(np.all(np.diff(s) > 0) for s in sols2)
    np.testing.assert_allclose(kp.objective(inst2, sols2), kp.objective(inst, sols))
    again = [OrToolsKP().solve(kp.select(inst2, i)) for i in range(3)]
    np.testing.assert_allclose(kp.objective(inst2, again), kp.objective(inst, sols))


def test_cli_data_then_solve(capsys, tmp_path: Path) -> None:
    out = tmp_path / "kp.npz"
    argv = ["data", "--problem", "kp", "--size", "30", "--num", "4", "--seed", "2"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    arrays = read_npz(out)
    assert arrays["weights"].shape == (4, 30) and arrays["optimal_value"].shape == (4,)
    assert "items" in arrays
    capsys.readouterr()
    jsonl = tmp_path / "r.jsonl"
    assert main(["solve", "--solver", "dp", str(out), "--out", str(jsonl)]) == 0
    lines = [json.loads(x) for x in jsonl.read_text().splitlines()]
    for x, ref in zip(lines, arrays["optimal_value"]):
        assert x["problem"] == "kp" and x["n"] == 30
        assert x["cost"] == pytest.approx(ref, rel=1e-12)
        assert x["solution"] == sorted(x["solution"])


def test_cli_negative_weight_one_line(capsys, tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    save_npz(path, _bad("weights", (0, 2), -0.1))
    assert main(["solve", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'weights' must be positive" in err
