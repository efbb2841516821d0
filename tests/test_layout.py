"""The layout rules the code keeps: no module outside ``core/`` reaches into another package's
private names (what a plugin needs from the core is public), and the BQ plugin holds no
generic machinery the core has."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ["plugins", "problems", "encodings", "benchmarks", "core"]


def _package(path: Path) -> str:
    """``symco.plugins.bq`` for plugins/bq/x.py, ``symco.core`` for core/..., the folder's own
    package otherwise (``benchmarks`` is its own)."""
    parts = path.relative_to(ROOT).parts
    if parts[0] in ("plugins", "problems") and len(parts) > 2:
        return ".".join(["symco", parts[0], parts[1]])
    return f"symco.{parts[0]}"


def _private_imports(path: Path) -> list[str]:
    """``module:name`` of every private name ``path`` imports from another package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    own = _package(path)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("symco"):
            if node.module == own or node.module.startswith(own + "."):
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"{node.module}:{alias.name}")
    return found


FILES = sorted(p for d in CHECKED for p in (ROOT / d).rglob("*.py") if ".tox" not in p.parts)


def test_the_scan_sees_the_tree() -> None:
    assert len(FILES) > 100 and any(p.name == "evaluation" for f in FILES for p in f.parents)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_private_names_from_other_packages(path: Path) -> None:
    assert _private_imports(path) == [], f"{path.relative_to(ROOT)} imports private names"


def test_the_rule_catches_a_private_import(tmp_path: Path) -> None:
    bad = ROOT / "plugins" / "rrc" / "_probe_not_a_module.py"
    try:
        bad.write_text("from symco.core.cli import _resolve_solver\n")
        assert _private_imports(bad) == ["symco.core.cli:_resolve_solver"]
    finally:
        bad.unlink()
