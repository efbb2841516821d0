"""Datasets: determinism across worker counts, atomic chunks, resuming an interrupted run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from symco.core.dataset import read_npz
from symco.core.errors import DataFileError
from symco.core.labels import DataSpec, build_dataset, parts_dir


def _spec(**kw) -> DataSpec:
    base = dict(
        problem="tsp",
        size=8,
        num=10,
        seed=3,
        distribution="uniform",
        solver="exact",
        solver_options={"seed": 3},
        chunk_size=4,
    )
    base.update(kw)
    return DataSpec(**base)


def test_same_file_whatever_the_workers(registry, tmp_path: Path) -> None:
    tsp, exact = registry.problem("tsp"), registry.solver_class("tsp", "exact")
    outs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}.npz"
        build_dataset(tsp, _spec(), out, solver_cls=exact, workers=workers)
        outs.append(read_npz(out))
    assert outs[0].keys() == {"coords", "tours", "costs"}
    for k in outs[0]:
        np.testing.assert_array_equal(outs[0][k], outs[1][k])
    assert not parts_dir(tmp_path / "w1.npz").exists()
    tsp.check_solution(outs[0], list(outs[0]["tours"]))
    np.testing.assert_allclose(tsp.objective(outs[0], outs[0]["tours"]), outs[0]["costs"])


def test_interrupted_run_resumes(registry, tmp_path: Path) -> None:
    tsp, exact = registry.problem("tsp"), registry.solver_class("tsp", "exact")
    out = tmp_path / "d.npz"
    seen = 0

    def stop_after_six(k: int) -> None:
        nonlocal seen
        seen += k
        if seen >= 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_dataset(tsp, _spec(), out, solver_cls=exact, workers=1, progress=stop_after_six)
    assert not out.exists()
    kept = sorted(p.name for p in parts_dir(out).glob("chunk_*.npz"))
    assert kept == ["chunk_000000.npz"]

    counted: list[int] = []
    summary = build_dataset(tsp, _spec(), out, solver_cls=exact, workers=1, progress=counted.append)
    assert (
        summary["chunks_reused"] == 1 and counted[0] == 4
    )  # the kept chunk counted once, not redone
    clean = tmp_path / "clean.npz"
    build_dataset(tsp, _spec(), clean, solver_cls=exact, workers=1)
    a, b = read_npz(out), read_npz(clean)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_resume_with_other_arguments_refused(registry, tmp_path: Path) -> None:
    tsp, exact = registry.problem("tsp"), registry.solver_class("tsp", "exact")
    out = tmp_path / "d.npz"

    def interrupt(k: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_dataset(tsp, _spec(), out, solver_cls=exact, workers=1, progress=interrupt)
    with pytest.raises(DataFileError, match="seed=3, not 4"):
        build_dataset(tsp, _spec(seed=4), out, solver_cls=exact, workers=1)


def test_unlabelled_dataset(registry, tmp_path: Path) -> None:
    out = tmp_path / "u.npz"
    build_dataset(
        registry.problem("tsp"), _spec(solver=None, num=5), out, solver_cls=None, workers=1
    )
    assert set(read_npz(out)) == {"coords"}


def test_variable_length_solutions_merge_across_chunks(registry, tmp_path: Path) -> None:
    """Chunks whose solutions have different widths (KP item sets) merge into one -1 padded array."""
    from symco.core.dataset import load_dataset

    kp = registry.problem("kp")
    spec = _spec(problem="kp", size=12, num=12, solver="dp", solver_options={}, chunk_size=2)
    out = tmp_path / "kp.npz"
    build_dataset(kp, spec, out, solver_cls=registry.solver_class("kp", "dp"), workers=1)
    ds = load_dataset(out, kp)
    assert ds.solutions is not None and ds.objectives is not None
    widths = {int((row >= 0).sum()) for row in ds.solutions}
    assert len(widths) > 1  # the chunks really differed
    sols = kp.unpack_solutions(ds.solutions)
    kp.check_solution(ds.instances, sols)
    np.testing.assert_allclose(kp.objective(ds.instances, sols), ds.objectives)


def test_atomic_files_get_normal_permissions(tmp_path: Path) -> None:
    import os

    from symco.core.dataset import save_npz

    save_npz(tmp_path / "a.npz", {"x": np.zeros(3)})
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.npz").stat().st_mode & 0o777 == 0o666 & ~umask
