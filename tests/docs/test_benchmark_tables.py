"""The docs' benchmark tables are rendered from ``benchmarks/results/*.json`` by docs/hooks.py:
the numbers on the page are the numbers in the files, and a changed file changes the page."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from .sources import ROOT


def _load_hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("symco_docs_hooks", ROOT / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hooks = _load_hooks()
RESULTS = ROOT / "benchmarks" / "results"
PAGE = (ROOT / "docs" / "benchmarks.md").read_text()


def placeholders() -> list[tuple[str, str]]:
    """``(kind, file)`` of every table the docs pages ask for."""
    found = []
    for page in sorted((ROOT / "docs").rglob("*.md")):
        found += hooks.PLACEHOLDER.findall(page.read_text())
    return found


def test_the_benchmarks_page_has_tables() -> None:
    assert len(hooks.PLACEHOLDER.findall(PAGE)) >= 10


@pytest.mark.parametrize(("kind", "filename"), placeholders())
def test_every_table_renders(kind: str, filename: str) -> None:
    text = hooks.render(kind, filename)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) >= 2  # the header and at least one row
    widths = {line.count(" | ") for line in rows}
    assert len(widths) == 1, "every row has the header's columns"
    assert f"benchmarks/results/{filename}" in text


def test_no_placeholder_is_left_on_the_page() -> None:
    out = hooks.expand(PAGE)
    assert "<!-- benchmark:" not in out
    assert out.count("*Generated from") == len(hooks.PLACEHOLDER.findall(PAGE))


def test_quality_table_holds_the_measured_gaps() -> None:
    data = json.loads((RESULTS / "bq_kp_quality.json").read_text())
    text = hooks.render("quality", "bq_kp_quality.json")
    for r in data["results"]:
        assert f"{r['mean_gap_percent']:.2f}%" in text
    row = next(line for line in text.splitlines() if line.startswith("| KP100"))
    for r in data["results"]:
        if r["size"] == 100 and r["method"] in ("bq-kp greedy", "greedy"):
            assert f"{r['mean_gap_percent']:.2f}%" in row  # the model beside the ratio greedy


def test_improve_and_augment_tables_hold_the_measured_numbers() -> None:
    data = json.loads((RESULTS / "improve.json").read_text())
    text = hooks.render("improve", "improve.json")
    for r in data["results"]:
        assert f"{r['greedy']['gap_percent']:.2f}%" in text
        for m in r["methods"].values():
            for p in m["points"]:
                assert f"{p['gap_percent']:.2f}" in text
    aug = json.loads((RESULTS / "augment.json").read_text())
    text = hooks.render("augment", "augment.json")
    for r in aug["results"]:
        assert f"{r['d4_gap_percent']:.2f}%" in text and f"{r['gap_ratio']:.1f}x" in text


def test_a_changed_result_changes_the_table(tmp_path: Path) -> None:
    shutil.copy(RESULTS / "labels.json", tmp_path / "labels.json")
    data = json.loads((tmp_path / "labels.json").read_text())
    data["results"][0]["mean_gap_percent"] = 12.3456
    (tmp_path / "labels.json").write_text(json.dumps(data))
    out = hooks.expand("before\n<!-- benchmark: labels labels.json -->\nafter", tmp_path)
    assert "12.35%" in out and out.startswith("before\n|") and out.endswith("\nafter")


def test_unknown_kind_or_file_fails_the_build() -> None:
    with pytest.raises(ValueError, match="unknown benchmark table"):
        hooks.render("nope", "labels.json")
    with pytest.raises(ValueError, match="benchmarks/results"):
        hooks.render("labels", "../labels.json")
    with pytest.raises(FileNotFoundError):
        hooks.render("labels", "missing.json")


def test_cells_with_a_bar_are_escaped() -> None:
    text = hooks.table(["a", "b"], [["|x| <= 2", "y"]])
    assert re.search(r"\| \\\|x\\\| <= 2 \| y \|", text)


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    mkdocs = Path(sys.executable).with_name("mkdocs")
    res = subprocess.run(
        [str(mkdocs), "build", "--strict", "-d", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    page = (tmp_path / "site" / "benchmarks" / "index.html").read_text()
    assert "<table>" in page and "benchmark:" not in page


def test_the_bq_kp_figures_on_the_bq_page_are_the_models_notes() -> None:
    """The page quotes the fresh-instance figures the shipped model's notes record (what
    ``symco info bq-kp`` and ``symco models`` show), so the two cannot say different things."""
    import torch

    model = ROOT / "plugins" / "bq" / "models" / "bq-kp.pt"
    notes = torch.load(model, map_location="cpu", weights_only=True)["notes"]
    page = (ROOT / "docs" / "methods" / "bq.md").read_text()
    figures = re.findall(r"\d+\.\d+%", notes.partition("fresh instances")[2])
    assert figures and all(f in page for f in figures), (figures, notes)
