"""The trained models this plugin ships (``symco models``; loaded by the core's checkpoints)."""

from __future__ import annotations

from pathlib import Path

MODELS_DIR = Path(__file__).with_name("models")


def shipped_models() -> dict[str, str]:
    """Models in this plugin's ``models/`` folder: ``{file stem: path}``."""
    return {p.stem: str(p) for p in sorted(MODELS_DIR.glob("*.pt"))}
