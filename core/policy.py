"""The :class:`Policy` interface: masked action logits for a batch of reduced states."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from torch import Tensor, nn

from symco.core.reducer import ReducedBatch


def masked_logits(logits: Tensor, mask: Tensor) -> Tensor:
    """Set infeasible actions to ``-inf`` so a softmax gives them zero probability.

    :param logits: ``(B, M, A)``.
    :param mask: ``(B, M, A)`` bool, ``True`` where feasible.
    """
    return logits.masked_fill(~mask, float("-inf"))


class Policy(nn.Module, ABC):
    """An ``nn.Module`` scoring every action of every node of a :class:`ReducedBatch`.

    A policy knows nothing of problem names: its input sizes (features, node types, actions per
    node) come from the reducer (``SymmetryReducer.num_features`` etc.), passed to its constructor.
    Permuting the nodes of the batch must permute the logits the same way (equivariance): use no
    positional encoding over the node axis.
    """

    name: ClassVar[str]
    """Registry name."""

    @abstractmethod
    def forward(self, batch: ReducedBatch) -> Tensor:
        """Return ``(B, M, A)`` logits, ``-inf`` where ``batch.action_mask`` is ``False``."""
