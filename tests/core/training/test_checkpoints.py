"""Checkpoints of any registered module: rebuilt by class path, slim exports, weight averages."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from symco.core.cli import main
from symco.core.errors import DataFileError, UnknownNameError
from symco.core.training.checkpoints import build_module, export_model, load_model

BQ = "symco.plugins.bq.lightning.BQModule"


def _hp(dim: int = 16, reducer: str = "symco.plugins.bq.tsp.BQTSPReducer") -> dict:
    return {
        "problem": {"class_path": "symco.problems.tsp.problem.TSP"},
        "reducer": {"class_path": reducer},
        "policy": {
            "class_path": "symco.plugins.bq.policy.BQTransformer",
            "init_args": {"num_layers": 1, "dim": dim, "heads": 2, "ff_dim": 16},
        },
    }


def _ckpt(path: Path, registry, seed: int, step: int, **kw: object) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    hp = _hp(**kw)  # type: ignore[arg-type]
    module = build_module(BQ, hp, registry)
    state = {k: v.clone() for k, v in module.state_dict().items()}
    # what `symco fit` writes: LightningCLI's hyper-parameters carry the class path
    torch.save(
        {"state_dict": state, "hyper_parameters": {"_class_path": BQ, **hp}, "global_step": step},
        path,
    )
    return state


def test_built_module_records_a_plain_config(registry) -> None:
    module = build_module(BQ, _hp(), registry)
    assert module.hparams["_class_path"] == BQ
    assert module.hparams["policy"]["init_args"]["dim"] == 16  # a config, not an object


def test_export_averages_weights(tmp_path: Path, registry) -> None:
    states = [
        _ckpt(tmp_path / f"s{i}.ckpt", registry, seed=i, step=100 * (i + 1)) for i in range(3)
    ]
    out = tmp_path / "avg.pt"
    slim = export_model([tmp_path / f"s{i}.ckpt" for i in range(3)], out, "avg", registry)
    assert slim["global_step"] == 300 and slim["averaged_from"] == ["s0.ckpt", "s1.ckpt", "s2.ckpt"]
    assert slim["class_path"] == BQ
    for k, v in slim["state_dict"].items():
        assert v.dtype == states[0][k].dtype
        if v.is_floating_point():
            torch.testing.assert_close(v, sum(s[k] for s in states) / 3)
    model = load_model(str(out), {}, registry)  # the average loads like any model
    torch.testing.assert_close(
        model.module.policy.head.weight, slim["state_dict"]["policy.head.weight"]
    )


def test_export_one_checkpoint_is_unchanged(tmp_path: Path, registry) -> None:
    state = _ckpt(tmp_path / "a.ckpt", registry, seed=0, step=7)
    slim = export_model([tmp_path / "a.ckpt"], tmp_path / "a.pt", "", registry)
    assert "averaged_from" not in slim and slim["global_step"] == 7
    for k, v in slim["state_dict"].items():
        assert torch.equal(v, state[k])


@pytest.mark.parametrize(
    "other, message",
    [
        ({"dim": 32}, "'policy'"),
        ({"reducer": "symco.plugins.bq.tsp.BQTSPDistanceReducer"}, "'reducer'"),
    ],
)
def test_export_refuses_to_average_different_models(
    tmp_path: Path, registry, capsys: pytest.CaptureFixture[str], other: dict, message: str
) -> None:
    _ckpt(tmp_path / "a.ckpt", registry, seed=0, step=1)
    _ckpt(tmp_path / "b.ckpt", registry, seed=1, step=2, **other)
    out = tmp_path / "x.pt"
    code = main(["export-model", "--ckpt", str(tmp_path / "a.ckpt"), str(tmp_path / "b.ckpt"),
                 "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0] and "b.ckpt" in err[0]
    assert not out.exists()


def _save(path: Path, class_path: str | None) -> None:
    hp = {"_class_path": class_path} if class_path else {"lr": 1.0}
    torch.save({"state_dict": {}, "hyper_parameters": hp}, path)


@pytest.mark.parametrize(
    "class_path, error, message",
    [
        ("symco_no_such_module.Model", UnknownNameError, "cannot be imported"),
        ("collections.OrderedDict", UnknownNameError, "is not registered"),
        (None, DataFileError, "records no class path"),
    ],
)
def test_foreign_class_paths_are_refused(
    tmp_path: Path, registry, class_path: str | None, error: type, message: str
) -> None:
    _save(tmp_path / "m.ckpt", class_path)
    with pytest.raises(error, match=message):
        load_model(str(tmp_path / "m.ckpt"), {}, registry)


def test_cli_refuses_an_unregistered_class_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _save(tmp_path / "m.ckpt", "collections.OrderedDict")
    code = main(["check-symmetry", "--ckpt", str(tmp_path / "m.ckpt")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0].startswith(
        "symco: error: model class 'collections.OrderedDict' is not registered"
    )
