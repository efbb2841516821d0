"""`symco fit` on a tiny config, `symco evaluate` on its checkpoint, and clear errors."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
import torch

from symco.core.cli import main
from symco.plugins.bq.models import shipped_models

ROOT = Path(__file__).resolve().parents[3]
TINY = ROOT / "configs" / "tsp" / "tiny.yaml"


def _code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # LightningCLI / argparse exit through SystemExit
        return int(exc.code or 0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("fit")
    for name, num, seed in (("tsp10_train", 32, 0), ("tsp10_val", 8, 9)):
        assert main(["data", "--problem", "tsp", "--size", "10", "--num", str(num), "--seed", str(seed),
                     "--solver", "exact", "--workers", "1", "--quiet", "--out", str(work / "data" / f"{name}.npz")]) == 0  # fmt: skip
    return work


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")  # resuming
def test_fit_then_evaluate(trained: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(trained)
    assert _code(["fit", "--config", str(TINY)]) == 0
    ckpts = sorted((trained / "runs" / "tsp-tiny").rglob("*.ckpt"))
    assert ckpts, "fit wrote no checkpoint"
    # the last line of fit names what it wrote: the best (with val/gap) and the last checkpoint
    said = capsys.readouterr().out.splitlines()[-1]
    match = re.fullmatch(r"checkpoints: best (\S+) \(val/gap (\S+)\), last (\S+)", said)
    assert match, said
    assert (trained / match[1]).is_file() and (trained / match[3]).name == "last.ckpt"
    assert (trained / match[3]).is_file() and math.isfinite(float(match[2]))
    out = trained / "ev.jsonl"
    code = _code(["evaluate", "--ckpt", str(ckpts[-1]), "--instances", "data/tsp10_val.npz",
                  "--decode", "beam:2", "--out", str(out), "--threads", "1", "--workers", "1"])  # fmt: skip
    assert code == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 8 and sorted(rows[0]["solution"]) == list(range(10))
    assert {"name", "n", "cost", "solution", "time_s"} <= rows[0].keys()
    assert "gap % vs file" in capsys.readouterr().out  # the reference: the costs of the npz
    # resume continues the same run
    last = trained / "runs" / "tsp-tiny" / "checkpoints" / "last.ckpt"
    assert (
        _code(["fit", "--config", str(TINY), "--trainer.max_steps", "6", "--ckpt_path", str(last)])
        == 0
    )
    metrics = sorted((trained / "runs" / "tsp-tiny" / "csv").glob("version_*/metrics.csv"))[
        -1
    ].read_text()
    steps = [int(line.split(",")[1]) for line in metrics.splitlines()[1:]]
    assert (
        min(steps) > 0 and max(steps) == 5
    )  # continued from the checkpoint (not from step 0) to step 6
    # a slim export loads by path, and fine-tuning can start from it
    slim = trained / "slim.pt"
    assert _code(["export-model", "--ckpt", str(last), "--out", str(slim), "--notes", "tiny"]) == 0
    assert (
        _code(
            [
                "evaluate",
                "--ckpt",
                str(slim),
                "--generate",
                "12:2",
                "--reference",
                "exact",
                "--workers",
                "1",
            ]
        )
        == 0
    )
    assert _code(["fit", "--config", str(TINY), "--model.init_args.init_from", str(slim),
                  "--trainer.default_root_dir", "runs/tiny2"]) == 0  # fmt: skip


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")  # resuming
@pytest.mark.parametrize("stop", [6, 4])  # mid-epoch, and at the end of an epoch (4 batches of 8)
def test_resumed_run_equals_uninterrupted(
    trained: Path, monkeypatch: pytest.MonkeyPatch, stop: int
) -> None:
    """Stopped at `stop` and resumed to 10 steps, a run ends with exactly the weights of one that
    ran 10 steps at once: same batches in the same order, same sub-problems, same optimizer.
    (A constant learning rate: a cosine schedule is shaped by max_steps, which the stop changes.)"""
    every_step = trained / "every_step.yaml"
    every_step.write_text(
        "trainer:\n  callbacks:\n    - class_path: lightning.pytorch.callbacks.ModelCheckpoint\n"
        "      init_args: {dirpath: runs/tiny/checkpoints, every_n_train_steps: 1, save_last: true}\n"
        "model:\n  init_args: {schedule: constant}\n"
    )

    def run(name: str, *steps: int) -> dict[str, torch.Tensor]:
        work = trained / name
        work.mkdir()
        (work / "data").symlink_to(trained / "data")
        monkeypatch.chdir(work)
        last = work / "runs" / "tiny" / "checkpoints" / "last.ckpt"
        for i, max_steps in enumerate(steps):
            resume = ["--ckpt_path", str(last)] if i else []
            assert _code(["fit", "--config", str(TINY), "--config", str(every_step),
                          "--trainer.max_steps", str(max_steps), *resume]) == 0  # fmt: skip
        obj = torch.load(last, weights_only=True)
        assert obj["global_step"] == 10
        return obj["state_dict"]

    whole, resumed = run(f"whole{stop}", 10), run(f"resumed{stop}", stop, 10)
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")  # resuming
def test_fit_with_weight_averaging(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With Lightning's EMA callback a checkpoint's `state_dict` holds the averaged weights (what
    validation saw); export and evaluate use those, and resuming restores the raw ones too."""
    monkeypatch.chdir(trained)
    ema = trained / "ema.yaml"
    ema.write_text(
        "trainer:\n  default_root_dir: runs/ema\n  logger: false\n  callbacks:\n"
        "    - class_path: lightning.pytorch.callbacks.ModelCheckpoint\n"
        "      init_args: {dirpath: runs/ema/checkpoints, save_last: true}\n"
        "    - class_path: lightning.pytorch.callbacks.EMAWeightAveraging\n"
        "      init_args: {decay: 0.5}\n"
    )
    assert _code(["fit", "--config", str(TINY), "--config", str(ema)]) == 0
    last = trained / "runs" / "ema" / "checkpoints" / "last.ckpt"
    obj = torch.load(last, weights_only=True)
    averaged, raw = obj["state_dict"], obj["current_model_state"]
    assert averaged.keys() == raw.keys()
    assert any(not torch.equal(averaged[k], raw[k]) for k in raw)  # 4 steps: they differ
    slim = trained / "ema.pt"
    assert _code(["export-model", "--ckpt", str(last), "--out", str(slim), "--notes", "ema"]) == 0
    exported = torch.load(slim, weights_only=True)["state_dict"]
    assert all(torch.equal(v, averaged[k]) for k, v in exported.items())
    code = _code(["evaluate", "--ckpt", str(last), "--instances", "data/tsp10_val.npz",
                  "--threads", "1", "--workers", "1"])  # fmt: skip
    assert code == 0
    assert _code(["fit", "--config", str(TINY), "--config", str(ema),
                  "--trainer.max_steps", "6", "--ckpt_path", str(last)]) == 0  # fmt: skip
    assert torch.load(last, weights_only=True)["global_step"] == 6


@pytest.mark.slow
@pytest.mark.parametrize(
    "override, message",
    [
        (["--model.init_args.num_layerz", "3"], "num_layerz"),
        (["--model", "symco.plugins.bq.lightning.NoSuchModule"], "NoSuchModule"),
    ],
)
def test_bad_config_fails_clearly(
    trained: Path, monkeypatch, capsys, override: list[str], message: str
) -> None:
    monkeypatch.chdir(trained)
    assert _code(["fit", "--config", str(TINY), *override]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and message in err and "Traceback" not in err


def test_misspelled_yaml_key(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text().replace("max_steps:", "max_stepz:"))
    assert _code(["fit", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "max_stepz" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "content, message",
    [
        (b"this is not a checkpoint", "not a loadable checkpoint"),
        (None, "not a symco model checkpoint"),
        (b"", "not a loadable checkpoint"),
    ],
)
def test_corrupt_or_foreign_checkpoint(
    tmp_path: Path, capsys, content: bytes | None, message: str
) -> None:
    path = tmp_path / "x.ckpt"
    if content is None:
        torch.save({"weights": torch.zeros(3)}, path)  # a real torch file, but not ours
    else:
        path.write_bytes(content)
    code = _code(["evaluate", "--ckpt", str(path), "--generate", "10:1", "--reference", "none"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]


def test_unknown_model_name(capsys) -> None:
    assert _code(["evaluate", "--ckpt", "bq-nope", "--generate", "10:1"]) == 2
    assert "unknown model 'bq-nope'" in capsys.readouterr().err


def test_shipped_model_listed_and_decodes(capsys, tmp_path: Path) -> None:
    assert _code(["models"]) == 0
    assert "bq-tsp" in capsys.readouterr().out
    out = tmp_path / "r.jsonl"
    code = _code(["evaluate", "--ckpt", "bq-tsp", "--generate", "30:3", "--reference", "none",
                  "--decode", "beam:2", "--out", str(out), "--threads", "1"])  # fmt: skip
    assert code == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 3 and all(sorted(r["solution"]) == list(range(30)) for r in rows)


@pytest.mark.parametrize("name", sorted(shipped_models()))
def test_every_shipped_model_decodes_feasibly(name: str, tmp_path: Path) -> None:
    """Each shipped model loads by name and decodes fresh instances of its problem (evaluate checks
    feasibility of every solution it writes)."""
    out = tmp_path / "r.jsonl"
    code = _code(["evaluate", "--ckpt", name, "--generate", "20:3", "--reference", "none",
                  "--out", str(out), "--threads", "1"])  # fmt: skip
    assert code == 0
    assert len(out.read_text().splitlines()) == 3


@pytest.mark.slow
@pytest.mark.parametrize("problem", ["cvrp", "op", "kp"])
def test_fit_then_evaluate_other_problems(
    problem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Each problem's tiny config trains through `symco fit`; evaluate writes its solution format."""
    monkeypatch.chdir(tmp_path)
    solver = "exact" if problem != "kp" else "dp"
    for name, num, seed in ((f"{problem}10_train", 16, 0), (f"{problem}10_val", 4, 9)):
        assert main(["data", "--problem", problem, "--size", "8", "--num", str(num), "--seed", str(seed),
                     "--solver", solver, "--workers", "1", "--quiet", "--out", f"data/{name}.npz"]) == 0  # fmt: skip
    assert _code(["fit", "--config", str(ROOT / "configs" / problem / "tiny.yaml")]) == 0
    last = tmp_path / "runs" / f"{problem}-tiny" / "checkpoints" / "last.ckpt"
    assert last.is_file()
    out = tmp_path / "ev.jsonl"
    code = _code(["evaluate", "--ckpt", str(last), "--instances", f"data/{problem}10_val.npz",
                  "--decode", "beam:2", "--baselines", "--out", str(out), "--threads", "1",
                  "--workers", "1", "--plot", str(tmp_path / "png")])  # fmt: skip
    assert code == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 4
    sol = rows[0]["solution"]
    if problem == "cvrp":  # routes of customers 1..N, each customer once
        assert sorted(c for r in sol for c in r) == list(range(1, 9))
    else:  # OP: visited nodes 1..N in order; KP: chosen items 0..N-1
        assert all(isinstance(v, int) for v in sol) and len(set(sol)) == len(sol)
    assert "gap %" in capsys.readouterr().out


def test_gradient_accumulation_draws_fresh_subproblems(registry) -> None:
    """Each micro-batch of an accumulation window gets its own sub-problem seed (global_step
    alone repeats across the window); without accumulation the seeds are unchanged."""
    import lightning as L
    import numpy as np

    from symco.core.training.checkpoints import build_module

    hp = {"problem": {"class_path": "symco.problems.tsp.problem.TSP"},
          "reducer": {"class_path": "symco.plugins.bq.tsp.BQTSPReducer"},
          "policy": {"class_path": "symco.plugins.bq.policy.BQTransformer",
                     "init_args": {"num_layers": 1, "dim": 16, "heads": 2, "ff_dim": 16}},
          "warmup_steps": 1}  # fmt: skip
    tsp = registry.problem("tsp")
    inst = tsp.generate(16, 8, rng=np.random.default_rng(0))
    tours = np.stack([np.random.default_rng(i).permutation(8) for i in range(16)])
    rows = [{"coords": torch.as_tensor(inst["coords"][i]), "solutions": torch.as_tensor(tours[i])}
            for i in range(16)]  # fmt: skip
    loader = torch.utils.data.DataLoader(rows, batch_size=4)

    def seeds(accumulate: int) -> list[int]:
        module = build_module("symco.plugins.bq.lightning.BQModule", hp, registry)
        drawn: list[int] = []
        original = module._step_seed
        module._step_seed = lambda: drawn.append(original()) or drawn[-1]  # type: ignore[method-assign]
        trainer = L.Trainer(max_steps=2, accumulate_grad_batches=accumulate, logger=False,
                            enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False, accelerator="cpu")  # fmt: skip
        trainer.fit(module, loader)
        return drawn

    one, two = seeds(1), seeds(2)
    assert one == [0 * 64, 1 * 64]  # seed 0: the historical seeds, global_step * 64 + rank
    assert len(two) == 4 and len(set(two)) == 4


def test_table_names_its_reference_and_real_knn(capsys) -> None:
    code = _code(["evaluate", "--ckpt", "bq-tsp", "--generate", "8:2,30:2", "--knn", "10",
                  "--reference", "farthest", "--workers", "1", "--threads", "1", "--quiet"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert "gap % vs farthest" in out[0]
    rows = {line.split()[1]: line for line in out[2:]}
    assert "knn10" not in rows["8"] and "knn10" in rows["30"]  # no view of 8 nodes was cut


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty")
def test_fit_prints_no_lightning_tips(
    trained: Path, monkeypatch: pytest.MonkeyPatch, capfd
) -> None:
    monkeypatch.chdir(trained)
    assert _code(["fit", "--config", str(TINY), "--trainer.max_steps", "1",
                  "--trainer.default_root_dir", "runs/quiet"]) == 0  # fmt: skip
    out, err = capfd.readouterr()
    assert "Tip:" not in out + err and "LeafSpec" not in out + err


def test_missing_data_is_refused_before_training_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    assert _code(["fit", "--config", str(ROOT / "configs" / "tsp" / "cpu.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (
        "symco: error: data.train_paths: data/tsp100_train.npz: no such file (make it with `symco data`)"
    )
    assert not (tmp_path / "runs").exists()  # no empty log folders left behind


def test_evaluate_with_improvement_records_start_cost_and_steps(tmp_path: Path, capsys) -> None:
    out = tmp_path / "r.jsonl"
    code = _code(["evaluate", "--ckpt", "bq-tsp", "--generate", "20:3", "--reference", "none",
                  "--improve", "rrc+2opt", "--improve-steps", "2", "--out", str(out),
                  "--threads", "1", "--quiet"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "bq-tsp greedy +rrc+2opt" in printed
    assert "gap median / p90 / max" in printed.splitlines()[0]  # improving: the distribution
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 3
    for r in rows:
        assert r["improve_steps"] == 2 and r["cost"] <= r["start_cost"] + 1e-9
        assert sorted(r["solution"]) == list(range(20))


def test_evaluate_time_limit_is_per_instance(capsys) -> None:
    code = _code(["evaluate", "--ckpt", "bq-cvrp", "--generate", "20:2", "--reference", "none",
                  "--improve", "rrc", "--time-limit", "0.5", "--threads", "1", "--quiet"])  # fmt: skip
    assert code == 0
    row = capsys.readouterr().out.splitlines()[2].split()
    assert row[-1] == "-"  # no reference: no gap distribution
    assert 0.4 <= float(row[-2]) <= 1.5  # s/instance: construction + improvement


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ckpt", "bq-cvrp", "--improve", "2opt", "--improve-steps", "2"],
         "--improve: no improver '2opt' for cvrp (its improvers: ls, rr, rrc)"),
        (["--ckpt", "bq-op", "--improve", "rrc", "--improve-steps", "2"],
         "--improve: no improver 'rrc' for op (its improvers: none)"),
        (["--ckpt", "bq-tsp", "--improve", "rrc"], "--improve rrc: give --improve-steps N or --time-limit S"),
        (["--ckpt", "bq-tsp", "--time-limit", "2"], "--time-limit: only with --improve NAME"),
        (["--ckpt", "bq-tsp", "--improve", "rrc", "--time-limit", "0"], "--time-limit"),
        (["--ckpt", "bq-tsp", "--improve", "rrc", "--improve-steps", "-1"], "--improve-steps"),
    ],
)  # fmt: skip
def test_bad_improve_options_fail_in_one_line(argv: list[str], message: str, capsys) -> None:
    code = _code(["evaluate", *argv, "--generate", "10:1", "--reference", "none"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
