"""TSPLIB-format instance files (TSPLIB ``.tsp``, CVRPLIB ``.vrp``), read line by line.

A file is specification lines ``KEY : value``, then data sections, each opened by a line
``NAME_SECTION`` and holding whitespace-separated rows up to the next keyword line; ``EOF`` ends
it (optional). Parsing here rather than in ``vrplib`` keeps every line's number, so that each
error a user sees names the file, the line and the offending value, as one line
(:class:`~symco.core.errors.DataFileError`); no malformed file ends in a NumPy traceback.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from symco.core.errors import DataFileError

MAX_INT = 2**53
"""Largest integer accepted in a file (DIMENSION, CAPACITY, demands): exact as a float, far
inside int64, and never allocated from (sizes are checked against the rows actually present)."""

_SPEC = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*:(.*)$")
_REPEATABLE = frozenset({"COMMENT"})  # some published files carry several comment lines


@dataclass(frozen=True)
class Row:
    """One data line of a section: its 1-based line number and its tokens."""

    line: int
    tokens: tuple[str, ...]


@dataclass
class Section:
    """A data section: its name, the line of its header and its rows."""

    name: str
    line: int
    rows: list[Row] = field(default_factory=list)


@dataclass(frozen=True)
class Spec:
    """A specification line ``KEY : value``."""

    line: int
    value: str


@dataclass
class LibFile:
    """A parsed file: its specifications and sections, each with its line number."""

    path: Path
    specs: dict[str, Spec] = field(default_factory=dict)
    sections: dict[str, Section] = field(default_factory=dict)

    def error(self, line: int | None, message: str) -> DataFileError:
        """``PATH: line N: message`` (``PATH: message`` for the file as a whole)."""
        return DataFileError(
            f"{self.path}: line {line}: {message}" if line else f"{self.path}: {message}"
        )

    def section(self, name: str, why: str) -> Section:
        """The section ``name``; an error saying ``why`` it is needed when it is absent."""
        if name not in self.sections:
            raise self.error(None, f"no {name} ({why})")
        return self.sections[name]

    def keyword(self, key: str) -> tuple[int | None, str | None]:
        """``(line, first word as written)`` of ``KEY : value``; ``(None, None)`` without it."""
        spec = self.specs.get(key)
        if spec is None:
            return None, None
        words = spec.value.split()
        return spec.line, words[0] if words else ""

    def positive_int(self, key: str, *, required: bool) -> tuple[int | None, int | None]:
        """``(line, value)`` of an integer specification ``KEY : n`` with ``1 <= n <= MAX_INT``."""
        spec = self.specs.get(key)
        if spec is None:
            if required:
                raise self.error(None, f"no {key} line ('{key} : value')")
            return None, None
        value = integral(spec.value.strip())
        if value is None or not 1 <= value <= MAX_INT:
            raise self.error(
                spec.line, f"{key} must be a positive integer, got {spec.value.strip()!r}"
            )
        return spec.line, value


def parse(path: Path, kind: str) -> LibFile:
    """Split ``path`` into specifications and sections; ``kind`` (``"TSPLIB"``) names the format
    in errors. Values are not interpreted here, only the layout is checked."""
    lib = LibFile(Path(path))
    current: Section | None = None
    # split on "\n" only: str.splitlines also breaks at form feeds and other control
    # characters, and the line numbers would no longer be an editor's
    for number, raw in enumerate(_read_text(lib.path).split("\n"), start=1):
        tokens = raw.split()
        if not tokens:
            continue
        head = tokens[0].upper().rstrip(":")  # "NODE_COORD_SECTION:" is seen in the wild
        if head == "EOF" and len(tokens) == 1:
            break
        if head.endswith("_SECTION"):
            current = _open_section(lib, head, tokens[1:], number)
        elif (match := _SPEC.match(raw)) is not None:
            _add_spec(lib, match[1].upper(), match[2].strip(), number)
            current = None  # a keyword line ends the section before it
        elif current is not None:
            current.rows.append(Row(number, tuple(tokens)))
        else:
            raise lib.error(
                number,
                f"{_shorten(raw)!r} is neither a 'KEY : value' line nor inside a section "
                f"(not a readable {kind} file)",
            )
    return lib


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    # "-sig": an editor's byte-order mark is not part of the first keyword; stray bytes (a
    # Latin-1 comment) matter only inside a value, where they are reported
    return data.decode("utf-8-sig", errors="replace")


def _open_section(lib: LibFile, name: str, rest: list[str], line: int) -> Section:
    if any(t != ":" for t in rest):  # some writers put a colon after the section name
        raise lib.error(
            line, f"unexpected {' '.join(rest)!r} after {name} (data goes on the next lines)"
        )
    if name in lib.sections:
        raise lib.error(line, f"{name} appears twice (first at line {lib.sections[name].line})")
    lib.sections[name] = Section(name, line)
    return lib.sections[name]


def _add_spec(lib: LibFile, key: str, value: str, line: int) -> None:
    old = lib.specs.get(key)
    if old is not None and old.value != value and key not in _REPEATABLE:
        raise lib.error(
            line, f"{key} is given twice: {old.value!r} at line {old.line}, {value!r} here"
        )
    if old is None:
        lib.specs[key] = Spec(line, value)


def _show(word: str) -> str:
    """``word`` as written, quoted with escapes where it holds control characters (one line)."""
    return word if word.isprintable() else repr(word)


def _shorten(text: str, limit: int = 40) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- values --------------------------------------------------------------------------------------


def integral(token: str) -> int | None:
    """``token`` as an integer (``"12"``, also ``"12.0"``), ``None`` when it is not one."""
    try:
        return int(token)
    except ValueError:
        pass
    try:
        value = float(token)
    except ValueError:
        return None
    return int(value) if math.isfinite(value) and value.is_integer() else None


def check_type(lib: LibFile, expected: str) -> None:
    """``TYPE : expected`` (or no TYPE line): a file of another problem is refused by name."""
    line, value = lib.keyword("TYPE")
    if value is not None and value.upper() != expected:
        shown = _show(value) if value else "empty"
        raise lib.error(line, f"TYPE is {shown}, expected {expected}")


def edge_weight_type(lib: LibFile, supported: tuple[str, ...]) -> str:
    """The ``EDGE_WEIGHT_TYPE`` (``supported[0]`` when absent), which must be ``supported``."""
    line, value = lib.keyword("EDGE_WEIGHT_TYPE")
    if value is None:
        return supported[0]
    if value.upper() not in supported:
        shown = _show(value) if value else "(empty)"
        raise lib.error(line, f"EDGE_WEIGHT_TYPE {shown} is not supported ({', '.join(supported)})")
    return value.upper()


def node_rows(lib: LibFile, section: Section, n: int, source: str) -> list[tuple[int, Row]]:
    """``(node index 0..n-1, row)`` of each row of a per-node section, in file order.

    Each row starts with a node id in ``1..n``, no id twice, every id present; ``source`` says
    where ``n`` comes from, for the errors (``"DIMENSION is 101"``).
    """
    seen: dict[int, int] = {}
    out = []
    for row in section.rows:
        token = row.tokens[0]
        try:
            node = int(token)
        except ValueError:
            raise lib.error(row.line, f"node id {token!r} is not an integer") from None
        if not 1 <= node <= n:
            raise lib.error(row.line, f"node id {node} is out of range 1..{n} ({source})")
        if node in seen:
            raise lib.error(
                row.line,
                f"node {node} appears twice in {section.name} (first at line {seen[node]})",
            )
        seen[node] = row.line
        out.append((node - 1, row))
    if len(seen) != n:
        missing = next(i for i in range(1, n + 1) if i not in seen)
        raise lib.error(
            section.line,
            f"{section.name} has {len(seen)} nodes but {source}: node {missing} is missing",
        )
    return out


def expect_values(lib: LibFile, row: Row, names: tuple[str, ...]) -> tuple[str, ...]:
    """The tokens after the node id of ``row``, which must be exactly one per name in ``names``."""
    values = row.tokens[1:]
    node = row.tokens[0]
    if len(values) < len(names):
        missing = " and ".join(names[len(values) :])
        raise lib.error(row.line, f"node {node}: missing {missing}")
    if len(values) > len(names):
        extra = " ".join(values[len(names) :])
        raise lib.error(row.line, f"node {node}: unexpected {extra!r} after the {names[-1]}")
    return values


def coordinates(lib: LibFile, section: Section, dimension: int | None) -> np.ndarray:
    """``(n, 2)`` float coordinates of a ``NODE_COORD_SECTION`` (rows ``id x y``), all finite;
    ``n`` is ``dimension`` (DIMENSION) if given, else the number of rows."""
    if dimension is None:
        n, source = len(section.rows), f"{section.name} has {len(section.rows)} rows"
    else:
        n, source = dimension, f"DIMENSION is {dimension}"
    rows = node_rows(lib, section, n, source)
    coords = np.empty((n, 2), dtype=np.float64)
    for node, row in rows:
        for axis, token in enumerate(expect_values(lib, row, ("x coordinate", "y coordinate"))):
            coords[node, axis] = _finite(lib, row, token, f"{'xy'[axis]} coordinate")
    return coords


def _finite(lib: LibFile, row: Row, token: str, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise lib.error(
            row.line, f"{what} {token!r} of node {row.tokens[0]} is not a number"
        ) from None
    if not math.isfinite(value):
        raise lib.error(
            row.line, f"{what} {token!r} of node {row.tokens[0]} is not a finite number"
        )
    return value


def node_integers(
    lib: LibFile, section: Section, n: int, source: str, what: str
) -> list[tuple[int, Row, int]]:
    """``(node index, row, value)`` of a per-node section of rows ``id value`` (see
    :func:`node_rows`) with integer values of at most ``MAX_INT`` in size (``what`` names the
    value in errors: ``"demand"``)."""
    out = []
    for node, row in node_rows(lib, section, n, source):
        (token,) = expect_values(lib, row, (what,))
        value = integral(token)
        if value is None:
            raise lib.error(row.line, f"{what} {token!r} of node {row.tokens[0]} is not an integer")
        if abs(value) > MAX_INT:
            raise lib.error(row.line, f"{what} {token!r} of node {row.tokens[0]} is too large")
        out.append((node, row, value))
    return out


def node_list(lib: LibFile, section: Section, what: str) -> list[tuple[int, int]]:
    """``(line, node id)`` of each entry of a ``-1``-terminated list section (``DEPOT_SECTION``,
    ``TOUR_SECTION``); a missing ``-1`` (a cut file) is forgiven, anything after it is not.
    ``what`` names an entry in errors (``"depot"``)."""
    nodes: list[tuple[int, int]] = []
    ended = False
    for row in section.rows:
        for token in row.tokens:
            if ended:
                raise lib.error(
                    row.line, f"unexpected {token!r} after the -1 that ends {section.name}"
                )
            try:
                node = int(token)
            except ValueError:
                raise lib.error(row.line, f"{what} {token!r} is not a node number") from None
            if node == -1:
                ended = True
            else:
                nodes.append((row.line, node))
    return nodes
