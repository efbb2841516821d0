"""What Lightning prints that is not ours to show: advertising tips and third-party deprecations.

``symco fit`` silences exactly these (by message, for the run only): Lightning's "💡 Tip" lines
for litlogger/litmodels, and the ``LeafSpec`` deprecation Lightning's own pytree code triggers
with torch >= 2.10 (nothing a user can act on). Everything else Lightning says is kept.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

TIP_PREFIX = "💡 Tip:"
LIGHTNING_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch")


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith(TIP_PREFIX)


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Drop Lightning's tips and its LeafSpec deprecation warning inside the ``with`` block."""
    tips = _DropTips()
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    for logger in loggers:
        logger.addFilter(tips)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*LeafSpec.*is deprecated")
            yield
    finally:
        for logger in loggers:
            logger.removeFilter(tips)
