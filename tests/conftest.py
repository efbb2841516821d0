"""Shared fixtures; the registry-parametrized ids are computed from the installed plugins."""

from __future__ import annotations

import numpy as np
import pytest

from symco.core.manager import load_registry
from symco.core.registry import Registry

_PM, _REGISTRY = load_registry()


def registered(kind: str) -> list:
    """Registry entries of ``kind`` as pytest params (ids ``problem/name``)."""
    return [pytest.param(e, id=e.qualname) for e in _REGISTRY.entries(kind)]  # type: ignore[arg-type]


def available_solvers() -> list:
    return [
        pytest.param(
            e,
            id=e.qualname,
            marks=() if e.obj.available() else pytest.mark.skip(reason=f"{e.name} not installed"),
        )
        for e in _REGISTRY.entries("solver")
    ]


@pytest.fixture(scope="session")
def registry() -> Registry:
    return _REGISTRY


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture(autouse=True)
def _no_disabled_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYMCO_DISABLE_PLUGINS", raising=False)
