"""The documentation whose commands and files the tests run: README.md and docs/**/*.md."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def doc_files() -> list[Path]:
    """README.md, then every markdown page of the site, in a fixed order."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def code_blocks(lang: str = "[a-z]*") -> list[tuple[str, str]]:
    """``(file relative to the root, block text)`` of every fenced block of language ``lang``."""
    blocks = []
    for path in doc_files():
        for block in re.findall(rf"^```{lang}\n(.*?)^```", path.read_text(), flags=re.S | re.M):
            blocks.append((str(path.relative_to(ROOT)), block))
    return blocks
