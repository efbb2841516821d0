"""FERNN: exact flow equivariance on small tori, the vectorised cell against the loop, and the
G-RNN (V = {(0, 0)}) against a plain convolutional RNN written out by hand."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from symco.core.symmetry import TorusFlow, check_symmetries, roll2d
from symco.plugins.fernn.lightning import FERNNModule
from symco.plugins.fernn.model import FERNN
from symco.plugins.fernn.velocities import channel_shift, roll_index, velocity_set


def _model(radius: int, axes: str = "xy", hidden: int = 3, seed: int = 0) -> FERNN:
    torch.manual_seed(seed)
    return FERNN(velocity_set(radius, axes), hidden=hidden, decoder_layers=1).double()


def test_velocity_sets() -> None:
    assert velocity_set(1).tolist() == [[a, b] for a in (-1, 0, 1) for b in (-1, 0, 1)]
    assert velocity_set(2, "x").tolist() == [[0, v] for v in range(-2, 3)]
    assert velocity_set(0).tolist() == [[0, 0]]


def test_roll_index_is_torch_roll_with_a_circular_border() -> None:
    x = torch.arange(4 * 5.0).view(4, 5)
    v = torch.tensor([[1, -2], [3, 4]])
    plain = roll_index(v, 4, 5)
    padded = roll_index(v, 4, 5, border=1)
    for k, (dy, dx) in enumerate(v.tolist()):
        rolled = torch.roll(x, (dy, dx), dims=(0, 1))
        assert torch.equal(x.flatten()[plain[k]].view(4, 5), rolled)
        assert torch.equal(x.flatten()[padded[k]].view(6, 7), F.pad(rolled[None], (1,) * 4, "circular")[0])  # fmt: skip


@settings(max_examples=15, deadline=None)
@given(
    st.integers(0, 2**31 - 1),
    st.sampled_from([(1, "xy"), (2, "x"), (1, "x")]),
    st.integers(1, 3),
)
def test_flow_equivariance_is_exact(seed: int, spec: tuple[int, str], t_in: int) -> None:
    radius, axes = spec
    gen = torch.Generator().manual_seed(seed)
    model = _model(radius, axes, seed=seed % 1000)
    side = 2 * radius + 1  # the velocity set is then the whole group Z_side^2 (or Z_side)
    velocities = velocity_set(radius, axes)
    flows = TorusFlow(side, side, velocities=velocities)
    x = torch.rand((2, t_in, 1, side, side), generator=gen, dtype=torch.float64)
    v_hat = flows.sample(2, gen)
    steps = 2
    preds, state = model.rollout(x, steps)
    preds_g, state_g = model.rollout(flows.act(v_hat, x), steps)
    torch.testing.assert_close(
        preds_g, flows.act_offset(v_hat, preds, start=t_in), atol=1e-12, rtol=0
    )
    # the state: channel v of the moved sequence is channel v - v̂ of the original, rolled
    source = channel_shift(velocities, v_hat, side, side)
    assert bool((source >= 0).all())
    moved = state[torch.arange(2)[:, None], source]
    last = t_in + steps - 1
    shift = (last * v_hat)[:, None, :].expand(-1, len(velocities), -1)
    torch.testing.assert_close(state_g, roll2d(moved, shift[..., 0], shift[..., 1]), atol=1e-12, rtol=0)  # fmt: skip


def test_grnn_is_not_flow_equivariant() -> None:
    gen = torch.Generator().manual_seed(0)
    model = _model(0)
    flows = TorusFlow(5, 5, max_speed=1)
    x = torch.rand((4, 3, 1, 5, 5), generator=gen, dtype=torch.float64)
    v_hat = torch.tensor([[0, 1], [1, 0], [1, 1], [0, -1]])
    with torch.no_grad():
        got = model(flows.act(v_hat, x), 2)
        want = flows.act_offset(v_hat, model(x, 2), start=3)
    assert float((got - want).abs().max()) > 1e-3


def test_vectorised_cell_equals_the_velocity_loop() -> None:
    torch.manual_seed(0)
    velocities = velocity_set(1)
    fast = FERNN(velocities, hidden=4, decoder_layers=2).double()
    slow = FERNN(velocities, hidden=4, decoder_layers=2, looped=True).double()
    slow.load_state_dict(fast.state_dict())
    x = torch.rand(3, 4, 1, 7, 6, dtype=torch.float64)  # a non-square grid
    torch.testing.assert_close(fast(x, 3), slow(x, 3), atol=1e-12, rtol=0)
    for a, b in zip(fast.rollout(x, 2), slow.rollout(x, 2)):  # predictions, then the state
        torch.testing.assert_close(a, b, atol=1e-12, rtol=0)


def test_single_velocity_is_a_plain_conv_rnn() -> None:
    """V = {(0, 0)} is the G-RNN: h <- ReLU(conv_u(x) + conv_h(h)), same parameter count."""
    model = _model(0, hidden=3)
    x = torch.rand(2, 3, 1, 6, 6, dtype=torch.float64)
    w_u, w_h = model.cell.conv_u.weight, model.cell.conv_h.weight

    def conv(z: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(z, (1, 1, 1, 1), mode="circular"), w)

    h = torch.zeros(2, 3, 6, 6, dtype=torch.float64)
    for t in range(3):
        h = torch.relu(conv(x[:, t], w_u) + conv(h, w_h))
    preds = []
    for _ in range(2):
        y = model.decoder(h)
        preds.append(y)
        h = torch.relu(conv(y, w_u) + conv(h, w_h))
    torch.testing.assert_close(model(x, 2), torch.stack(preds, 1), atol=1e-12, rtol=0)
    fernn = FERNN(velocity_set(2, "x"), hidden=3, decoder_layers=1)
    assert sum(p.numel() for p in fernn.parameters()) == sum(p.numel() for p in model.parameters())


def test_module_declares_and_passes_its_symmetries() -> None:
    results = check_symmetries(FERNNModule(radius=1, hidden=3, decoder_layers=1), n=3)
    assert len(results) == 4 and all(r.passed for r in results), [r.row() for r in results]
    assert max(r.max_rel for r in results) <= 1e-12


def test_grnn_module_fails_the_flow_check_only() -> None:
    results = check_symmetries(
        FERNNModule(radius=0, hidden=3, decoder_layers=1, flow_radius=1), n=4
    )
    by_group = {r.label.partition(":")[0]: r for r in results if r.label.startswith("torus-flow")}
    assert not by_group["torus-flow"].passed and by_group["torus-flow"].max_rel > 1e-3
    # the state's channel relation is not declared (v - v̂ has no channel), translations hold
    assert len(results) == 3
    assert all(r.passed for r in results if r.label.startswith("torus-translation"))
