"""Progress of long commands: instances done / total, elapsed, ETA (tqdm, on standard error).

Shown only on a terminal and without ``--quiet``, so logs and pipes stay clean.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def progress(total: int, desc: str, *, quiet: bool = False) -> Iterator[Callable[[int], None]]:
    """A ``tqdm`` bar over ``total`` instances; yields ``update(k)`` (k more done)."""
    from tqdm import tqdm

    disable = quiet or not sys.stderr.isatty()
    with tqdm(total=total, desc=desc, unit="inst", disable=disable, file=sys.stderr) as bar:
        yield bar.update
