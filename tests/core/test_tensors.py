"""The core's batched tensor helpers on tiny hand-made cases."""

from __future__ import annotations

import torch

from symco.core.tensors import gather_rows, pad_left_aligned, shuffled


def test_gather_rows_by_hand() -> None:
    x = torch.tensor([[10, 11, 12], [20, 21, 22]])  # (B=2, N=3)
    index = torch.tensor([[2, 0], [1, -1]])  # (B, M=2), -1 padding
    assert torch.equal(gather_rows(x, index), torch.tensor([[12, 10], [21, 20]]))  # pad: row 0


def test_gather_rows_keeps_trailing_dims() -> None:
    x = torch.arange(12.0).reshape(2, 3, 2)  # (B=2, N=3, 2)
    index = torch.tensor([[1, 1, 0], [2, -1, 0]])
    expected = torch.tensor(
        [[[2.0, 3.0], [2.0, 3.0], [0.0, 1.0]], [[10.0, 11.0], [6.0, 7.0], [6.0, 7.0]]]
    )
    assert torch.equal(gather_rows(x, index), expected)


def test_pad_left_aligned_by_hand() -> None:
    keep = torch.tensor([[False, True, False, True], [True, False, False, False]])
    assert torch.equal(pad_left_aligned(keep), torch.tensor([[1, 3], [0, -1]]))
    none = torch.zeros(2, 3, dtype=torch.bool)
    assert pad_left_aligned(none).shape == (2, 0)
    assert pad_left_aligned(torch.zeros(0, 3, dtype=torch.bool)).shape == (0, 0)


def test_shuffled_permutations_are_seeded() -> None:
    perms = shuffled(5, 3, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert perms.shape == (3, 5) and perms.dtype == torch.long
    assert torch.equal(perms.sort(dim=1).values, torch.arange(5).expand(3, 5))
    again = shuffled(5, 3, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert torch.equal(perms, again)
    assert shuffled(0, 2, torch.Generator(), torch.device("cpu")).shape == (2, 0)
