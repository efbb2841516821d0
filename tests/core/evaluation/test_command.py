"""``symco evaluate`` in the core: stages side by side, arguments checked before the model
loads, and any model that declares a decoder — a third party's included — evaluates."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from symco.core.cli import main

PLUGIN = '''
"""A third-party constructive method: nearest-neighbour tours, one parameter (a start node)."""
from __future__ import annotations

import lightning as L
import torch

from symco import hookimpl
from symco.core.decoding import Decoder


class NearestTour(L.LightningModule):
    def __init__(self, start: int = 0) -> None:
        super().__init__()
        from symco.problems.tsp.problem import TSP

        self.problem = TSP()
        self.start = start
        self.register_buffer("unused", torch.zeros(1))

    def decoder(self, decode: str = "greedy", *, knn: int | None = None) -> Decoder:
        if decode != "greedy":
            raise ValueError(f"decode must be 'greedy', got {decode!r}")

        def run(instances):
            xy = instances["coords"].double()
            b, n, _ = xy.shape
            d = torch.cdist(xy, xy)  # (B, N, N)
            rows = torch.arange(b)
            tour = torch.empty(b, n, dtype=torch.long)
            seen = torch.zeros(b, n, dtype=torch.bool)
            cur = torch.full((b,), self.start)
            for t in range(n):
                tour[:, t] = cur
                seen[rows, cur] = True
                cur = d[rows, cur].masked_fill(seen, torch.inf).argmin(dim=1)
            return tour

        return Decoder(run, "nearest")


@hookimpl
def symco_register(registry):
    registry.add("model", NearestTour, name="NearestTour")
'''


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def test_stages_are_rows_and_jsonl_keeps_the_whole_pipeline(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.jsonl"
    argv = ["evaluate", "--ckpt", "bq-tsp", "--generate", "20:2", "--augment", "d4",
            "--improve", "2opt", "--stages", "--reference", "none", "--quiet",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    text = capsys.readouterr().out
    methods = ["bq-tsp greedy ", "bq-tsp greedy +d4 ", "bq-tsp greedy +d4 +2opt "]
    rows = [line for line in _lines(text) if line.startswith("tsp ")]
    assert [any(m in r for r in rows) for m in methods] == [True] * 3 and len(rows) == 3
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert {r["method"] for r in records} == {"bq-tsp greedy +d4 +2opt"}
    for r in records:
        assert set(r["baselines"]) == {"bq-tsp greedy", "bq-tsp greedy +d4"}
        # the improvement starts from the augmented solution, never worse than it
        assert r["start_cost"] == pytest.approx(r["baselines"]["bq-tsp greedy +d4"]["cost"])
        assert r["cost"] <= r["start_cost"] + 1e-9
        assert (
            r["baselines"]["bq-tsp greedy +d4"]["cost"]
            <= r["baselines"]["bq-tsp greedy"]["cost"] + 1e-9
        )


@pytest.mark.parametrize(
    ("argv", "first"),
    [
        (["--generate", "100:abc"], "symco: error: --generate: expected SIZE:NUM[,SIZE:NUM...], got '100:abc'"),
        (["--generate", "0:4"], "symco: error: --generate: expected SIZE:NUM[,SIZE:NUM...], got '0:4'"),
        (["--generate", "10:1", "--stages"], "symco: error: --stages: give --augment GROUP and/or --improve NAME"),
        (["--generate", "10:1", "--time-limit", "1"], "symco: error: --time-limit: only with --improve NAME"),
        ([], "symco: error: give instance files with --instances, or --generate SIZE:NUM"),
    ],
)  # fmt: skip
def test_arguments_are_refused_before_the_model_loads(
    argv: list[str], first: str, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    def never(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr("symco.core.training.checkpoints.load_model", never)
    assert main(["evaluate", "--ckpt", "bq-tsp", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith(first) and len(_lines(err)) == 1


def test_a_model_without_a_decoder_is_refused_in_one_line(capsys) -> None:
    assert main(["evaluate", "--ckpt", "egnn-nbody", "--generate", "10:1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("symco: error: --ckpt egnn-nbody: ") and "declares no decoder" in err
    assert len(_lines(err)) == 1


def test_an_unknown_decoding_names_the_flag(capsys) -> None:
    assert main(["evaluate", "--ckpt", "bq-tsp", "--generate", "10:1", "--decode", "sample"]) == 2
    assert capsys.readouterr().err.startswith("symco: error: --decode: decode must be 'greedy' or")


def test_a_third_party_method_evaluates_through_the_same_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    (tmp_path / "symco_nearest.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    import symco_nearest  # the user's own package

    from symco.core.training.checkpoints import write_model_file

    model = tmp_path / "nearest.pt"
    write_model_file(model, "symco_nearest.NearestTour", {"start": 0},
                     symco_nearest.NearestTour().state_dict())  # fmt: skip
    out = tmp_path / "r.jsonl"
    argv = ["evaluate", "--ckpt", str(model), "--generate", "12:3", "--improve", "2opt",
            "--reference", "none", "--quiet", "--out", str(out)]  # fmt: skip
    try:
        assert main(argv, plugins=[("nearest", symco_nearest)]) == 0
    finally:
        sys.modules.pop("symco_nearest", None)
    assert "nearest nearest +2opt" in capsys.readouterr().out
    records = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(records) == 3
    for r in records:
        assert sorted(r["solution"]) == list(range(12)) and r["cost"] <= r["start_cost"] + 1e-9


def test_a_learned_improver_needs_a_policy_and_reducer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """``--improve rrc`` re-constructs with the model's policy and reducer: a method without
    them is refused in one line, before anything runs."""
    (tmp_path / "symco_nearest2.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.syspath_prepend(str(tmp_path))
    import symco_nearest2

    from symco.core.training.checkpoints import write_model_file

    model = tmp_path / "nearest.pt"
    write_model_file(model, "symco_nearest2.NearestTour", {"start": 0},
                     symco_nearest2.NearestTour().state_dict())  # fmt: skip
    argv = ["evaluate", "--ckpt", str(model), "--generate", "12:1", "--improve", "rrc+2opt",
            "--improve-steps", "2", "--reference", "none"]  # fmt: skip
    try:
        assert main(argv, plugins=[("nearest", symco_nearest2)]) == 2
    finally:
        sys.modules.pop("symco_nearest2", None)
    err = _lines(capsys.readouterr().err)
    assert err == [
        "symco: error: --improve rrc: it re-constructs with the model's policy and reducer, and "
        "NearestTour has none"
    ]


def test_progress_off_a_terminal_is_one_line_per_size(capsys) -> None:
    argv = ["evaluate", "--ckpt", "bq-tsp", "--generate", "10:2,12:1", "--reference", "none"]
    assert main(argv) == 0
    err = _lines(capsys.readouterr().err)  # pytest's capture is not a terminal
    assert [e.split(":")[0] for e in err] == ["bq-tsp greedy n=10", "bq-tsp greedy n=12"]
    assert err[0].startswith("bq-tsp greedy n=10: 2/2 instances in ")


def test_a_large_instance_shows_its_steps(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """From ``STEP_PROGRESS`` nodes on a decode reports its steps (about one per node) with an
    ETA; off a terminal as lines (thresholds lowered here), never under ``--quiet``."""
    from functools import partial

    import symco.core.progress

    monkeypatch.setattr("symco.core.evaluation.methods.STEP_PROGRESS", 12)
    monkeypatch.setattr(symco.core.progress, "steps",
                        partial(symco.core.progress.steps, every=0.5, seconds=0))  # fmt: skip
    argv = ["evaluate", "--ckpt", "bq-tsp", "--generate", "10:1,12:1", "--reference", "none"]
    assert main(argv) == 0
    err = _lines(capsys.readouterr().err)
    assert err[0].startswith("bq-tsp greedy n=10: 1/1 instances in ")
    assert err[1].startswith("bq-tsp greedy n=12: 50% (6 of about 12 steps), ")
    assert " s, ETA " in err[1] and err[2].startswith("bq-tsp greedy n=12: 1/1 instances in ")
    assert main([*argv, "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_decoders_hand_on_packed_tensors() -> None:
    from symco.core.decoding import Decoder

    assert Decoder(lambda t: torch.zeros(1, 1, dtype=torch.long), "x").rows_per_instance == 1
