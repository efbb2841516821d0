"""A bad `symco fit` config or override is one line: `symco: error: FILE: KEY: what is wrong`.

Each case runs `symco.core.cli.main` in-process on the tiny TSP config with one mistake, and
checks exit status 2, a single stderr line naming the user's file (or `command line`) and the
dotted key, and the "did you mean" where a close name exists.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from symco.core.cli import main
from symco.core.training.errors import COMMAND_LINE, ErrorContext

ROOT = Path(__file__).resolve().parents[3]
TINY = ROOT / "configs" / "tsp" / "tiny.yaml"
PREFIX = "symco: error: "


def _code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # LightningCLI exits through SystemExit (e.g. --help)
        return int(exc.code or 0)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny config's data files, built once for the module."""
    work = tmp_path_factory.mktemp("tiny-data")
    for name, num, seed in (("tsp10_train", 32, 0), ("tsp10_val", 8, 9)):
        argv = ["data", "--problem", "tsp", "--size", "10", "--num", str(num), "--seed", str(seed),
                "--solver", "exact", "--workers", "1", "--quiet", "--out", str(work / f"{name}.npz")]  # fmt: skip
        assert main(argv) == 0
    return work


@pytest.fixture
def workdir(data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh working directory whose ``data/`` is the module's data; Lightning's info lines
    (``Seed set to 0``, ``GPU available: ...``), printed before training starts, are silenced
    so that stderr holds only what symco reports."""
    (tmp_path / "data").symlink_to(data, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    loggers = [logging.getLogger(name) for name in ("lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    yield tmp_path
    for logger, level in zip(loggers, levels):
        logger.setLevel(level)


def _config(workdir: Path, old: str, new: str) -> str:
    """The tiny config with ``old`` replaced by ``new``, written to ``bad.yaml`` (relative)."""
    text = TINY.read_text()
    assert old in text
    (workdir / "bad.yaml").write_text(text.replace(old, new, 1))
    return "bad.yaml"


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(PREFIX), lines[0]
    return lines[0][len(PREFIX) :]


@pytest.mark.parametrize(
    "edit, overrides, expected",
    [
        pytest.param(
            ("max_steps:", "max_stepz:"),
            [],
            "bad.yaml: trainer.max_stepz: unknown key; did you mean 'max_steps'?",
            id="a-yaml-trainer-key",
        ),
        pytest.param(
            ("num_layers:", "num_layer:"),
            [],
            "bad.yaml: model.init_args.policy.init_args.num_layer: unknown key;"
            " did you mean 'num_layers'?",
            id="a-yaml-nested-class-key",
        ),
        pytest.param(
            None,
            ["--trainer.max_step", "5"],
            "command line: trainer.max_step: unknown option; did you mean '--trainer.max_steps'?",
            id="b-override-trainer-key",
        ),
        pytest.param(
            None,
            ["--model.init_args.lrr", "1"],
            "command line: model.init_args.lrr: unknown option;"
            " did you mean '--model.init_args.lr'?",
            id="b-override-model-key",
        ),
        pytest.param(
            None,
            ["--trainer.max_steps", "abc"],
            "command line: trainer.max_steps: expected an int, got 'abc'",
            id="c-override-wrong-type",
        ),
        pytest.param(
            ("max_steps: 4", "max_steps: abc"),
            [],
            "bad.yaml: trainer.max_steps: expected an int, got 'abc'",
            id="c-yaml-wrong-type",
        ),
        pytest.param(
            None,
            ["--model", "symco.plugins.bq.lightning.NoSuchModule"],
            "command line: model: cannot import 'symco.plugins.bq.lightning.NoSuchModule'",
            id="d-unknown-class-path",
        ),
        pytest.param(
            ("  max_steps: 4\n", "  max_steps: 4\n  bad: [unclosed\n"),
            [],
            "bad.yaml: line 8: not valid YAML",
            id="e-broken-yaml",
        ),
        pytest.param(
            ("problem: tsp", "problem: tsq"),
            [],
            "bad.yaml: model.init_args.problem: unknown problem 'tsq'; registered: ",
            id="g-unknown-registry-name",
        ),
    ],
)
def test_bad_config_is_one_line(
    workdir: Path,
    capsys: pytest.CaptureFixture[str],
    edit: tuple[str, str] | None,
    overrides: list[str],
    expected: str,
) -> None:
    config = _config(workdir, *edit) if edit else str(TINY)
    assert _code(["fit", "--config", config, *overrides]) == 2
    line = _one_line(capsys)
    assert line.startswith(expected), line


def test_unknown_registry_name_suggests(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(workdir, "problem: tsp", "problem: tsq")
    assert _code(["fit", "--config", config]) == 2
    assert _one_line(capsys).endswith("did you mean 'tsp'?")


def test_unknown_class_path_suggests(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        _code(["fit", "--config", str(TINY), "--model", "symco.plugins.bq.lightning.BQModul"]) == 2
    )
    assert _one_line(capsys).endswith("did you mean 'symco.plugins.bq.lightning.BQModule'?")


@pytest.mark.parametrize("where", ["command line", "yaml"])
def test_val_check_interval_beyond_the_batches(
    workdir: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    """Lightning rejects it only once training starts (a ValueError inside ``trainer.fit``)."""
    if where == "yaml":
        config, overrides = _config(workdir, "val_check_interval: 2", "val_check_interval: 100"), []
        label = "bad.yaml"
    else:
        config, overrides = str(TINY), ["--trainer.val_check_interval", "100"]
        label = COMMAND_LINE
    assert _code(["fit", "--config", config, *overrides]) == 2
    line = _one_line(capsys)
    assert line.startswith(
        f"{label}: trainer.val_check_interval: 100 is larger than the 4 training batches per epoch"
    ), line


def test_a_later_source_is_named(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With several configs, the one that set the bad key is named, not the first."""
    (workdir / "extra.yaml").write_text("trainer:\n  max_epochz: 3\n")
    assert _code(["fit", "--config", str(TINY), "--config", "extra.yaml"]) == 2
    assert _one_line(capsys) == (
        "extra.yaml: trainer.max_epochz: unknown key; did you mean 'max_epochs'?"
    )


def test_help_still_prints_lightning_help(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _code(["fit", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--trainer.max_steps" in out and "--config" in out


def test_unparsable_message_falls_back_to_its_first_line() -> None:
    context = ErrorContext("fit")
    context.read_arguments(["--trainer.max_steps", "3"])
    error = context.argument_error("Something new happened\n  with details\n")
    assert str(error) == "command line: something new happened"


def test_lightning_errors_elsewhere_keep_their_traceback() -> None:
    context = ErrorContext("fit")
    context.read_arguments(["--trainer.val_check_interval", "100"])
    try:  # raised here, not inside Lightning: a bug to show, not a setting to blame
        raise ValueError("`val_check_interval` (100) must be less than or equal to the number"
                         " of the training batches (4).")  # fmt: skip
    except ValueError as exc:
        assert context.lightning_error(exc) is None
