"""Checkpoints and model files of any registered module, rebuilt from their class path.

A Lightning checkpoint written by ``symco fit`` records its module's class path and init
arguments (``hyper_parameters["_class_path"]``, LightningCLI's convention); a symco model file
(``symco export-model``) records them as ``class_path`` and ``hyper_parameters``. Either is read
with ``torch.load(weights_only=True)`` and rebuilt only if its class is a registered model —
a checkpoint cannot make symco import an arbitrary class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from symco.core.dataset import atomic_path
from symco.core.dotted import DottedPathError, import_object
from symco.core.errors import DataFileError, UnknownNameError
from symco.core.registry import Registry

FORMAT = "symco-model/2"
NOT_METADATA = (
    "state_dict",
    "hyper_parameters",
    "optimizer_states",
    "lr_schedulers",
    "loops",
    "callbacks",
    # Lightning's WeightAveraging keeps the raw weights beside the averaged `state_dict`
    "current_model_state",
    "averaging_state",
)
"""Checkpoint keys that are weights or training state, not metadata."""


def read_checkpoint(path: Path) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` with one clear line for anything that is not a checkpoint."""
    import torch

    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign/corrupt files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataFileError(f"{path}: not a loadable checkpoint ({first[:160]})") from None
    if not isinstance(obj, dict) or "state_dict" not in obj or "hyper_parameters" not in obj:
        raise DataFileError(
            f"{path}: not a symco model checkpoint (no 'state_dict' and 'hyper_parameters')"
        )
    return obj


def module_config(obj: Mapping[str, Any], where: object) -> tuple[str, dict[str, Any]]:
    """``(class path, init arguments)`` recorded in a checkpoint or model file."""
    hp = dict(obj["hyper_parameters"])
    class_path = obj.get("class_path") or hp.get("_class_path")
    if not isinstance(class_path, str) or not class_path:
        raise DataFileError(
            f"{where}: records no class path of its module (train it with `symco fit`)"
        )
    return class_path, {k: v for k, v in hp.items() if not k.startswith("_")}


def registered_class(class_path: str, registry: Registry) -> type[Any]:
    """The class at ``class_path``, which must be importable and a registered model."""
    try:
        import_object(class_path)
    except DottedPathError:
        raise UnknownNameError(f"model class '{class_path}' cannot be imported") from None
    entry = registry.model_for_class_path(class_path)
    return entry.obj  # type: ignore[no-any-return]


def build_module(class_path: str, init_args: Mapping[str, Any], registry: Registry) -> Any:
    """Instantiate the registered module ``class_path`` from its (nested, ``class_path``/
    ``init_args``) arguments, the way LightningCLI does, so that its ``hparams`` record the
    same plain config (and a checkpoint of it rebuilds it again)."""
    import inspect

    from lightning.pytorch.cli import instantiate_module
    from lightning.pytorch.core.mixins.hparams_mixin import _given_hyperparameters_context

    cls = registered_class(class_path, registry)
    # the defaults of arguments not given are recorded too, as LightningCLI records them
    defaults = {
        name: p.default
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and p.default is not inspect.Parameter.empty and name not in init_args
    }
    config = {"_class_path": class_path, **defaults, **init_args}
    try:
        with _given_hyperparameters_context(
            hparams=dict(config), instantiator="lightning.pytorch.cli.instantiate_module"
        ):
            return instantiate_module(cls, config)
    except Exception as exc:  # jsonargparse reports a bad config with many exception types
        from symco.core.errors import SymcoError

        if isinstance(exc, SymcoError):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataFileError(f"{class_path}: cannot be built from its arguments ({first})") from None


@dataclass
class LoadedModel:
    """A module rebuilt from a checkpoint or a shipped model file, in eval mode."""

    name: str
    path: Path
    module: Any
    meta: dict[str, Any]


def resolve_model_path(ckpt: str, models: Mapping[str, str]) -> Path:
    """A shipped model's file by name, else ``ckpt`` as a path."""
    if ckpt in models:
        return Path(models[ckpt])
    path = Path(ckpt)
    if not path.exists() and "/" not in ckpt and not path.suffix:
        raise UnknownNameError(f"unknown model '{ckpt}'; shipped: {', '.join(models) or 'none'}")
    return path


def load_model(ckpt: str, models: Mapping[str, str], registry: Registry) -> LoadedModel:
    """Load a shipped model by name, a symco model file or a Lightning checkpoint."""
    path = resolve_model_path(ckpt, models)
    obj = read_checkpoint(path)
    class_path, init_args = module_config(obj, path)
    module = build_module(class_path, init_args, registry)
    try:
        module.load_state_dict(obj["state_dict"], strict=True)
    except RuntimeError as exc:
        raise DataFileError(
            f"{path}: weights do not fit the model ({str(exc).splitlines()[0]})"
        ) from None
    module.eval()
    meta = {k: v for k, v in obj.items() if k not in NOT_METADATA}
    return LoadedModel(ckpt if ckpt in models else path.stem, path, module, meta)


def _same_architecture(cls: type[Any], a: Mapping[str, Any], b: Mapping[str, Any]) -> str | None:
    """The first init argument that must agree for averaging and does not (``None``: all agree).

    A module lists them in ``architecture_hparams`` (default: every argument)."""
    keys = getattr(cls, "architecture_hparams", None) or sorted(set(a) | set(b))
    return next((k for k in keys if a.get(k) != b.get(k)), None)


def export_model(
    ckpts: Sequence[Path], out: Path, notes: str, registry: Registry
) -> dict[str, Any]:
    """Write a slim model file (class path, hyper-parameters, weights, notes) from checkpoints.

    Several checkpoints of one run (say the last few periodic ones of a cosine schedule) are
    averaged weight by weight: the mean of nearby points of one trajectory can sit in a flatter,
    better region than any of them (Izmailov et al. 2018, https://arxiv.org/abs/1803.05407) —
    check it on validation data. They must share the class and the hyper-parameters that shape
    the weights; the first one's are kept, as are its non-float tensors.
    """
    import torch

    if not ckpts:
        raise DataFileError("export-model: no checkpoint given")
    objs = [read_checkpoint(p) for p in ckpts]
    configs = [module_config(o, p) for o, p in zip(objs, ckpts)]
    class_path, hp = configs[0]
    cls = registered_class(class_path, registry)
    states = [o["state_dict"] for o in objs]
    for path, (other_path, other), state in zip(ckpts[1:], configs[1:], states[1:]):
        if other_path != class_path:
            raise DataFileError(f"{path}: a {other_path}, {ckpts[0]} is a {class_path}")
        k = _same_architecture(cls, hp, other)
        if k is not None:
            raise DataFileError(
                f"{path}: hyper-parameter '{k}' is {other.get(k)!r}, {ckpts[0]} has {hp.get(k)!r}; "
                "only checkpoints of one model can be averaged"
            )
        if state.keys() != states[0].keys() or any(
            state[k].shape != v.shape for k, v in states[0].items()
        ):
            raise DataFileError(f"{path}: weights do not match those of {ckpts[0]}")
    state = {
        k: torch.stack([s[k] for s in states]).double().mean(0).to(v.dtype)
        if v.is_floating_point()
        else v
        for k, v in states[0].items()
    }
    extra: dict[str, Any] = {"global_step": max(int(o.get("global_step", 0)) for o in objs)}
    if len(ckpts) > 1:
        extra["averaged_from"] = [Path(c).name for c in ckpts]
    return write_model_file(out, class_path, hp, state, notes, **extra)


def write_model_file(
    out: Path,
    class_path: str,
    hyper_parameters: Mapping[str, Any],
    state_dict: Mapping[str, Any],
    notes: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """Write a symco model file atomically: what :func:`load_model` reads (``format``,
    ``class_path``, ``hyper_parameters``, ``state_dict``, ``notes``) plus ``extra`` metadata
    (plain values and tensors only: the file is read with ``weights_only=True``)."""
    import torch

    slim = {
        "format": FORMAT,
        "class_path": class_path,
        "hyper_parameters": dict(hyper_parameters),
        "state_dict": dict(state_dict),
        "notes": notes,
        **extra,
    }
    with atomic_path(out) as tmp:
        torch.save(slim, tmp)
    return slim


def import_model(
    importer: Any, path: Path, problem: Any, out: Path, registry: Registry, licence_text: str
) -> tuple[LoadedModel, dict[str, Any]]:
    """Convert ``path`` with the model ``importer`` (:class:`~symco.core.importers.ModelImporter`),
    check that the result rebuilds as a registered module with exactly its weights, and write it
    to ``out`` (atomically) with its :class:`~symco.core.importers.ModelSource`.

    :return: the rebuilt module and the file's contents.
    """
    model = importer.convert(path, problem, licence_text)
    module = build_module(model.class_path, model.hyper_parameters, registry)
    try:
        module.load_state_dict(model.state_dict, strict=True)
    except RuntimeError as exc:  # the importer's own mapping is wrong: name the first key
        raise DataFileError(
            f"{path}: converted weights do not fit {model.class_path} ({str(exc).splitlines()[0]})"
        ) from None
    slim = write_model_file(
        out,
        model.class_path,
        {k: v for k, v in module.hparams.items() if not k.startswith("_")},
        module.state_dict(),
        model.notes,
        source=model.source.as_dict(),
        **model.extra,
    )
    module.eval()
    return LoadedModel(
        out.stem, out, module, {k: v for k, v in slim.items() if k not in NOT_METADATA}
    ), slim
