"""Learning-rate schedules shared by the training modules of plugins."""

from __future__ import annotations

import math
from typing import Any

import torch


def cosine_to_floor(optimizer: torch.optim.Optimizer, total_steps: int, min_ratio: float) -> Any:
    """A per-step cosine decay of every learning rate to ``min_ratio`` of it over
    ``total_steps``, as Lightning's ``configure_optimizers`` returns it."""
    total = max(1, int(total_steps))

    def factor(step: int) -> float:
        cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, step / total)))
        return min_ratio + (1 - min_ratio) * cosine

    sched = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
