"""Contract tests every built-in and registered group gets (a group action, in float64), and
the built-ins' own properties."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from symco.core.symmetry import (
    BUILTIN_GROUPS,
    Axis,
    AxisRotation,
    EigenBasis,
    EigenSigns,
    Euclidean,
    Group,
    NodePermutation,
    Orthogonal,
    Permutation,
    PermutationSpec,
    SquareDihedral,
    TorusFlow,
    TorusTranslation,
    WeightPermutations,
    columns,
    roll2d,
    rows,
)
from symco.core.symmetry.group import element_parts

from ...conftest import registered

GROUPS = registered("group")
SIZED = [NodePermutation(3), Orthogonal(2), Orthogonal(3, proper=True), Euclidean(2, proper=True),
         EigenSigns(2), EigenBasis((2, 1, 3)), TorusTranslation(3, 5), TorusFlow(4, 6, max_speed=2),
         AxisRotation(axis=0), SquareDihedral(),
         WeightPermutations(PermutationSpec({"h": Permutation(3, (*rows("a"), *columns("b"))),
                                             "o": Permutation(2, (Axis("b.weight", 0),))}),
                            {"a.weight": (3, 2), "a.bias": (3,), "b.weight": (2, 3)})]  # fmt: skip


def _instances() -> list:
    """Every built-in with its defaults, every other registered group, and a few sizes."""
    builtins = [pytest.param(cls(), id=cls.name) for cls in BUILTIN_GROUPS]
    others = [
        pytest.param(p.values[0].obj(), id=p.id)
        for p in GROUPS
        if p.values[0].obj not in BUILTIN_GROUPS
    ]
    return builtins + others + [pytest.param(g, id=repr(g)) for g in SIZED]


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.double(), b.double(), atol=1e-10))


def test_builtins_are_named_constructible_and_registered() -> None:
    names = [cls.name for cls in BUILTIN_GROUPS]
    assert len(set(names)) == len(names) == 9
    registered_classes = {p.values[0].obj for p in GROUPS}
    for cls in BUILTIN_GROUPS:
        group = cls()
        assert isinstance(group, Group) and cls in registered_classes
        assert group.acts_on and repr(group).startswith(cls.__name__ + "(")


def test_short_names() -> None:
    """Every registered group has a short label, the square's dihedral group says "d4"; no
    label is another group's registered name."""
    assert SquareDihedral.short_name == "d4" and SquareDihedral().short_name == "d4"
    assert NodePermutation.short_name == "node-permutation"  # defaults to the name
    classes = [p.values[0].obj for p in GROUPS]
    shorts = [cls.short_name for cls in classes]
    names = {cls.name for cls in classes}
    assert len(set(shorts)) == len(shorts)
    assert all(short == cls.name or short not in names for short, cls in zip(shorts, classes))


def test_short_name_follows_a_subclass_own_name() -> None:
    class Wide(SquareDihedral):  # inherits the name, so the label too
        pass

    class Renamed(SquareDihedral):
        name = "renamed-dihedral"

    class Labelled(NodePermutation):
        name = "labelled-permutation"
        short_name = "lp"

    assert Wide.short_name == "d4"
    assert Renamed.short_name == "renamed-dihedral"
    assert Labelled.short_name == "lp"


@pytest.mark.parametrize("group", _instances())
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_group_action_laws(group: Group, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    x = group.example_input(3, gen)
    assert x.dtype == torch.float64
    g, h = group.sample(3, gen), group.sample(3, gen)
    assert _close(group.act(group.identity(3), x), x)
    assert _close(group.act(group.compose(g, h), x), group.act(g, group.act(h, x)))
    assert _close(group.act(group.inverse(g), group.act(g, x)), x)
    assert bool(group.equal(group.compose(g, group.inverse(g)), group.identity(3)).all())
    assert bool(group.equal(group.compose(group.identity(3), g), g).all())


@pytest.mark.parametrize("group", _instances())
def test_sampling_is_seeded(group: Group) -> None:
    def draw(seed: int) -> tuple[torch.Tensor, ...]:
        return element_parts(group.sample(4, torch.Generator().manual_seed(seed)))

    a, b, c = draw(0), draw(0), draw(1)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert any(not torch.equal(x, y) for x, y in zip(a, c))


@pytest.mark.parametrize("group", _instances())
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_dtype_is_respected(group: Group, dtype: torch.dtype) -> None:
    gen = torch.Generator().manual_seed(0)
    for part in element_parts(group.sample(2, gen, dtype=dtype)):
        assert part.dtype in (dtype, torch.long)
    for part in element_parts(group.identity(2, dtype=dtype)):
        assert part.dtype in (dtype, torch.long)
    x = group.example_input(2, gen, dtype=dtype)
    assert x.dtype == dtype
    assert group.act(group.sample(2, gen, dtype=dtype), x).dtype == dtype


@pytest.mark.parametrize("group", _instances())
def test_select_indexes_the_batch(group: Group) -> None:
    g = group.sample(5, torch.Generator().manual_seed(2))
    index = torch.tensor([4, 0, 2])
    picked = group.select(g, index)
    for part, whole in zip(element_parts(picked), element_parts(g)):
        assert torch.equal(part, whole[index])
    x = group.example_input(5, torch.Generator().manual_seed(3))
    assert _close(group.act(picked, x[index]), group.act(g, x)[index])


@pytest.mark.parametrize(
    "group, order",
    [(SquareDihedral(), 8), (EigenSigns(3), 8), (EigenSigns(5), 32), (TorusTranslation(3, 4), 12),
     (TorusFlow(2, 3), 6), (NodePermutation(4), 24), (NodePermutation(1), 1)],
)  # fmt: skip
def test_finite_groups_enumerate_and_close(group: Group, order: int) -> None:
    assert group.finite
    elems = group.elements()
    assert elems is not None and isinstance(elems, torch.Tensor) and len(elems) == order
    assert bool(group.equal(group.select(elems, torch.tensor([0])), group.identity(1)).all())
    n = len(elems)
    distinct = torch.stack(
        [group.equal(elems, elems[i : i + 1].expand_as(elems)) for i in range(n)]
    )
    assert torch.equal(distinct, torch.eye(n, dtype=torch.bool))  # no element listed twice
    # closed under composition: every product is one of the elements
    g = elems.repeat_interleave(n, 0)
    h = elems.repeat(n, *([1] * (elems.dim() - 1)))
    prod = group.compose(g, h)
    hits = torch.stack([group.equal(prod, elems[i : i + 1].expand_as(prod)) for i in range(n)])
    assert bool(hits.any(dim=0).all())


def test_large_or_infinite_groups_are_not_enumerated() -> None:
    assert NodePermutation(6).elements() is not None and len(NodePermutation(6).elements()) == 720
    assert NodePermutation(7).elements() is None
    assert EigenSigns(10).elements() is not None and EigenSigns(11).elements() is None
    assert TorusTranslation(64, 64).elements() is not None
    assert TorusTranslation(64, 65).elements() is None
    for group in (Orthogonal(), Euclidean(), AxisRotation(), EigenBasis()):
        assert not group.finite and group.elements() is None


def test_node_permutation_convention() -> None:
    group = NodePermutation(4)
    perm = torch.tensor([[2, 0, 3, 1]])
    x = torch.tensor([[[10.0], [11.0], [12.0], [13.0]]])
    assert group.act(perm, x)[0, :, 0].tolist() == [12.0, 10.0, 13.0, 11.0]  # x'[i] = x[perm[i]]
    assert torch.equal(group.compose(perm, group.inverse(perm)), group.identity(1))
    assert torch.equal(group.inverse(perm), torch.tensor([[1, 3, 0, 2]]))
    sample = group.sample(50, torch.Generator().manual_seed(0))
    assert torch.equal(sample.sort(dim=1).values, group.identity(50))


def test_square_dihedral_keeps_the_square_and_distances() -> None:
    group = SquareDihedral()
    corners = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]], dtype=torch.float64)
    x = torch.rand(8, 20, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    imgs = group.act(group.elements(), x)
    assert bool(((imgs >= 0) & (imgs <= 1)).all())
    torch.testing.assert_close(torch.cdist(imgs, imgs), torch.cdist(x, x))
    moved = group.act(group.elements(), corners.expand(8, -1, -1))
    assert {tuple(sorted(map(tuple, m.round().tolist()))) for m in moved} == {
        ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0))
    }
    assert len({tuple(m.flatten().tolist()) for m in moved}) == 8  # 8 distinct images
    assert torch.equal(group.act(torch.tensor([0]), x[:1]), x[:1])  # index 0 is the identity
    centre = torch.full((8, 1, 2), 0.5, dtype=torch.float64)
    assert torch.equal(group.act(group.elements(), centre), centre)


@pytest.mark.parametrize("proper", [False, True])
@pytest.mark.parametrize("dim", [2, 3])
def test_orthogonal_samples(proper: bool, dim: int) -> None:
    r = Orthogonal(dim, proper=proper).sample(200, torch.Generator().manual_seed(0))
    torch.testing.assert_close(r @ r.transpose(1, 2), torch.eye(dim, dtype=r.dtype).expand_as(r))
    det = torch.linalg.det(r)
    torch.testing.assert_close(det.abs(), torch.ones_like(det))
    assert bool((det > 0).all()) if proper else bool((det < 0).any() and (det > 0).any())


def test_euclidean_is_an_affine_map() -> None:
    group = Euclidean(3, translation_scale=2.0)
    rot, t = group.sample(4, torch.Generator().manual_seed(0))
    x = torch.randn(4, 7, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(
        group.act((rot, t), x), torch.einsum("bij,bnj->bni", rot, x) + t[:, None]
    )
    dist = torch.cdist(x, x)
    torch.testing.assert_close(torch.cdist(group.act((rot, t), x), group.act((rot, t), x)), dist)


def test_axis_rotation_keeps_the_axis() -> None:
    for axis in (0, 1, 2):
        group = AxisRotation(axis=axis)
        x = group.example_input(5, torch.Generator().manual_seed(1))
        g = group.sample(5, torch.Generator().manual_seed(2))
        y = group.act(g, x)
        plane = [i for i in range(3) if i != axis]
        torch.testing.assert_close(y[..., axis], x[..., axis])
        torch.testing.assert_close(y[..., plane].norm(dim=-1), x[..., plane].norm(dim=-1))
        torch.testing.assert_close(g @ g.transpose(1, 2), torch.eye(3, dtype=g.dtype).expand_as(g))
    det = torch.linalg.det(AxisRotation().sample(100, torch.Generator().manual_seed(3)))
    assert bool((det < 0).any() and (det > 0).any())  # rotations and reflections
    with pytest.raises(ValueError):
        AxisRotation(axis=3)


def test_eigen_signs_flip_columns() -> None:
    group = EigenSigns(3)
    v = torch.arange(12, dtype=torch.float64).reshape(1, 4, 3)
    s = torch.tensor([[1.0, -1.0, -1.0]], dtype=torch.float64)
    assert torch.equal(group.act(s, v), v * torch.tensor([1.0, -1.0, -1.0]))
    sample = group.sample(30, torch.Generator().manual_seed(0))
    assert set(sample.unique().tolist()) == {-1.0, 1.0}


def test_eigen_basis_blocks_and_spans() -> None:
    group = EigenBasis.from_eigenvalues(torch.tensor([0.0, 0.5, 0.5, 1.0, 1.0, 1.0]))
    assert group.blocks == (1, 2, 3) and group.k == 6
    assert EigenBasis.from_eigenvalues(torch.tensor([1.0, 1.0 + 1e-8, 2.0]), tol=1e-6).blocks == (
        2,
        1,
    )
    assert EigenBasis.from_eigenvalues(torch.tensor([1.0, 2.0, 3.0])).blocks == (1, 1, 1)
    gen = torch.Generator().manual_seed(3)
    v = torch.linalg.qr(torch.randn(9, 6, dtype=torch.float64, generator=gen)).Q
    v = v[None].expand(4, -1, -1)
    q = group.sample(4, torch.Generator().manual_seed(4))
    torch.testing.assert_close(q @ q.transpose(1, 2), torch.eye(6, dtype=q.dtype).expand_as(q))
    off_block = torch.ones(6, 6, dtype=torch.bool)
    for lo, hi in ((0, 1), (1, 3), (3, 6)):
        off_block[lo:hi, lo:hi] = False
    assert bool((q[:, off_block] == 0).all())  # block-diagonal
    w = group.act(q, v)
    for lo, hi in ((0, 1), (1, 3), (3, 6)):  # each eigenspace's projector is unchanged
        torch.testing.assert_close(w[..., lo:hi] @ w[..., lo:hi].transpose(1, 2),
                                   v[..., lo:hi] @ v[..., lo:hi].transpose(1, 2))  # fmt: skip
    torch.testing.assert_close(w @ w.transpose(1, 2), v @ v.transpose(1, 2))


def test_torus_translation_is_roll() -> None:
    group = TorusTranslation(5, 7)
    x = group.example_input(3, torch.Generator().manual_seed(0))
    g = torch.tensor([[1, 2], [4, -3], [0, 6]])
    y = group.act(g, x)
    for i in range(3):
        assert torch.equal(y[i], torch.roll(x[i], (int(g[i, 0]), int(g[i, 1])), dims=(-2, -1)))
    assert bool(group.equal(g, g + torch.tensor([5, 7])).all())  # shifts are taken mod (H, W)


def test_roll2d_matches_roll_for_any_leading_shape() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 4, 5, 6, generator=gen, dtype=torch.float64)  # (2, 3, C, H, W)
    dy = torch.randint(-10, 10, (2, 3), generator=gen)
    dx = torch.randint(-10, 10, (2, 3), generator=gen)
    y = roll2d(x, dy, dx)
    for i in range(2):
        for j in range(3):
            want = torch.roll(x[i, j], (int(dy[i, j]), int(dx[i, j])), dims=(-2, -1))
            assert torch.equal(y[i, j], want)


def test_torus_flow_moves_frame_t_by_t_times_v() -> None:
    group = TorusFlow(6, 5, max_speed=2)
    x = group.example_input(2, torch.Generator().manual_seed(0))  # (2, T, C, H, W)
    v = torch.tensor([[1, -2], [2, 1]])
    y = group.act(v, x)
    assert torch.equal(y[:, 0], x[:, 0])
    for i in range(2):
        for t in range(x.shape[1]):
            shift = (int(v[i, 0]) * t, int(v[i, 1]) * t)
            assert torch.equal(y[i, t], torch.roll(x[i, t], shift, dims=(-2, -1)))
    offset = torch.tensor([[3, 1], [0, -4]])
    z = group.act_offset(v, x, offset, start=2)
    for i in range(2):
        for t in range(x.shape[1]):
            shift = (int(offset[i, 0] + v[i, 0] * (t + 2)), int(offset[i, 1] + v[i, 1] * (t + 2)))
            assert torch.equal(z[i, t], torch.roll(x[i, t], shift, dims=(-2, -1)))


def test_torus_flow_samples_bounded_speeds() -> None:
    v = TorusFlow(8, 8, max_speed=2).sample(500, torch.Generator().manual_seed(0))
    assert v.dtype == torch.long and set(v.unique().tolist()) == {-2, -1, 0, 1, 2}
    assert bool((TorusFlow(max_speed=0).sample(5, torch.Generator()) == 0).all())


def test_torus_flow_samples_from_a_given_velocity_set() -> None:
    allowed = [[0, -1], [0, 0], [0, 2]]
    v = TorusFlow(5, 5, velocities=allowed).sample(200, torch.Generator().manual_seed(0))
    assert sorted({tuple(row) for row in v.tolist()}) == [(0, -1), (0, 0), (0, 2)]
    with pytest.raises(ValueError, match="velocities must be a non-empty"):
        TorusFlow(5, 5, velocities=[[0.5, 1.0]])
