"""The built wheel holds exactly the source tree's modules under the ``symco`` names."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "plugins", "problems", "encodings")


def source_modules() -> set[str]:
    mods = {"symco/__init__.py", "symco/py.typed"}
    for pkg in PACKAGES:
        for f in [*(ROOT / pkg).rglob("*.py"), *(ROOT / pkg).rglob("models/*.pt")]:
            if "__pycache__" not in f.parts:
                mods.add("symco/" + f.relative_to(ROOT).as_posix())
    return mods


@pytest.mark.slow
def test_wheel_matches_source_tree(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    wheel = next(tmp_path.glob("symco-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    in_package = {n for n in names if n.startswith("symco/")}
    assert in_package == source_modules()
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[symco]" in text and "tsp = symco.problems.tsp.plugin" in text
    assert "symco = symco.core.cli:main" in text


def test_installed_package_imports_same_names() -> None:
    import importlib

    for mod in sorted(source_modules()):
        if mod.endswith(".py"):
            name = mod.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
            importlib.import_module(name)
