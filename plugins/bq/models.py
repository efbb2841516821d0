"""Loading, exporting and naming trained BQ models (checkpoints load with ``weights_only=True``)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from symco.core.dataset import atomic_path
from symco.core.errors import DataFileError, UnknownNameError

FORMAT = "symco-policy/1"
MODELS_DIR = Path(__file__).with_name("models")


def shipped_models() -> dict[str, str]:
    """Models in this plugin's ``models/`` folder: ``{file stem: path}``."""
    return {p.stem: str(p) for p in sorted(MODELS_DIR.glob("*.pt"))}


def all_models(pm: Any) -> dict[str, str]:
    """Every plugin's models by name (``symco_models`` hook)."""
    from symco.core.errors import DuplicateNameError

    found: dict[str, tuple[str, str]] = {}
    for impl in pm.hook.symco_models.get_hookimpls():
        plugin = pm.get_name(impl.plugin)
        for name, path in (impl.function() or {}).items():
            if name in found:
                raise DuplicateNameError(
                    f"model '{name}' is shipped twice: by plugin '{found[name][0]}' and by plugin '{plugin}'"
                )
            found[name] = (plugin, path)
    return {name: path for name, (_, path) in found.items()}


def read_checkpoint(path: Path) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` with one clear line for anything that is not a checkpoint."""
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (
        Exception
    ) as exc:  # torch raises many types for foreign/corrupt files; all mean "not a checkpoint"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataFileError(f"{path}: not a loadable checkpoint ({first[:160]})") from None
    if not isinstance(obj, dict) or "state_dict" not in obj or "hyper_parameters" not in obj:
        raise DataFileError(
            f"{path}: not a symco model checkpoint (no 'state_dict' and 'hyper_parameters')"
        )
    return obj


@dataclass
class LoadedModel:
    """A policy with the problem and reducer it was trained for."""

    name: str
    module: Any  # BQModule
    meta: dict[str, Any]

    @property
    def problem(self) -> Any:
        return self.module.problem

    @property
    def reducer(self) -> Any:
        return self.module.reducer

    @property
    def policy(self) -> Any:
        return self.module.policy


def load_model(ckpt: str, models: dict[str, str]) -> LoadedModel:
    """Load a shipped model by name, a symco model file or a Lightning checkpoint of a BQModule."""
    from symco.plugins.bq.lightning import BQModule

    path = Path(models[ckpt]) if ckpt in models else Path(ckpt)
    if ckpt not in models and not path.exists() and "/" not in ckpt and not path.suffix:
        raise UnknownNameError(f"unknown model '{ckpt}'; shipped: {', '.join(models) or 'none'}")
    obj = read_checkpoint(path)
    hp = dict(obj["hyper_parameters"])
    accepted = set(inspect.signature(BQModule.__init__).parameters) - {"self"}
    unknown = sorted(set(hp) - accepted - {"_instantiator", "_class_path"})
    if unknown:
        raise DataFileError(f"{path}: hyper-parameters {unknown} are not BQModule's")
    module = BQModule(**{k: v for k, v in hp.items() if k in accepted})
    try:
        module.load_state_dict(_policy_state(obj), strict=True)
    except RuntimeError as exc:
        raise DataFileError(
            f"{path}: weights do not fit the model ({str(exc).splitlines()[0]})"
        ) from None
    module.eval()
    meta = {
        k: v
        for k, v in obj.items()
        # weights and optimizer/averaging state stay out of the metadata (Lightning's
        # WeightAveraging saves the raw weights as `current_model_state` beside the averaged
        # `state_dict`)
        if k not in _NOT_METADATA
    }
    return LoadedModel(ckpt if ckpt in models else path.stem, module, meta)


_NOT_METADATA = (
    "state_dict",
    "hyper_parameters",
    "optimizer_states",
    "current_model_state",
    "averaging_state",
)
ARCHITECTURE = ("problem", "reducer", "policy", "num_layers", "dim", "heads", "ff_dim")


def _public_hparams(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj["hyper_parameters"].items() if not k.startswith("_")}


def _policy_state(obj: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in obj["state_dict"].items() if k.startswith("policy.")}


def export_model(ckpts: Sequence[Path], out: Path, notes: str) -> dict[str, Any]:
    """Write a slim model file (hyper-parameters, policy weights, notes) from Lightning checkpoints.

    Several checkpoints of one run (say the last few periodic ones of a cosine schedule) are
    averaged weight by weight: the mean of nearby points of one trajectory can sit in a flatter,
    better region than any of them (Izmailov et al. 2018, https://arxiv.org/abs/1803.05407) —
    check it on validation data. They must share the model's hyper-parameters; the first one's are
    kept, as are its non-float tensors.
    """
    if not ckpts:
        raise DataFileError("export-model: no checkpoint given")
    objs = [read_checkpoint(p) for p in ckpts]
    hp, states = _public_hparams(objs[0]), [_policy_state(o) for o in objs]
    for path, obj, state in zip(ckpts[1:], objs[1:], states[1:]):
        other = _public_hparams(obj)
        diff = [k for k in ARCHITECTURE if other.get(k) != hp.get(k)]
        if diff:
            k = diff[0]
            raise DataFileError(
                f"{path}: hyper-parameter '{k}' is {other.get(k)!r}, {ckpts[0]} has {hp.get(k)!r}; "
                "only checkpoints of one model can be averaged"
            )
        if state.keys() != states[0].keys() or any(
            state[k].shape != v.shape for k, v in states[0].items()
        ):
            raise DataFileError(f"{path}: weights do not match those of {ckpts[0]}")
    slim = {
        "format": FORMAT,
        "hyper_parameters": hp,
        "state_dict": {
            k: torch.stack([s[k] for s in states]).double().mean(0).to(v.dtype)
            if v.is_floating_point()
            else v
            for k, v in states[0].items()
        },
        "notes": notes,
        "global_step": max(int(o.get("global_step", 0)) for o in objs),
    }
    if len(ckpts) > 1:
        slim["averaged_from"] = [Path(c).name for c in ckpts]
    with atomic_path(out) as tmp:
        torch.save(slim, tmp)
    return slim
