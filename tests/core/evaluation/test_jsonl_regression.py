"""``symco evaluate --out`` writes the same JSON lines as before issue 27 moved the command into
the core and made solutions packed tensors (recorded at 56e3392): the same fields, solutions,
costs, references, improvement starts and steps; only the measured times differ.

One case was re-recorded since (``cvrp-rrc``, see its ``note``): CVRP random re-construction
draws its route orders and reversals from the torch generator now, so its improved routes are
other ones (the greedy start, the fields and every other case are as recorded at 56e3392)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from symco.core.cli import main

RECORDED = json.loads((Path(__file__).with_name("recorded") / "evaluate_jsonl.json").read_text())


def _timeless(record: dict) -> dict:
    out = {k: v for k, v in record.items() if k != "time_s"}
    out["baselines"] = {m: {"cost": b["cost"]} for m, b in record["baselines"].items()}
    return out


@pytest.mark.parametrize("name", sorted(RECORDED["cases"]))
def test_jsonl_unchanged(name: str, tmp_path: Path, capsys) -> None:
    case = RECORDED["cases"][name]
    out = tmp_path / "r.jsonl"
    assert main([*case["argv"], "--out", str(out)]) == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [list(r) for r in got] == [list(r) for r in case["records"]]  # fields, in order
    for g, want in zip(got, case["records"]):
        g, want = _timeless(g), _timeless(want)
        assert g == want, (name, g, want)
