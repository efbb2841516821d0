"""Every shipped YAML config parses through LightningCLI: keys, class paths and types checked."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from symco.core.cli import main

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").rglob("*.yaml"))


def test_configs_found() -> None:
    assert len(CONFIGS) >= 10


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT / "configs")))
def test_config_parses(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:  # --print_config exits after printing
        main(["fit", "--config", str(path), "--print_config"])
    assert exc.value.code in (0, None), capsys.readouterr().err
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["model"]["class_path"] and printed["data"]["class_path"]


@pytest.mark.parametrize(
    "path", [p for p in CONFIGS if p.name != "tiny.yaml" and "zinc" not in p.parts]
)
def test_long_runs_stay_resumable(path: Path) -> None:
    """A run that is stopped resumes from last.ckpt, which must follow the run even when the
    monitored metric stops improving (Lightning only refreshes a best-k callback's last.ckpt
    when it saves a new best)."""
    trainer = yaml.safe_load(path.read_text())["trainer"]
    ckpts = [
        c["init_args"] for c in trainer["callbacks"] if c["class_path"].endswith("ModelCheckpoint")
    ]
    rolling = [c for c in ckpts if c.get("save_last") and not c.get("monitor")]
    assert len(rolling) == 1 and not any(c.get("save_last") and c.get("monitor") for c in ckpts)
    (c,) = rolling
    # the final step lands on a save, and a resumed run rewrites last.ckpt rather than last-v1.ckpt
    assert trainer.get("max_steps", 0) % c["every_n_train_steps"] == 0  # (paper.yaml: epochs)
    assert c["enable_version_counter"] is False and c["auto_insert_metric_name"] is False


def _run_dirs(path: Path) -> set[str]:
    """The ``runs/<name>`` folders a config writes to (root dir, loggers, checkpoints)."""
    trainer = yaml.safe_load(path.read_text())["trainer"]
    sections = [trainer.get("logger") or [], trainer.get("callbacks") or []]
    paths = [trainer.get("default_root_dir")] + [
        (c.get("init_args") or {}).get(key)
        for section in sections
        for c in (section if isinstance(section, list) else [section])
        if isinstance(c, dict)
        for key in ("save_dir", "dirpath")
    ]
    return {"/".join(Path(p).parts[:2]) for p in paths if isinstance(p, str)}


def test_each_config_writes_its_own_run_directory() -> None:
    """Two configs never share a run folder (one run's checkpoints and logs overwriting
    another's): the tiny configs of the problems once all wrote to runs/tiny."""
    owners: dict[str, list[str]] = {}
    for path in CONFIGS:
        dirs = _run_dirs(path)
        assert dirs, f"{path}: writes no run folder"
        for d in dirs:
            owners.setdefault(d, []).append(str(path.relative_to(ROOT)))
    shared = {d: paths for d, paths in owners.items() if len(paths) > 1}
    assert not shared, shared
