"""The BQ reduction of the TSP: quotient, round trip, targets, kNN."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from symco.plugins.bq.tsp import BQTSPDistanceReducer, BQTSPReducer
from symco.problems.tsp import TSP
from symco.problems.tsp.solvers import ExactTSP


def _instances(b: int, n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    inst = TSP().generate(b, n, rng=np.random.default_rng(seed))
    return {k: torch.as_tensor(v) for k, v in inst.items()}


def _walk(red: BQTSPReducer, inst: dict[str, torch.Tensor], prefix: list[int]):
    state = red.init_state(inst, first=torch.tensor([prefix[0]]))
    for v in prefix[1:]:
        state = red.step(state, torch.tensor([v]), torch.tensor([0]))
    return state


def test_same_remaining_set_and_endpoints_reduce_identically() -> None:
    red, inst = BQTSPReducer(), _instances(1, 9)
    a = red.reduce(_walk(red, inst, [0, 3, 5, 1, 7]))
    b = red.reduce(_walk(red, inst, [0, 1, 5, 3, 7]))  # other order, same set, same endpoints
    for field in ("features", "node_type", "action_mask", "node_index"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field
    c = red.reduce(_walk(red, inst, [0, 3, 5, 7, 1]))  # other current node: a different state
    assert not torch.equal(a.node_index, c.node_index)


def test_reduced_state_layout() -> None:
    red, inst = BQTSPReducer(), _instances(1, 6)
    batch = red.reduce(_walk(red, inst, [2, 4]))
    assert batch.node_index.tolist() == [
        [4, 0, 1, 3, 5, 2]
    ]  # origin, remaining by index, destination
    assert batch.node_type.tolist() == [[1, 0, 0, 0, 0, 2]]
    assert batch.action_mask[..., 0].tolist() == [[False, True, True, True, True, False]]
    f = batch.features[0]
    assert f.min() == 0 and f.max() == 1  # normalised to the unit square


def test_expert_roll_out_reproduces_tour_and_cost() -> None:
    tsp, red = TSP(), BQTSPReducer()
    inst = _instances(3, 8, seed=4)
    np_inst = {k: v.numpy() for k, v in inst.items()}
    tours = [ExactTSP().solve(tsp.select(np_inst, i)) for i in range(3)]
    state = red.init_state(inst)
    for t in range(1, 8):
        batch = red.reduce(state)
        node = torch.tensor([tour[t] for tour in tours])
        # the expert's next node is always among the feasible actions of the reduced state
        pos = (batch.node_index == node[:, None]).float().argmax(1)
        assert batch.action_mask[torch.arange(3), pos, 0].all()
        state = red.step(state, node, torch.zeros(3, dtype=torch.long))
    assert red.done(state).all()
    sols = red.solutions(state)
    assert all(np.array_equal(a, b) for a, b in zip(sols, tours))
    np.testing.assert_allclose(tsp.objective(np_inst, sols), tsp.objective(np_inst, tours))


@settings(max_examples=30, deadline=None)
@given(n=st.integers(4, 12), seed=st.integers(0, 10**6))
def test_expanded_targets_are_feasible_optimal_next_steps(n: int, seed: int) -> None:
    tsp, red = TSP(), BQTSPReducer()
    inst = _instances(2, n, seed)
    np_inst = {k: v.numpy() for k, v in inst.items()}
    tours = torch.as_tensor(np.stack([ExactTSP().solve(tsp.select(np_inst, i)) for i in range(2)]))
    batch = red.expand(inst, tours, generator=torch.Generator().manual_seed(seed))
    assert batch.target is not None
    assert torch.all(batch.target.sum((1, 2)) == 1)
    assert not (batch.target.bool() & ~batch.action_mask).any()
    # origin -> target is an edge of the expert tour (either direction)
    for i in range(2):
        o = int(batch.node_index[i, 0])
        nxt = int(batch.node_index[i, batch.target[i, :, 0].argmax()])
        t = tours[i].tolist()
        k = t.index(o)
        assert nxt in (t[(k + 1) % n], t[k - 1])


def test_knn_keeps_nearest_and_destination() -> None:
    red, inst = BQTSPReducer(), _instances(1, 30)
    state = _walk(red, inst, [0, 5])
    batch = red.reduce(state, knn=6)
    assert batch.node_index.shape == (1, 8)
    kept = set(batch.node_index[0, 1:-1].tolist())
    d = torch.linalg.vector_norm(inst["coords"][0] - inst["coords"][0, 5], dim=-1)
    d[[0, 5]] = float("inf")
    assert kept == set(torch.topk(d, 6, largest=False).indices.tolist())
    assert int(batch.node_index[0, -1]) == 0


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.1, 10.0), st.floats(-5.0, 5.0))
def test_knn_view_is_framed_by_the_neighbourhood(seed: int, scale: float, shift: float) -> None:
    """A truncated kNN view is translated and scaled by the origin and its neighbours, which then
    span the unit square on their longer side; the destination is clamped into the square. The view
    does not change when the whole instance is moved and scaled."""
    red, inst = BQTSPDistanceReducer(), _instances(1, 40, seed)
    walk = [0, *np.random.default_rng(seed).permutation(np.arange(1, 40))[:5].tolist()]
    batch = red.reduce(_walk(red, inst, walk), knn=8)
    xy = batch.features[0, :, :2]  # (M, 2)
    body = xy[:-1]
    assert torch.equal(body.amin(dim=0), torch.zeros(2))
    torch.testing.assert_close(
        (body.max(dim=0).values - body.min(dim=0).values).max(), torch.tensor(1.0)
    )
    assert bool(((xy >= 0) & (xy <= 1)).all())
    far = inst["coords"][0, 0].float()  # the destination, clamped: on or inside the square
    near = inst["coords"][0, batch.node_index[0, :-1]].float()  # origin and neighbours
    lo = near.amin(dim=0)
    span = (near.amax(dim=0) - lo).max()
    torch.testing.assert_close(xy[-1], ((far - lo) / span).clamp(0, 1))
    moved = {"coords": inst["coords"] * scale + shift}
    again = red.reduce(_walk(red, moved, walk), knn=8)
    assert torch.equal(again.node_index, batch.node_index)
    torch.testing.assert_close(again.features, batch.features, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("normalize", [True, False])
def test_select_and_batch_shapes(normalize: bool) -> None:
    red, inst = BQTSPReducer(normalize=normalize), _instances(4, 7)
    state = red.select(red.init_state(inst), torch.tensor([2, 2, 0]))
    assert red.reduce(state).features.shape == (3, 8, 2)


@pytest.mark.parametrize("normalize", [False, True])
def test_distance_reducer_adds_distances_to_both_ends(normalize: bool) -> None:
    """``bq-dist`` = ``bq`` coordinates + each node's distance to the origin and the destination,
    in the same (normalised) frame; samples for training carry them too."""
    inst = _instances(2, 12, seed=3)
    plain, dist = BQTSPReducer(normalize=normalize), BQTSPDistanceReducer(normalize=normalize)
    state = plain.step(plain.init_state(inst), torch.tensor([4, 7]), torch.tensor([0, 0]))
    a, b = plain.reduce(state, knn=6), dist.reduce(state, knn=6)
    assert b.features.shape == (*a.features.shape[:2], 4)
    torch.testing.assert_close(b.features[..., :2], a.features)
    xy = a.features
    torch.testing.assert_close(b.features[..., 2], (xy - xy[:, :1]).norm(dim=-1))
    torch.testing.assert_close(b.features[..., 3], (xy - xy[:, -1:]).norm(dim=-1))
    assert torch.equal(b.node_index, a.node_index) and torch.equal(b.action_mask, a.action_mask)
    tours = torch.stack(
        [torch.randperm(12, generator=torch.Generator().manual_seed(s)) for s in (0, 1)]
    )
    sample = dist.expand(inst, tours, generator=torch.Generator().manual_seed(0))
    xy = sample.features[..., :2]
    torch.testing.assert_close(sample.features[..., 2], (xy - xy[:, :1]).norm(dim=-1))


def test_init_from_fewer_features_starts_from_the_same_function(tmp_path) -> None:
    """A ``bq`` model warm-starts a ``bq-dist`` one: zero weights on the appended inputs, so both
    give the same logits before training."""
    from functools import partial

    from symco.plugins.bq.lightning import BQModule
    from symco.plugins.bq.policy import BQTransformer
    from symco.problems.tsp.problem import TSP

    small = partial(BQTransformer, num_layers=1, dim=16, heads=2, ff_dim=16)
    src = BQModule(TSP(), BQTSPReducer(), small)  # components injected directly, in Python
    torch.save(
        {"state_dict": src.state_dict(), "hyper_parameters": dict(src.hparams)},
        tmp_path / "src.ckpt",
    )
    dst = BQModule(TSP(), BQTSPDistanceReducer(), small, init_from=str(tmp_path / "src.ckpt"))
    dst.setup("fit")
    inst = _instances(2, 10, seed=1)
    state = src.reducer.init_state(inst)
    src.policy.eval(), dst.policy.eval()
    with torch.no_grad():
        a = src.policy(src.reducer.reduce(state))
        b = dst.policy(dst.reducer.reduce(state))
    torch.testing.assert_close(a, b)


def test_state_from_partial_is_the_walked_state_and_checks_lengths() -> None:
    red, inst = BQTSPReducer(), _instances(2, 8)
    partial = torch.tensor([[0, 3, 5, -1], [2, 4, 7, -1]])
    state = red.state_from_partial(inst, partial)
    for row, prefix in enumerate([[0, 3, 5], [2, 4, 7]]):
        walked = red.reduce(_walk(red, {k: v[row : row + 1] for k, v in inst.items()}, prefix))
        got = red.reduce(red.select(state, torch.tensor([row])))
        assert torch.equal(got.node_index, walked.node_index)
        assert torch.equal(got.features, walked.features)
    empty = red.state_from_partial(inst, torch.full((2, 3), -1))
    assert torch.equal(empty.tour, red.init_state(inst).tour)
    with pytest.raises(ValueError, match="same length"):
        red.state_from_partial(inst, torch.tensor([[0, 3, 5], [2, 4, -1]]))
    with pytest.raises(ValueError, match="twice"):
        red.state_from_partial(inst, torch.tensor([[0, 3, 3], [2, 4, 7]]))


def test_tour_minus_a_segment_is_the_path_tsp_of_the_segment() -> None:
    """Random re-construction: the tour without the segment ``tour[a:b]``, rotated to start at
    ``tour[b]``, reduces to the path-TSP from ``tour[a-1]`` to ``tour[b]`` through the segment."""
    red, inst = BQTSPReducer(), _instances(1, 9, seed=3)
    tour = torch.tensor([4, 0, 7, 2, 8, 1, 6, 3, 5])
    a, b = 3, 6  # the segment 2, 8, 1
    kept = torch.cat([tour[b:], tour[:a]])[None]  # [6, 3, 5, 4, 0, 7]
    batch = red.reduce(red.state_from_partial(inst, kept))
    assert batch.node_index[0, 0] == tour[a - 1] and batch.node_index[0, -1] == tour[b]
    assert sorted(batch.node_index[0, 1:-1].tolist()) == sorted(tour[a:b].tolist())
