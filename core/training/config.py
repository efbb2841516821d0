"""Registry names in ``symco fit`` configs, rewritten to class paths before LightningCLI parses.

A module's constructor takes its components as objects (``problem``, ``reducer``, ``policy``:
``class_path``/``init_args`` in YAML). For convenience a config may name a registered class
instead (``reducer: bq``); the module says which of its arguments are registry kinds in
``registry_fields`` (``{"reducer": "reducer", ...}``, per-problem kinds resolved for the
module's ``problem``), and ``"shipped-model"`` arguments take a shipped model's name
(``init_from: bq-tsp``) and become its file path. The registry is the one the CLI built (passed
in, never looked up), so programmatically registered classes resolve too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from symco.core.dotted import DottedPathError, import_object
from symco.core.errors import DataFileError
from symco.core.registry import Registry, class_path_of

SHIPPED_MODEL = "shipped-model"
"""Pseudo-kind of ``registry_fields``: a shipped model's name, resolved to its file."""


def import_class(path: str) -> type[Any] | None:
    """The class at ``module.Class`` (or ``module:Class``), or ``None`` if it cannot be imported."""
    try:
        obj = import_object(path)
    except DottedPathError:
        return None
    return obj if isinstance(obj, type) else None


NO_COMPONENT = "none"
"""A value that means "no component" (``encoding: none``), never resolved."""


def _is_name(value: object) -> bool:
    return (
        isinstance(value, str)
        and value not in ("", NO_COMPONENT)
        and "." not in value
        and "/" not in value
    )


def resolve_value(
    kind: str,
    value: Any,
    registry: Registry,
    models: Mapping[str, str],
    problem: str | None,
    where: str,
) -> Any:
    """``value`` with a registry name replaced: a class path mapping, or a model file path."""
    if kind == SHIPPED_MODEL:
        return models.get(value, value) if isinstance(value, str) else value
    spec = registry.kind(kind)
    init: Any = None
    if isinstance(value, Mapping) and _is_name(value.get("class_path")):
        name, init = str(value["class_path"]), value.get("init_args")
    elif _is_name(value):
        name = str(value)
    else:
        return value
    if spec.per_problem and problem is None:
        raise DataFileError(f"{where}: {kind} '{name}' needs the problem to be named first")
    if not registry.names(kind, problem if spec.per_problem else None).count(name):
        known = ", ".join(registry.names(kind, problem if spec.per_problem else None)) or "none"
        for_problem = f" for problem '{problem}'" if spec.per_problem else ""
        raise DataFileError(f"{where}: unknown {kind} '{name}'{for_problem}; registered: {known}")
    entry = registry.entry(kind, name, problem if spec.per_problem else None)
    out: dict[str, Any] = {"class_path": class_path_of(entry.obj)}
    if init:
        out["init_args"] = init
    return out


def problem_name(value: Any) -> str | None:
    """The registry name of a problem given by name or by class path."""
    if _is_name(value):
        return str(value)
    path = value.get("class_path") if isinstance(value, Mapping) else value
    cls = import_class(path) if isinstance(path, str) else None
    name = getattr(cls, "name", None)
    return name if isinstance(name, str) else None


def resolve_section(section: Any, registry: Registry, models: Mapping[str, str], where: str) -> Any:
    """A config's ``model``/``data`` section with registry names rewritten (see module doc).

    Returns the section unchanged when it names no importable class (LightningCLI reports it).
    """
    if not isinstance(section, Mapping) or not isinstance(section.get("class_path"), str):
        return section
    cls = import_class(section["class_path"])
    fields: Mapping[str, str] = getattr(cls, "registry_fields", {}) if cls else {}
    if not fields:
        return section
    init = dict(section.get("init_args") or {})
    problem: str | None = None
    for arg, kind in fields.items():  # declaration order: the problem comes first
        if arg in init:
            init[arg] = resolve_value(
                kind, init[arg], registry, models, problem, f"{where}.init_args.{arg}"
            )
            if kind == "problem":
                problem = problem_name(init[arg])
    return {**section, "init_args": init}


def resolve_config(
    config: Mapping[str, Any], registry: Registry, models: Mapping[str, str], where: str
) -> dict[str, Any]:
    """Resolve the ``model`` and ``data`` sections of a whole ``symco fit`` config."""
    out = dict(config)
    for key in ("model", "data"):
        if key in out:
            out[key] = resolve_section(out[key], registry, models, f"{where}: {key}")
    return out


def from_config() -> bool:
    """Whether the module being constructed is built from a config (``symco fit``, a checkpoint,
    :func:`~symco.core.training.checkpoints.build_module`): its ``save_hyperparameters`` then
    records the plain config, components as ``class_path``/``init_args`` mappings."""
    from lightning.pytorch.core.mixins.hparams_mixin import _given_hyperparameters

    return _given_hyperparameters.get() is not None
