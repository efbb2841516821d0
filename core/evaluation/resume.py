"""``symco evaluate --out FILE`` as a log that survives interruption: a line per instance is
appended (flushed and synced) as soon as its batch has been through every method, and a re-run
of the same command reads the file back and evaluates only the instances not in it."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from symco.core.errors import DataFileError
from symco.core.evaluation.inputs import Item
from symco.core.evaluation.report import jsonl_records

__all__ = ["append_lines", "read_finished", "restore"]


def read_finished(path: Path, method: str) -> dict[str, dict[str, Any]]:
    """The records already in ``path`` by instance name (empty if there is no file).

    A last line cut short by an interruption is dropped (the file is truncated to the last
    whole line); nothing else is rewritten.

    :raises DataFileError: a line that is not JSON (other than a cut last line), or results
        of another method (the file belongs to another command).
    """
    if not path.exists():
        return {}
    raw = path.read_bytes()
    lines = raw.split(b"\n")
    whole = len(raw) - len(lines[-1])  # bytes up to the last newline
    if lines[-1]:  # no newline after it: cut while being written
        with path.open("r+b") as f:
            f.truncate(whole)
    records: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(lines[:-1], start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            name, got = record["name"], record["method"]
        except (ValueError, KeyError, TypeError):
            raise DataFileError(
                f"{path}: line {number}: not a symco evaluate record; pass another --out (or "
                "remove the file) to start afresh"
            ) from None
        if got != method:
            raise DataFileError(
                f"{path}: line {number}: results of {got!r}, not {method!r}; pass another --out "
                "(or remove the file) to start afresh"
            )
        records[name] = record
    return records


def restore(item: Item, record: dict[str, Any], method: str, reference_by: str | None) -> None:
    """Put a finished record back into ``item`` (costs and times for the table; the solution
    itself is not restored, so it is not drawn again)."""
    result = {"cost": record["cost"], "solution": None, "time_s": record["time_s"]}
    for key in ("start_cost", "improve_steps"):
        if key in record:
            result[key] = record[key]
    item.results[method] = result
    for other, r in record.get("baselines", {}).items():
        item.results[other] = {"cost": r["cost"], "solution": None, "time_s": r["time_s"]}
    if item.reference is None and record.get("reference") is not None:
        item.reference, item.reference_by = float(record["reference"]), reference_by


def append_lines(path: Path, items: Sequence[Item], method: str, others: Sequence[str]) -> None:
    """Append the records of ``items`` and sync them to disk (a crash loses at most the lines
    being written, which :func:`read_finished` drops)."""
    text = "".join(json.dumps(x) + "\n" for x in jsonl_records(items, method, others))
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
