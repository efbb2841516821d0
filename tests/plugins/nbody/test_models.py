"""The n-body backbones: shapes, training, and their symmetries as hypothesis properties over
random rotations, reflections, translations and permutations, in float64."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor, nn

from symco.core.symmetry import DegenerateFrameError, haar_orthogonal
from symco.plugins.nbody.egnn import EGNN
from symco.plugins.nbody.egnn_layer import EGNNLayer
from symco.plugins.nbody.frame_averaging import FrameAveraging
from symco.plugins.nbody.gnn import GNN
from symco.plugins.nbody.linear import Linear

F64 = torch.float64


def _models() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    models = {
        "linear": Linear(alpha_init=0.7),
        "egnn": EGNN(hidden=16, num_layers=2),
        "fa-gnn": FrameAveraging(GNN(hidden=16, num_layers=2)),
        "gnn": GNN(hidden=16, num_layers=2),
    }
    return {k: m.to(F64).eval() for k, m in models.items()}


MODELS = _models()
EQUIVARIANT = ["linear", "egnn", "fa-gnn"]


def _inputs(gen: torch.Generator, b: int = 3, n: int = 5) -> tuple[Tensor, Tensor, Tensor]:
    loc = torch.randn(b, n, 3, generator=gen, dtype=F64)
    vel = 0.5 * torch.randn(b, n, 3, generator=gen, dtype=F64)
    charges = (2 * torch.randint(0, 2, (b, n), generator=gen) - 1).to(F64)
    return loc, vel, charges


def _rel(got: Tensor, want: Tensor) -> float:
    return float((got - want).abs().max() / want.abs().max())


motions = st.tuples(st.integers(0, 2**31 - 1), st.booleans(), st.floats(0.0, 5.0))


@pytest.mark.parametrize("name", EQUIVARIANT)
@settings(max_examples=12, deadline=None)
@given(motion=motions)
def test_equivariant_to_rigid_motions(name: str, motion: tuple[int, bool, float]) -> None:
    """f(x R^T + t, v R^T, q) = f(x, v, q) R^T + t for R in O(3) (a reflection forced or not)."""
    seed, reflect, scale = motion
    gen = torch.Generator().manual_seed(seed)
    loc, vel, q = _inputs(gen)
    rot = haar_orthogonal(3, 3, gen, proper=True)  # (B, 3, 3)
    if reflect:
        rot = rot @ torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=F64))
    shift = scale * torch.randn(3, 1, 3, generator=gen, dtype=F64)
    model = MODELS[name]
    with torch.no_grad():
        want = model(loc, vel, q) @ rot.transpose(1, 2) + shift
        got = model(loc @ rot.transpose(1, 2) + shift, vel @ rot.transpose(1, 2), q)
    assert _rel(got, want) <= 1e-10


@pytest.mark.parametrize("name", [*EQUIVARIANT, "gnn"])
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_equivariant_to_particle_permutations(name: str, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    loc, vel, q = _inputs(gen)
    perm = torch.randperm(5, generator=gen)
    model = MODELS[name]
    with torch.no_grad():
        got = model(loc[:, perm], vel[:, perm], q[:, perm])
        want = model(loc, vel, q)[:, perm]
    assert _rel(got, want) <= 1e-10


def test_the_gnn_is_not_rotation_equivariant() -> None:
    gen = torch.Generator().manual_seed(0)
    loc, vel, q = _inputs(gen)
    rot = haar_orthogonal(3, 3, gen)
    model = MODELS["gnn"]
    with torch.no_grad():
        got = model(loc @ rot.transpose(1, 2), vel @ rot.transpose(1, 2), q)
        want = model(loc, vel, q) @ rot.transpose(1, 2)
    assert _rel(got, want) > 1e-3


def test_proper_frames_give_rotations_but_not_reflections() -> None:
    """FA over the 4 frames with det +1 is SE(3)-equivariant; a reflection changes the output."""
    torch.manual_seed(1)
    fa = FrameAveraging(GNN(hidden=16, num_layers=2), proper=True).to(F64).eval()
    gen = torch.Generator().manual_seed(3)
    loc, vel, q = _inputs(gen)
    rot = haar_orthogonal(3, 3, gen, proper=True)
    flip = torch.diag(torch.tensor([1.0, 1.0, -1.0], dtype=F64)).expand(3, 3, 3)
    with torch.no_grad():
        y = fa(loc, vel, q)
        for g, ok in ((rot, True), (flip, False)):
            got = fa(loc @ g.transpose(1, 2), vel @ g.transpose(1, 2), q)
            assert (_rel(got, y @ g.transpose(1, 2)) <= 1e-10) == ok


def _pentagon(gen: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """A regular pentagon in the xy-plane (covariance eigenvalues 0, r²/2, r²/2: degenerate),
    generic velocities."""
    angles = torch.arange(5, dtype=F64) * (2 * torch.pi / 5)
    loc = torch.stack([angles.cos(), angles.sin(), torch.zeros(5, dtype=F64)], dim=-1)[None]
    vel = 0.5 * torch.randn(1, 5, 3, generator=gen, dtype=F64)
    return loc, vel, torch.tensor([[1.0, -1.0, 1.0, 1.0, -1.0]], dtype=F64)


def test_degenerate_covariance_takes_the_velocity_tiebreak() -> None:
    """For a symmetric configuration the position frames are arbitrary; the tie-break frames of
    positions and velocities restore exact equivariance, and nothing stays degenerate."""
    torch.manual_seed(2)
    fa = FrameAveraging(GNN(hidden=16, num_layers=2)).to(F64).eval()
    gen = torch.Generator().manual_seed(4)
    loc, vel, q = _pentagon(gen)
    assert bool(fa.frame.frames(loc).degenerate.all())
    with torch.no_grad():
        y = fa(loc, vel, q)
        assert fa.last_degenerate == 0
        for _ in range(3):
            rot = haar_orthogonal(1, 3, gen)
            t = torch.randn(1, 1, 3, generator=gen, dtype=F64)
            got = fa(loc @ rot.transpose(1, 2) + t, vel @ rot.transpose(1, 2), q)
            assert _rel(got, y @ rot.transpose(1, 2) + t) <= 1e-9
        # velocities that share the symmetry (zero) cannot break the tie: counted, still finite
        still = fa(loc, torch.zeros_like(vel), q)
        assert fa.last_degenerate == 1 and bool(torch.isfinite(still).all())
    strict = FrameAveraging(GNN(hidden=8, num_layers=1), on_degenerate="raise").to(F64)
    with pytest.raises(DegenerateFrameError, match="degenerate"):
        strict(loc, vel, q)
    with pytest.raises(ValueError, match="on_degenerate"):
        FrameAveraging(GNN(), on_degenerate="ignore")  # type: ignore[arg-type]


def test_egnn_layer_shapes_and_velocity_term() -> None:
    torch.manual_seed(0)
    layer = EGNNLayer(hidden=8, edge_dim=2)
    h, x, v = torch.randn(4, 5, 8), torch.randn(4, 5, 3), torch.randn(4, 5, 3)
    h2, x2 = layer(h, x, v, torch.randn(4, 5, 5, 2))
    assert h2.shape == (4, 5, 8) and x2.shape == (4, 5, 3)
    # phi_x starts near zero: the first update is (almost) phi_v(h) v
    expected = x + layer.phi_v(h) * v
    assert torch.allclose(x2, expected, atol=1e-2)


@pytest.mark.parametrize("name", ["linear", "egnn", "fa-gnn", "gnn"])
def test_a_few_steps_reduce_the_loss(name: str) -> None:
    torch.manual_seed(0)
    model = {"linear": lambda: Linear(alpha_init=0.0), "egnn": lambda: EGNN(16, 2),
             "fa-gnn": lambda: FrameAveraging(GNN(16, 2)), "gnn": lambda: GNN(16, 2)}[name]()  # fmt: skip
    gen = torch.Generator().manual_seed(5)
    loc, vel, q = (t.float() for t in _inputs(gen, b=16))
    target = loc + vel  # straight-line motion: every model can fit it
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(8):
        loss = ((model(loc, vel, q) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
