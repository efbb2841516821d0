"""`symco export-model`: slim files, and the weight average of several checkpoints of one run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from symco.core.cli import main
from symco.plugins.bq.lightning import BQModule
from symco.plugins.bq.models import export_model, load_model

HP = dict(
    problem="tsp", reducer="bq", policy="transformer", num_layers=1, dim=16, heads=2, ff_dim=16
)


def _ckpt(path: Path, seed: int, step: int, **hp: object) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    module = BQModule(**{**HP, **hp})  # type: ignore[arg-type]
    state = {k: v.clone() for k, v in module.state_dict().items()}
    torch.save({"state_dict": state, "hyper_parameters": {**HP, **hp}, "global_step": step}, path)
    return state


def test_export_averages_weights(tmp_path: Path) -> None:
    states = [_ckpt(tmp_path / f"s{i}.ckpt", seed=i, step=100 * (i + 1)) for i in range(3)]
    out = tmp_path / "avg.pt"
    slim = export_model([tmp_path / f"s{i}.ckpt" for i in range(3)], out, "avg")
    assert slim["global_step"] == 300 and slim["averaged_from"] == ["s0.ckpt", "s1.ckpt", "s2.ckpt"]
    for k, v in slim["state_dict"].items():
        assert v.dtype == states[0][k].dtype
        if v.is_floating_point():
            torch.testing.assert_close(v, sum(s[k] for s in states) / 3)
    model = load_model(str(out), {})  # the average loads like any model
    torch.testing.assert_close(model.policy.head.weight, slim["state_dict"]["policy.head.weight"])


def test_export_one_checkpoint_is_unchanged(tmp_path: Path) -> None:
    state = _ckpt(tmp_path / "a.ckpt", seed=0, step=7)
    slim = export_model([tmp_path / "a.ckpt"], tmp_path / "a.pt", "")
    assert "averaged_from" not in slim and slim["global_step"] == 7
    for k, v in slim["state_dict"].items():
        assert torch.equal(v, state[k])


@pytest.mark.parametrize(
    "other, message", [({"dim": 32}, "'dim' is 32"), ({"reducer": "bq-dist"}, "'reducer'")]
)
def test_export_refuses_to_average_different_models(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], other: dict[str, object], message: str
) -> None:
    _ckpt(tmp_path / "a.ckpt", seed=0, step=1)
    _ckpt(tmp_path / "b.ckpt", seed=1, step=2, **other)
    out = tmp_path / "x.pt"
    code = main(
        [
            "export-model",
            "--ckpt",
            str(tmp_path / "a.ckpt"),
            str(tmp_path / "b.ckpt"),
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0] and "b.ckpt" in err[0]
    assert not out.exists()
