"""The weight-space symmetry page's Python blocks run, in order, as written."""

from __future__ import annotations

import torch

from .sources import code_blocks

PAGE = "docs/methods/weights.md"


def test_the_python_blocks_run() -> None:
    blocks = [block for where, block in code_blocks("python") if where == PAGE]
    assert len(blocks) == 2
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, PAGE, "exec"), namespace)
    perms, by_data = namespace["perms"], namespace["by_data"]
    assert set(perms) == set(by_data) == {"hidden0", "hidden1"}  # type: ignore[call-overload]
    assert isinstance(namespace["midpoint"], dict)
    assert all(isinstance(p, torch.Tensor) for p in perms.values())  # type: ignore[attr-defined]
