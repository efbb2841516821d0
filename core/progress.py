"""Progress of long commands: instances done / total, elapsed, ETA (tqdm, on standard error).

A bar is shown only on a terminal and without ``--quiet``; off a terminal (a log, a pipe) each
finished task prints one line instead, so a long run is never silent and logs stay clean.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress(total: int, desc: str, *, quiet: bool = False) -> Iterator[Callable[[int], None]]:
    """A ``tqdm`` bar over ``total`` instances; yields ``update(k)`` (k more done).

    Off a terminal (and without ``quiet``) prints ``desc: K/total instances in S s`` when the
    block ends instead of drawing a bar."""
    from tqdm import tqdm

    terminal = sys.stderr.isatty()
    t0 = time.perf_counter()
    with tqdm(
        total=total, desc=desc, unit="inst", disable=quiet or not terminal, file=sys.stderr
    ) as bar:
        done = [0]

        def update(k: int) -> None:
            done[0] += k
            bar.update(k)

        yield update
    if not quiet and not terminal:
        seconds = time.perf_counter() - t0
        print(f"{desc}: {done[0]}/{total} instances in {seconds:.1f} s", file=sys.stderr)
