"""The policy/reducer data contract: masking and the reduced batch container."""

from __future__ import annotations

import torch

from symco.core.policy import masked_logits
from symco.core.reducer import ReducedBatch


def test_masked_logits_zero_probability() -> None:
    logits = torch.randn(2, 5, 2)
    mask = torch.rand(2, 5, 2) > 0.5
    mask[:, 0, 0] = True
    p = masked_logits(logits, mask).flatten(1).softmax(-1).view(2, 5, 2)
    assert torch.all(p[~mask] == 0)
    torch.testing.assert_close(p.sum((1, 2)), torch.ones(2))


def test_reduced_batch_node_mask_and_to() -> None:
    batch = ReducedBatch(
        features=torch.zeros(1, 3, 2),
        node_type=torch.tensor([[1, 0, 2]]),
        action_mask=torch.tensor([[[False], [True], [False]]]),
        node_index=torch.tensor([[4, 7, -1]]),
    )
    assert batch.node_mask.tolist() == [[True, True, False]]
    moved = batch.to("cpu")
    assert moved.target is None and torch.equal(moved.node_index, batch.node_index)


def test_a_policy_memory_is_unknown_unless_it_says() -> None:
    from symco.core.policy import Policy

    class Plain(Policy):
        name = "plain"

        def forward(self, batch: ReducedBatch) -> torch.Tensor:
            return batch.features

    assert Plain().forward_bytes(4, 1000) is None
