"""Fixtures shared by the problems' tests: real instance files, and damaged copies of them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

INSTANCES = Path(__file__).resolve().parents[2] / "benchmarks" / "instances"

REPLACEMENTS = ("abc", "nan", "-1", "1e999", "0", "inf", "1.5", "99999999999999999999", ":")
"""What a token may be replaced by: not a number, not finite, negative, zero, huge, a colon."""

Mutate = Callable[[st.DataObject, str], str]


def _line_index(lines: list[str]) -> st.SearchStrategy[int]:
    """Any line, half of the time one next to a keyword or section header (where most of the
    structure is, and a plain draw rarely lands in a file of a thousand coordinate rows)."""
    hot = sorted(
        {
            i + d
            for i, line in enumerate(lines)
            if ":" in line or "SECTION" in line or line.strip() in ("-1", "EOF")
            for d in (-1, 0, 1)
            if 0 <= i + d < len(lines)
        }
    )
    anywhere = st.integers(0, len(lines) - 1)
    return st.one_of(st.sampled_from(hot), anywhere) if hot else anywhere


def _mutate_once(data: st.DataObject, lines: list[str]) -> list[str]:
    op = data.draw(
        st.sampled_from(["delete token", "replace token", "drop line", "duplicate line", "cut"])
    )
    if op == "cut":  # the file ends early, possibly inside a line
        text = "\n".join(lines)
        return text[: data.draw(st.integers(0, len(text)))].split("\n")
    i = data.draw(_line_index(lines))
    if op == "drop line":
        return lines[:i] + lines[i + 1 :]
    if op == "duplicate line":
        return lines[: i + 1] + lines[i:]
    tokens = lines[i].split()
    j = data.draw(st.integers(0, max(len(tokens) - 1, 0)))
    new = [] if op == "delete token" else [data.draw(st.sampled_from(REPLACEMENTS))]
    return [*lines[:i], " ".join([*tokens[:j], *new, *tokens[j + 1 :]]), *lines[i + 1 :]]


def mutate(data: st.DataObject, text: str) -> str:
    """``text`` with one or two random edits: a token deleted or replaced (by
    :data:`REPLACEMENTS`), a line dropped or duplicated, or the file cut short."""
    lines = text.split("\n")
    for _ in range(data.draw(st.integers(1, 2), label="edits")):
        lines = _mutate_once(data, lines) or [""]
    return "\n".join(lines)


@pytest.fixture(scope="session")
def instances_dir() -> Path:
    """``benchmarks/instances``: real TSPLIB and CVRPLIB files (with their ``.sol``)."""
    return INSTANCES


@pytest.fixture(scope="session")
def mutate_file() -> Mutate:
    """:func:`mutate`, for ``@given(st.data())`` tests (session-scoped: hypothesis-safe)."""
    return mutate


def edit_line(text: str, line: int, new: str | None) -> str:
    """``text`` with its line ``line`` (1-based) replaced by ``new`` (deleted for ``None``)."""
    lines = text.split("\n")
    lines[line - 1 : line] = [] if new is None else [new]
    return "\n".join(lines)


def read_or_none(read: Callable[[Path], Any], path: Path) -> Any:
    """``read(path)``, or ``None`` where it raises ``DataFileError`` — whose message must then be
    one line starting with the file's path; any other exception fails the test."""
    from symco.core.errors import DataFileError

    try:
        return read(path)
    except DataFileError as exc:
        message = str(exc)
        assert message.startswith(f"{path}: ") and "\n" not in message, message
        return None
