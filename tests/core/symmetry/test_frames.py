"""Frames: the BQ translation-scale and neighbourhood frames on hand-made cases, and the PCA
frames of frame averaging (invariant frame sets, equivariant averages, degenerate spectra)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from symco.core.symmetry import (
    BUILTIN_FRAMES,
    DegenerateFrameError,
    Euclidean,
    Frame,
    NeighbourhoodFrame,
    PCAFrame,
    TranslationScaleFrame,
    bounding_square,
)
from symco.core.symmetry.frames import normalize_coords

F64 = torch.float64


def test_builtin_frames_are_named_and_constructible() -> None:
    names = [cls.name for cls in BUILTIN_FRAMES]
    assert names == ["translation-scale", "neighbourhood", "pca"]
    for cls in BUILTIN_FRAMES:
        assert isinstance(cls(), Frame) and repr(cls()).startswith(cls.__name__)


def test_bounding_square_by_hand() -> None:
    xy = torch.tensor([[[1.0, 1.0], [3.0, 2.0], [2.0, 1.5]], [[0.0, 0.0], [0.0, 4.0], [1.0, 1.0]]])
    lo, span = bounding_square(xy)
    assert torch.equal(lo, torch.tensor([[[1.0, 1.0]], [[0.0, 0.0]]]))
    assert torch.equal(span, torch.tensor([[[2.0]], [[4.0]]]))
    single = torch.tensor([[[5.0, 7.0]]])  # one point: the span is clamped
    assert torch.equal(bounding_square(single)[1], torch.tensor([[[1e-9]]]))


def test_translation_scale_by_hand() -> None:
    frame = TranslationScaleFrame()
    xy = torch.tensor([[[1.0, 1.0], [3.0, 2.0], [2.0, 1.5]]])
    out, params = frame.canonicalize(xy)
    assert torch.equal(out, torch.tensor([[[0.0, 0.0], [1.0, 0.5], [0.5, 0.25]]]))
    assert torch.equal(params.scale, torch.tensor([0.5]))
    valid = torch.tensor([[True, True, False]])
    xy2 = xy.clone()
    xy2[0, 2] = torch.tensor([100.0, -100.0])  # padding: ignored, then zeroed
    out2, params2 = frame.canonicalize(xy2, valid)
    assert torch.equal(out2[0, :2], out[0, :2]) and torch.equal(params2.scale, params.scale)
    assert torch.equal(out2[0, 2], torch.zeros(2))
    lo, span = bounding_square(xy2, valid)
    assert torch.equal(lo, torch.tensor([[[1.0, 1.0]]]))
    assert torch.equal(span, torch.tensor([[[2.0]]]))


def test_translation_scale_is_the_documented_arithmetic() -> None:
    gen = torch.Generator().manual_seed(0)
    xy = torch.rand(4, 9, 2, generator=gen) * 7 - 3
    valid = torch.rand(4, 9, generator=gen) > 0.3
    valid[:, 0] = True
    v = valid[..., None]
    lo = torch.where(v, xy, float("inf")).amin(1, keepdim=True)
    hi = torch.where(v, xy, float("-inf")).amax(1, keepdim=True)
    span = (hi - lo).amax(dim=-1, keepdim=True).clamp_min(1e-9)
    out, params = TranslationScaleFrame().canonicalize(xy, valid)
    assert torch.equal(out, ((xy - lo) / span).masked_fill(~v, 0.0))
    assert torch.equal(params.scale, 1.0 / span[:, 0, 0])
    # the deprecated alias is the frame, bit for bit
    alias, scale = normalize_coords(xy, valid)
    assert torch.equal(alias, out) and torch.equal(scale, params.scale)
    assert torch.equal(normalize_coords(xy)[0], TranslationScaleFrame().canonicalize(xy)[0])


def test_deprecated_aliases_are_the_frames() -> None:
    """Code written before the reducers moved onto the frame objects keeps working."""
    from symco.core.symmetry import neighbourhood_frame, normalize_coords

    xy = torch.rand(3, 8, 2, generator=torch.Generator().manual_seed(2)) * 4
    assert torch.equal(neighbourhood_frame(xy), NeighbourhoodFrame().canonicalize(xy)[0])
    assert torch.equal(normalize_coords(xy)[0], TranslationScaleFrame().canonicalize(xy)[0])


def test_neighbourhood_frame_is_the_documented_arithmetic() -> None:
    gen = torch.Generator().manual_seed(1)
    view = torch.rand(4, 7, 2, generator=gen) * 5 - 2  # the last point may lie outside
    lo = view[:, :-1].amin(1, keepdim=True)
    span = (view[:, :-1].amax(1, keepdim=True) - lo).amax(dim=-1, keepdim=True).clamp_min(1e-9)
    out, params = NeighbourhoodFrame().canonicalize(view)
    assert torch.equal(out, ((view - lo) / span).clamp(0.0, 1.0))
    assert torch.equal(params.lo, lo) and torch.equal(params.span, span)


def test_neighbourhood_frame_clamps_the_end() -> None:
    frame = NeighbourhoodFrame()
    view = torch.tensor([[[0.0, 0.0], [0.5, 0.25], [1.0, 0.5], [9.0, -3.0]]])
    out = frame.canonicalize(view)[0]
    assert torch.equal(out[0, :3], torch.tensor([[0.0, 0.0], [0.5, 0.25], [1.0, 0.5]]))
    assert torch.equal(out[0, 3], torch.tensor([1.0, 0.0]))
    shifted = view * 2.0 + torch.tensor([3.0, -1.0])  # the frame removes translation and scale
    assert torch.equal(frame.canonicalize(shifted)[0], out)


def test_neighbourhood_frame_class() -> None:
    view = torch.tensor([[[0.0, 0.0], [0.5, 0.25], [1.0, 0.5], [0.8, 0.1]]], dtype=F64)
    frame = NeighbourhoodFrame()
    canon, params = frame.canonicalize(view)
    torch.testing.assert_close(frame.restore(canon, params), view)  # nothing was clamped
    mask = torch.tensor([[True, True, False, True]])
    masked, _ = frame.canonicalize(view, mask)  # frame of the origin and neighbour 1 only
    torch.testing.assert_close(masked[0, 1], torch.tensor([1.0, 0.5], dtype=F64))
    assert torch.equal(masked[0, 2], torch.zeros(2, dtype=F64))


def test_translation_scale_restores() -> None:
    x = torch.randn(3, 6, 2, generator=torch.Generator().manual_seed(0), dtype=F64)
    frame = TranslationScaleFrame()
    canon, params = frame.canonicalize(x)
    assert float(canon.min()) == 0.0 and float(canon.amax(dim=(1, 2)).min()) == 1.0
    torch.testing.assert_close(frame.restore(canon, params), x)
    x3 = torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(1), dtype=F64)
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    canon3, params3 = frame.canonicalize(x3, mask)
    assert bool((canon3[1, 3:] == 0).all()) and float(canon3[1, :3].max()) == 1.0
    torch.testing.assert_close(frame.restore(canon3, params3)[mask], x3[mask])


@pytest.mark.parametrize("dim, proper, count", [(2, False, 4), (2, True, 2), (3, False, 8), (3, True, 4)])  # fmt: skip
def test_pca_frame_counts_and_orthonormal(dim: int, proper: bool, count: int) -> None:
    x = torch.randn(5, 12, dim, generator=torch.Generator().manual_seed(1), dtype=F64)
    f = PCAFrame(proper=proper).frames(x)
    assert f.rotations.shape == (5, count, dim, dim) and f.num_frames == count
    assert not bool(f.degenerate.any())
    r = f.rotations
    torch.testing.assert_close(r.transpose(-1, -2) @ r, torch.eye(dim, dtype=F64).expand_as(r))
    if proper:
        torch.testing.assert_close(torch.linalg.det(r), torch.ones(5, count, dtype=F64))
    assert bool((f.eigenvalues.diff(dim=-1) >= 0).all())  # ascending
    # every frame is a signed eigenbasis: it diagonalises the covariance
    centred = x - f.centre
    cov = centred.transpose(1, 2) @ centred / x.shape[1]
    diag = r.transpose(-1, -2) @ cov[:, None] @ r  # (B, F, d, d)
    torch.testing.assert_close(diag, torch.diag_embed(f.eigenvalues)[:, None].expand_as(diag))


def _points(seed: int, batch: int = 3, dim: int = 3) -> torch.Tensor:
    """Anisotropic Gaussian point sets: the covariance's eigenvalues are well separated."""
    gen = torch.Generator().manual_seed(seed)
    stretch = torch.arange(dim, 0, -1, dtype=F64) + 1.0
    return torch.randn(batch, 10, dim, generator=gen, dtype=F64) * stretch


def _nonequivariant(canon: torch.Tensor) -> torch.Tensor:
    """A fixed nonlinear map of the flattened coordinates ``(K, N, d)``: no symmetry at all."""
    k, n, d = canon.shape
    w = torch.linspace(-1.0, 1.0, (n * d) ** 2, dtype=canon.dtype).reshape(n * d, n * d).sin()
    flat = canon.reshape(k, n * d)
    return (torch.tanh(flat @ w) + 0.1 * flat**2).reshape(k, n, d)


def _set_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """The largest distance from a frame of ``a`` ``(F, N, d)`` to its nearest frame of ``b``."""
    dist = (a[:, None] - b[None]).flatten(2).abs().amax(-1)  # (F, F)
    return float(max(dist.amin(dim=1).max(), dist.amin(dim=0).max()))


@pytest.mark.parametrize("proper", [False, True])
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_canonical_set_is_invariant(proper: bool, seed: int) -> None:
    x = _points(seed)
    frame = PCAFrame(proper=proper)
    canon, params = frame.canonicalize(x)
    if bool(params.degenerate.any()):
        return
    g = Euclidean(3, proper=proper).sample(3, torch.Generator().manual_seed(seed + 1))
    canon_g, _ = frame.canonicalize(Euclidean(3, proper=proper).act(g, x))
    for b in range(3):
        assert _set_distance(canon[b], canon_g[b]) < 1e-8
    torch.testing.assert_close(frame.restore(canon, params), x[:, None].expand_as(canon))


@pytest.mark.parametrize("proper", [False, True])
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_frame_averaging_is_equivariant(proper: bool, seed: int) -> None:
    x = _points(seed)
    frame = PCAFrame(proper=proper)
    if bool(frame.frames(x).degenerate.any()):
        return
    group = Euclidean(3, proper=proper)
    g = group.sample(3, torch.Generator().manual_seed(seed + 7))
    fa, fa_g = frame.average(_nonequivariant, x), frame.average(_nonequivariant, group.act(g, x))
    torch.testing.assert_close(fa_g, group.act(g, fa), atol=1e-8, rtol=0)
    # vectors (points=False) only rotate
    rot = (g[0], torch.zeros_like(g[1]))
    va = frame.average(_nonequivariant, x, points=False)
    va_g = frame.average(_nonequivariant, group.act(g, x), points=False)
    torch.testing.assert_close(va_g, group.act(rot, va), atol=1e-8, rtol=0)


def test_proper_frames_are_not_reflection_invariant() -> None:
    x = _points(0, batch=1)
    mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=F64))[None]
    frame = PCAFrame(proper=True)
    canon, _ = frame.canonicalize(x)
    canon_m, _ = frame.canonicalize(x @ mirror)
    assert _set_distance(canon[0], canon_m[0]) > 1e-3  # SO(3) frames see the reflection
    full = PCAFrame(proper=False)
    assert _set_distance(full.canonicalize(x)[0][0], full.canonicalize(x @ mirror)[0][0]) < 1e-10


def test_masked_points_are_ignored() -> None:
    x = torch.randn(2, 9, 3, generator=torch.Generator().manual_seed(5), dtype=F64)
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[:, 6:] = False
    a = PCAFrame().frames(x, mask)
    b = PCAFrame().frames(x[:, :6])
    torch.testing.assert_close(a.centre, b.centre)
    torch.testing.assert_close(a.eigenvalues, b.eigenvalues)
    torch.testing.assert_close(a.rotations.abs(), b.rotations.abs())
    x_junk = x.clone()
    x_junk[:, 6:] = 1e6
    canon, _ = PCAFrame().canonicalize(x_junk, mask)
    canon_ref, _ = PCAFrame().canonicalize(x, mask)
    torch.testing.assert_close(canon, canon_ref)
    assert bool((canon[:, :, 6:] == 0).all())


def test_degenerate_covariance_is_reported() -> None:
    angles = torch.arange(8, dtype=F64) * (2 * torch.pi / 8)
    circle = torch.stack([angles.cos(), angles.sin()], dim=-1)[None]  # isotropic covariance
    cube = torch.tensor([[[i, j, k] for i in (0.0, 1.0) for j in (0.0, 1.0) for k in (0.0, 1.0)]],
                        dtype=F64)  # fmt: skip
    tetra = torch.tensor([[[1.0, 1.0, 1.0], [1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]]],
                         dtype=F64)  # fmt: skip
    for points in (circle, cube, tetra):
        assert bool(PCAFrame().frames(points).degenerate.all())
        with pytest.raises(DegenerateFrameError, match="example 0"):
            PCAFrame(on_degenerate="raise").frames(points)
    mixed = torch.cat([_points(1, batch=1)[:, :8], cube], dim=0)
    assert PCAFrame().frames(mixed).degenerate.tolist() == [False, True]
    with pytest.raises(DegenerateFrameError, match="batch index 1"):
        PCAFrame(on_degenerate="raise").canonicalize(mixed)
    with pytest.raises(ValueError):
        PCAFrame(on_degenerate="ignore")  # type: ignore[arg-type]
