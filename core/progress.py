"""Progress of long commands: instances done / total, elapsed, ETA (tqdm, on standard error).

A bar is shown only on a terminal and without ``--quiet``; off a terminal (a log, a pipe) each
finished task prints one line instead, so a long run is never silent and logs stay clean.
:func:`steps` does the same inside one long computation (decoding one large instance).
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


@contextmanager
def steps(
    total: int, desc: str, *, quiet: bool = False, every: float = 0.1, seconds: float = 30.0
) -> Iterator[Callable[[], None]]:
    """Progress over about ``total`` steps of one computation; yields ``tick()`` (one more step).

    On a terminal a ``tqdm`` bar with its ETA, gone when the block ends. Off a terminal a line
    ``desc: 40% (40000 of about 100000 steps), 291 s, ETA 437 s`` once at least ``every`` of
    ``total`` more steps are done *and* ``seconds`` have passed since the last line (or the
    start): a log gets about ten lines, none more often than every ``seconds``. ``total`` may be
    an upper bound (a decode stops when every episode ends), so the ETA errs long."""
    from tqdm import tqdm

    if quiet:
        yield lambda: None
        return
    if sys.stderr.isatty():
        with tqdm(total=total, desc=desc, unit="step", leave=False, file=sys.stderr) as bar:
            yield lambda: bar.update(1)
        return
    t0 = last_t = time.perf_counter()
    done = last = 0

    def tick() -> None:
        nonlocal done, last, last_t
        done += 1
        if done - last < every * total:
            return
        now = time.perf_counter()
        if now - last_t < seconds:
            return
        last, last_t = done, now
        spent = now - t0
        eta = spent / done * max(total - done, 0)
        print(
            f"{desc}: {100 * done // total}% ({done} of about {total} steps), {spent:.0f} s, "
            f"ETA {eta:.0f} s",
            file=sys.stderr,
        )

    yield tick
