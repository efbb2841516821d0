"""CVRP, OP and KP reductions: quotient property and training samples that match rolled states."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from symco.plugins.bq.cvrp import VIA_DEPOT, BQCVRPReducer
from symco.plugins.bq.kp import BQKPReducer
from symco.plugins.bq.op import BQOPReducer
from symco.problems.cvrp import CVRP
from symco.problems.cvrp.solvers import ExactCVRP
from symco.problems.kp import KP
from symco.problems.kp.solvers import DynamicProgrammingKP
from symco.problems.op import OP
from symco.problems.op.solvers import ExactOP


def _tensors(inst: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v) for k, v in inst.items()}


def _canonical(batch, row: int) -> torch.Tensor:
    """Features of one reduced row with its real nodes sorted by original index (order-free)."""
    idx = batch.node_index[row]
    keep = idx >= 0
    feats, nodes, types = batch.features[row][keep], idx[keep], batch.node_type[row][keep]
    order = torch.argsort(nodes * 10 + types)
    return torch.cat([feats[order], nodes[order, None].float(), types[order, None].float()], 1)


def test_cvrp_quotient_same_tail_same_state() -> None:
    """Two partial solutions ending at the same customer with the same load and the same remaining
    customers reduce to the identical state."""
    inst = {
        "coords": np.random.default_rng(0).random((1, 7, 2)),
        "demands": np.array([[0, 2, 2, 3, 1, 1, 1]]),
        "capacity": np.array([10]),
    }
    red = BQCVRPReducer()
    a = b = red.init_state(_tensors(inst))
    for node, act in ((1, VIA_DEPOT), (2, 0), (3, 0)):  # route 1-2-3: load 10-7 = 3
        a = red.step(a, torch.tensor([node]), torch.tensor([act]))
    for node, act in ((2, VIA_DEPOT), (1, 0), (3, 0)):  # route 2-1-3: same set, same end, same load
        b = red.step(b, torch.tensor([node]), torch.tensor([act]))
    ra, rb = red.reduce(a), red.reduce(b)
    for f in ("features", "node_type", "action_mask", "node_index"):
        assert torch.equal(getattr(ra, f), getattr(rb, f))
    # customers 4..6 (demand 1) fit directly with 3 units left; via the depot is always allowed
    assert ra.action_mask[0, 1:-1].all()


@pytest.mark.parametrize("seed", range(6))
def test_cvrp_samples_match_the_rolled_state(seed: int) -> None:
    """`expand` (no augmentation) builds exactly the state the expert's trajectory reaches."""
    cvrp = CVRP()
    inst = cvrp.generate(3, 8, rng=np.random.default_rng(seed))
    inst["capacity"][:] = 12  # several routes
    sols = [ExactCVRP().solve(cvrp.select(inst, i)) for i in range(3)]
    tens, packed = _tensors(inst), torch.as_tensor(cvrp.pack_solutions(sols))
    red = BQCVRPReducer(augment=False)
    sample = red.expand(tens, packed, generator=torch.Generator().manual_seed(seed))
    t = 8 + 2 - sample.features.shape[1]
    node, action = red.trajectory(tens, packed)
    state = red.init_state(tens)
    for k in range(t):
        state = red.step(state, node[:, k], action[:, k])
    rolled = red.reduce(state)
    for row in range(3):
        torch.testing.assert_close(_canonical(sample, row), _canonical(rolled, row))
        hit = sample.target[row].nonzero()
        assert [node[row, t], action[row, t]] in [[sample.node_index[row, p], a] for p, a in hit]
        # a new route: both ends of every remaining route, via depot
        if action[row, t] == VIA_DEPOT:
            starts = action[row, t:].bool()
            ends = torch.cat([starts[1:], torch.tensor([True])])
            want = sorted(node[row, t:][starts | ends].tolist())
            assert (hit[:, 1] == VIA_DEPOT).all()
            assert sorted(sample.node_index[row, hit[:, 0]].tolist()) == want
        else:  # inside a route the expert's next customer is the only target
            assert hit.shape[0] == 1
        assert not (sample.target.bool() & ~sample.action_mask).any()


@pytest.mark.parametrize(
    "red_cls, problem, solver",
    [
        (partial(BQOPReducer, augment=False), OP(), ExactOP),
        (BQKPReducer, KP(), DynamicProgrammingKP),
    ],
)
@pytest.mark.parametrize("seed", range(4))
def test_op_kp_samples_are_reachable_states(red_cls, problem, solver, seed: int) -> None:
    """Every OP/KP sample's targets are the expert's remaining optimal actions: decoding the target
    then following the expert reaches the expert's objective."""
    inst = problem.generate(4, 9, rng=np.random.default_rng(seed))
    sols = [solver().solve(problem.select(inst, i)) for i in range(4)]
    tens, packed = _tensors(inst), torch.as_tensor(problem.pack_solutions(sols))
    red = red_cls()  # KP has no augmentation to switch off
    batch = red.expand(tens, packed, generator=torch.Generator().manual_seed(seed))
    assert torch.all(batch.target.sum((1, 2)) > 0)
    assert not (batch.target.bool() & ~batch.action_mask).any()
    opt = set()
    for i, s in enumerate(sols):
        opt |= {(i, int(v)) for v in s}
    for i in range(4):
        for pos in batch.target[i, :, 0].nonzero()[:, 0].tolist():
            v = int(batch.node_index[i, pos])
            assert (i, v) in opt or (problem.name == "op" and v == 0)  # OP may end at the depot


def test_kp_drops_items_that_no_longer_fit() -> None:
    inst = {
        "weights": np.array([[0.5, 0.4, 0.3, 0.9]]),
        "values": np.array([[1.0, 0.5, 0.4, 2.0]]),
        "capacity": np.array([1.0]),
    }
    red = BQKPReducer()
    state = red.step(red.init_state(_tensors(inst)), torch.tensor([0]), torch.tensor([0]))
    batch = red.reduce(state)
    left = batch.node_index[0][batch.node_index[0] >= 0]
    assert sorted(left.tolist()) == [1, 2]  # 0.9 > 0.5 left
    # features: value / largest remaining value, weight / remaining capacity, remaining / total
    # capacity, tightness = remaining capacity / remaining weight (capped at 1)
    torch.testing.assert_close(
        batch.features[0],
        torch.tensor(
            [[0.5 / 0.5, 0.4 / 0.5, 0.5, 0.5 / 0.7], [0.4 / 0.5, 0.3 / 0.5, 0.5, 0.5 / 0.7]]
        ),
    )
    loose = {**inst, "weights": np.array([[0.5, 0.1, 0.2, 0.9]])}
    state = red.step(red.init_state(_tensors(loose)), torch.tensor([0]), torch.tensor([0]))
    assert red.reduce(state).features[0, :, 3].tolist() == [1.0, 1.0]  # 0.5 left for 0.3: capped


def test_op_distance_features_by_hand() -> None:
    """Depot (0,0), nodes at (3,0), (3,4), (0,4); budget 20, standing on (3,0) after 3 units."""
    inst = {
        "coords": np.array([[[0.0, 0.0], [3.0, 0.0], [3.0, 4.0], [0.0, 4.0]]]),
        "prizes": np.array([[0.0, 0.1, 0.2, 0.3]]),
        "max_length": np.array([20.0]),
    }
    red = BQOPReducer(normalize=False)
    state = red.step(red.init_state(_tensors(inst)), torch.tensor([1]), torch.tensor([0]))
    batch = red.reduce(state)  # [origin 1, node 2, node 3, depot 0]; 17 left
    assert batch.node_index[0].tolist() == [1, 2, 3, 0]
    d_go, d_back, slack = batch.features[0, :, 4], batch.features[0, :, 5], batch.features[0, :, 6]
    torch.testing.assert_close(d_go, torch.tensor([0.0, 4.0, 5.0, 3.0]))
    torch.testing.assert_close(d_back, torch.tensor([3.0, 5.0, 4.0, 0.0]))
    torch.testing.assert_close(slack, 1 - (d_go + d_back) / 17)
    # normalising scales lengths (the frame here is 3 wide, 4 high: scale 1/4), not the slack
    scaled = BQOPReducer(normalize=True).reduce(state).features[0]
    torch.testing.assert_close(scaled[:, 3:6], batch.features[0, :, 3:6] / 4)
    torch.testing.assert_close(scaled[:, 6], slack)


def test_cvrp_refill_feature_by_hand() -> None:
    """Refill price of j = d(origin, depot) + d(depot, j) - d(origin, j)."""
    inst = {
        "coords": np.array([[[0.0, 0.0], [3.0, 0.0], [3.0, 4.0], [0.0, 4.0]]]),
        "demands": np.array([[0, 1, 1, 1]]),
        "capacity": np.array([5]),
    }
    red = BQCVRPReducer(normalize=False)
    state = red.step(red.init_state(_tensors(inst)), torch.tensor([1]), torch.tensor([VIA_DEPOT]))
    batch = red.reduce(state)  # [origin 1, customers 2, 3, depot 0]
    assert batch.node_index[0].tolist() == [1, 2, 3, 0]
    d_go, d_back, refill = batch.features[0, :, 4], batch.features[0, :, 5], batch.features[0, :, 6]
    torch.testing.assert_close(d_go, torch.tensor([0.0, 4.0, 5.0, 3.0]))
    torch.testing.assert_close(d_back, torch.tensor([3.0, 5.0, 4.0, 0.0]))
    torch.testing.assert_close(refill, torch.tensor([6.0, 4.0, 2.0, 0.0]))


def test_cvrp_state_from_partial_reads_routes_and_load() -> None:
    """``[0, a, b, 0, c]``: via-depot flags on ``a`` and ``c``, the load of the current route only;
    a trailing depot changes nothing; rows must serve as many customers."""
    inst = _tensors(CVRP().generate(2, 6, rng=np.random.default_rng(0)))
    red = BQCVRPReducer()
    partial = torch.tensor([[0, 1, 2, 0, 3, -1], [0, 4, 0, 5, 6, 0]])
    state = red.state_from_partial(inst, partial)
    assert state.tour.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert state.via.tolist() == [[True, False, True], [True, True, False]]
    d, cap = inst["demands"].float(), inst["capacity"].float()
    torch.testing.assert_close(
        state.load, torch.stack([cap[0] - d[0, 3], cap[1] - d[1, 5:7].sum()])
    )
    stepped = red.init_state(inst)
    for t in range(3):
        stepped = red.step(stepped, state.tour[:, t], state.via[:, t].long())
    assert torch.equal(red.reduce(stepped).features, red.reduce(state).features)
    with pytest.raises(ValueError, match="same number of customers"):
        red.state_from_partial(inst, torch.tensor([[0, 1, 2], [0, 4, -1]]))


def test_op_kp_state_from_partial_budget_and_capacity() -> None:
    """OP: the budget left is ``max_length`` less the open path depot -> ... -> current, rows of
    any length; KP: the capacity less the packed weight."""
    inst = _tensors(OP().generate(2, 6, rng=np.random.default_rng(1)))
    state = BQOPReducer().state_from_partial(inst, torch.tensor([[2, 5], [3, -1]]))
    xy = inst["coords"].float()
    used0 = (xy[0, 2] - xy[0, 0]).norm() + (xy[0, 5] - xy[0, 2]).norm()
    used1 = (xy[1, 3] - xy[1, 0]).norm()
    torch.testing.assert_close(state.left, inst["max_length"].float() - torch.stack([used0, used1]))
    assert state.current.tolist() == [5, 3] and not state.ended.any()
    with pytest.raises(ValueError, match="depot"):
        BQOPReducer().state_from_partial(inst, torch.tensor([[2, 0], [3, -1]]))
    kp = _tensors(KP().generate(2, 6, rng=np.random.default_rng(2)))
    state = BQKPReducer().state_from_partial(kp, torch.tensor([[4, 1], [-1, -1]]))
    w = kp["weights"].float()
    torch.testing.assert_close(
        state.left, kp["capacity"].float() - torch.stack([w[0, 1] + w[0, 4], w[1, 0] * 0])
    )
    assert state.packed.sum(dim=1).tolist() == [2, 0]
