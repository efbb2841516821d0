"""Command-line option helpers shared by every command, the core's and plugins' alike.

A plugin that adds a command (``symco_add_commands``) parses its numbers with :func:`number`,
takes ``--threads`` with :func:`add_threads_option` and raises
:class:`~symco.core.errors.UsageError` for option values its parser cannot check.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NoReturn

from symco.core.errors import UsageError

__all__ = [
    "ArgumentParser",
    "add_threads_option",
    "nonneg_int",
    "number",
    "parse_sizes",
    "positive_float",
    "positive_int",
]


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with its own usage errors on one line (``symco: error: ...``, exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def number(cast: Callable[[str], Any], low: float, strict: bool) -> Callable[[str], Any]:
    """An argparse ``type`` parsing ``cast(text)`` and requiring ``> low`` (``strict``) or
    ``>= low``; infinity is refused."""
    what = "a whole number" if cast is int else "a number"
    bound = f"> {low:g}" if strict else f">= {low:g}"

    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (value > low if strict else value >= low) or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be {bound}, got {text}")
        return value

    return parse


positive_int = number(int, 1, strict=False)
"""An argparse ``type``: a whole number >= 1."""
nonneg_int = number(int, 0, strict=False)
"""An argparse ``type``: a whole number >= 0."""
positive_float = number(float, 0, strict=True)
"""An argparse ``type``: a finite number > 0."""


def parse_sizes(text: str, flag: str = "--generate") -> list[tuple[int, int]]:
    """``"100:4,1000:2"`` -> ``[(100, 4), (1000, 2)]``: sizes and counts, each >= 1.

    :raises UsageError: anything else, naming ``flag`` and the part that is wrong.
    """
    out = []
    for part in text.split(","):
        size, _, num = part.partition(":")
        if not (size.isdigit() and num.isdigit() and int(size) > 0 and int(num) > 0):
            raise UsageError(f"{flag}: expected SIZE:NUM[,SIZE:NUM...], got {part!r}")
        out.append((int(size), int(num)))
    return out


def add_threads_option(p: argparse.ArgumentParser) -> None:
    """``--threads N`` on a command that computes; :func:`symco.core.cli.main` applies it (or the
    default, see :mod:`symco.core.threads`) before the handler runs."""
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch threads (default: $SYMCO_THREADS, else the cores this process may use)",
    )
