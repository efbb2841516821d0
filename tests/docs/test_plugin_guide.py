"""The plugin guide of the docs, executed: the files its ``# file: PATH`` blocks hold (README.md
and docs/**/*.md) are installed as a real package and used."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .sources import code_blocks

SYMCO = str(Path(sys.executable).with_name("symco"))


PACKAGES = {
    "symco-partition": {"pyproject.toml", "symco_partition.py"},
    "symco-hampath": {"pyproject.toml", "symco_hampath.py", "hampath.yaml"},
}


def guide_files() -> dict[str, str]:
    """Code blocks of the docs whose first line is ``# file: PATH``; one path, one text."""
    files: dict[str, str] = {}
    for where, block in code_blocks():
        first, _, rest = block.partition("\n")
        if first.startswith("# file: "):
            path = first.removeprefix("# file: ").strip()
            assert files.get(path, rest) == rest, f"{where}: a second, different {path}"
            files[path] = rest
    return files


def guide_packages() -> dict[str, dict[str, str]]:
    """The docs' ``# file:`` blocks grouped by package folder: ``{folder: {name: text}}``."""
    packages: dict[str, dict[str, str]] = {}
    for rel, text in guide_files().items():
        folder, _, name = rel.partition("/")
        packages.setdefault(folder, {})[name] = text
    return packages


def test_guide_files_are_the_documented_packages() -> None:
    assert {k: set(v) for k, v in guide_packages().items()} == PACKAGES


def install_guide_package(root: Path, folder: str) -> dict[str, str]:
    """Write the docs' files of ``folder`` under ``root`` and pip-install them into
    ``root/site``; returns an environment whose ``PYTHONPATH`` sees the installed package."""
    for name, text in guide_packages()[folder].items():
        (root / folder / name).parent.mkdir(parents=True, exist_ok=True)
        (root / folder / name).write_text(text)
    target = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(root / folder),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(target), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("SYMCO_DISABLE_PLUGINS", None)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return install_guide_package(tmp_path_factory.mktemp("guide"), "symco-partition")


@pytest.mark.slow
def test_plugin_listed_with_its_package(installed: dict[str, str]) -> None:
    out = subprocess.run(
        [SYMCO, "plugins"], env=installed, capture_output=True, text=True, check=True
    ).stdout
    rows = [line.split() for line in out.splitlines()]
    assert ["problem", "partition", "partition", "symco-partition", "0.1.0"] in rows
    assert any(r[:3] == ["solver", "brute", "partition"] for r in rows)
    assert any(r[:2] == ["problem", "tsp"] for r in rows)  # the built-ins still there


@pytest.mark.slow
def test_plugin_works_in_data_and_solve(installed: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "p.npz"
    subprocess.run(
        [
            SYMCO,
            "data",
            "--problem",
            "partition",
            "--size",
            "10",
            "--num",
            "6",
            "--out",
            str(out),
            "--workers",
            "2",
            "--quiet",
        ],
        env=installed,
        check=True,
        capture_output=True,
        text=True,
    )
    with np.load(out) as f:
        assert f["weights"].shape == (6, 10) and f["differences"].shape == (6,)
        assert (f["differences"] <= f["weights"].max(axis=1)).all()
    res = subprocess.run(
        [SYMCO, "solve", str(out)], env=installed, check=True, capture_output=True, text=True
    )
    assert "partition" in res.stdout and "brute" in res.stdout


@pytest.mark.slow
def test_disable_blocks_the_plugin(installed: dict[str, str]) -> None:
    env = {**installed, "SYMCO_DISABLE_PLUGINS": "partition"}
    out = subprocess.run(
        [SYMCO, "plugins"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "partition" not in out and "tsp" in out
