"""The thread policy of every symco process that runs torch.

Two rules keep symco graceful when other processes share the cores:

* **Passive OpenMP waits.** Idle OpenMP threads spin by default, burning cores they then fight
  the busy processes for (measured: one busy loop beside a 2-thread decode made it 2.9x slower
  where the fair share is 1.5x). :func:`passive_wait` sets ``OMP_WAIT_POLICY=PASSIVE`` unless the
  user chose a policy; OpenMP reads it once, when torch is loaded, so the console script calls it
  before anything imports torch.
* **No more threads than cores this process may use** (``os.sched_getaffinity``: a container's or
  ``taskset``'s limit, not the machine's count), one per worker process where several run.

``--threads N`` on the commands that compute, else the ``SYMCO_THREADS`` environment variable,
else ``OMP_NUM_THREADS`` if the user set it, else the usable cores. This module imports no torch
until :func:`apply_threads`.
"""

from __future__ import annotations

import os

from symco.core.errors import UsageError

ENV = "SYMCO_THREADS"
"""Environment variable with the default thread count of every command."""


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def passive_wait() -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` unless the environment already sets a policy (must run before
    torch is imported to take effect)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def check_threads(value: int, where: str) -> int:
    """``value`` if it is a usable thread count, else one :class:`UsageError` line
    naming ``where`` (``--threads``, ``SYMCO_THREADS``)."""
    cores = usable_cores()
    if value < 1:
        raise UsageError(f"{where}: expected a thread count >= 1, got {value}")
    if value > cores:
        raise UsageError(
            f"{where}: {value} threads, but this process may use {cores} core(s) "
            "(more threads than cores only slow torch down)"
        )
    return value


def _from_env(name: str) -> int | None:
    text = os.environ.get(name)
    if text is None or not text.strip():
        return None
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{name}: expected an integer thread count, got {text!r}") from None


def resolve_threads(option: int | None) -> int:
    """The thread count: ``option`` (``--threads``), else ``SYMCO_THREADS``, else a user-set
    ``OMP_NUM_THREADS`` (capped at the usable cores), else the usable cores."""
    if option is not None:
        return check_threads(option, "--threads")
    env = _from_env(ENV)
    if env is not None:
        return check_threads(env, ENV)
    omp = _from_env("OMP_NUM_THREADS")
    if omp is not None and omp >= 1:
        return min(omp, usable_cores())
    return usable_cores()


def apply_threads(threads: int) -> None:
    """Use ``threads`` intra-op threads in this process: through ``OMP_NUM_THREADS`` if torch is
    not loaded yet (a command that never needs torch does not pay for importing it), else
    ``torch.set_num_threads``."""
    import sys

    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def pop_threads(argv: list[str]) -> tuple[int | None, list[str]]:
    """``--threads N`` / ``--threads=N`` taken out of a command line handed on to another parser
    (LightningCLI's): ``(N or None, the rest)``."""
    rest: list[str] = []
    value: str | None = None
    it = iter(argv)
    for arg in it:
        if arg == "--threads":
            value = next(it, None)
            if value is None:
                raise UsageError("--threads: expected a thread count")
        elif arg.startswith("--threads="):
            value = arg.partition("=")[2]
        else:
            rest.append(arg)
    if value is None:
        return None, rest
    try:
        return int(value), rest
    except ValueError:
        raise UsageError(f"--threads: expected an integer, got {value!r}") from None


def worker_init() -> None:
    """Initializer of worker processes (solver pools): one thread each, since the pool already
    runs one worker per core; set before the worker imports torch or a solver."""
    passive_wait()
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"
    apply_threads(1)
