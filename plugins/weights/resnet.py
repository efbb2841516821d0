"""A small ResNet for 28x28 digits that declares its weight permutations (He et al., *Deep
Residual Learning for Image Recognition*, CVPR 2016; the basic block).

.. math::

    h_0 = \\operatorname{ReLU}(\\operatorname{BN}(\\operatorname{conv}_{3 \\times 3}(x))), \\qquad
    h \\leftarrow \\operatorname{ReLU}\\big(\\operatorname{BN}(\\operatorname{conv}(\\operatorname{ReLU}(
    \\operatorname{BN}(\\operatorname{conv}(h))))) + s(h)\\big),

with the shortcut :math:`s` the identity inside a stage and a strided :math:`1 \\times 1`
convolution + BN where a stage starts (it halves the side and changes the width); global average
pooling and a linear layer give the logits. Shapes: ``(B, C, H, W)`` (or ``(B, C·H·W)`` for a
square single-channel image) in, ``(B, classes)`` out.

Weight permutations: stage ``s``'s *residual stream* ``stream{s}`` — every layer that writes it
(the stem for stage 0, each block's second convolution and BN, the projection shortcut) and every
layer that reads it (each block's first convolution, the next stage's projection, the head) —
and each block's inner channels ``stage{s}.block{b}``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from symco.core.symmetry.weights import Axis, Permutation, PermutationSpec, batchnorm, columns, rows


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BN and a shortcut (a strided 1x1 projection when ``stride`` > 1
    or the width changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.project = stride != 1 or c_in != c_out
        if self.project:
            self.proj_conv = nn.Conv2d(c_in, c_out, 1, stride, bias=False)
            self.proj_bn = nn.BatchNorm2d(c_out)

    def inner(self, h: Tensor) -> Tensor:
        """The first convolution's channels after BN and ReLU ``(B, c_out, H', W')``."""
        return torch.relu(self.bn1(self.conv1(h)))

    def forward(self, h: Tensor) -> Tensor:
        out = self.bn2(self.conv2(self.inner(h)))
        short = self.proj_bn(self.proj_conv(h)) if self.project else h
        return torch.relu(out + short)


class ResNet(nn.Module):
    """Stem, ``len(widths)`` stages of ``blocks`` basic blocks (every stage after the first
    halves the side), global average pooling, a linear head."""

    def __init__(
        self,
        in_channels: int = 1,
        widths: Sequence[int] = (16, 32, 64),
        blocks: int = 1,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        if not widths or blocks < 1:
            raise ValueError(f"need at least one stage and one block, got {widths}, {blocks}")
        self.in_channels = in_channels
        self.stem_conv = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.stem_bn = nn.BatchNorm2d(widths[0])
        stages, c = [], widths[0]
        for s, w in enumerate(widths):
            stage = [
                BasicBlock(c if b == 0 else w, w, 2 if s > 0 and b == 0 else 1)
                for b in range(blocks)
            ]
            stages.append(nn.ModuleList(stage))
            c = w
        self.stages = nn.ModuleList(stages)
        self.head = nn.Linear(c, num_classes)

    def _image(self, x: Tensor) -> Tensor:
        if x.dim() == 2:  # (B, C·S·S) flat square images
            side = math.isqrt(x.shape[1] // self.in_channels)
            x = x.reshape(len(x), self.in_channels, side, side)
        return x

    def forward(self, x: Tensor) -> Tensor:
        h = torch.relu(self.stem_bn(self.stem_conv(self._image(x))))  # (B, w0, S, S)
        for stage in self.stages:
            for block in stage:
                h = block(h)  # (B, w_s, S / 2^s, S / 2^s)
        return self.head(h.mean(dim=(2, 3)))  # type: ignore[no-any-return]

    def activations(self, x: Tensor) -> dict[str, Tensor]:
        """Each permutation's units on ``x`` ``(B·H·W, channels)`` (spatial positions folded
        into the samples): a stream after its stage, a block's inner channels after its ReLU."""

        def flat(t: Tensor) -> Tensor:
            return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])

        out = {}
        h = torch.relu(self.stem_bn(self.stem_conv(self._image(x))))
        for s, stage in enumerate(self.stages):
            for b, block in enumerate(stage):
                out[f"stage{s}.block{b}"] = flat(block.inner(h))
                h = block(h)
            out[f"stream{s}"] = flat(h)
        return out

    def weight_permutations(self) -> PermutationSpec:
        """``stream{s}`` (stage ``s``'s residual stream) and ``stage{s}.block{b}`` (a block's
        inner channels)."""
        inner: dict[str, Permutation] = {}
        streams: list[list[Axis]] = [[*rows("stem_conv", bias=False), *batchnorm("stem_bn")]]
        for s, stage in enumerate(self.stages):
            if s > 0:
                streams.append([])
            for b, block in enumerate(stage):
                p = f"stages.{s}.{b}."
                inner[f"stage{s}.block{b}"] = Permutation(
                    block.conv1.out_channels,
                    (*rows(p + "conv1", bias=False), *batchnorm(p + "bn1"), *columns(p + "conv2")),
                )
                # a projecting block reads the previous stage's stream and starts its own
                reads = streams[s - 1] if block.project else streams[s]
                reads.extend(columns(p + "conv1"))
                streams[s].extend([*rows(p + "conv2", bias=False), *batchnorm(p + "bn2")])
                if block.project:
                    reads.extend(columns(p + "proj_conv"))
                    streams[s].extend(
                        [*rows(p + "proj_conv", bias=False), *batchnorm(p + "proj_bn")]
                    )
        streams[-1].extend(columns("head"))
        perms = {
            f"stream{s}": Permutation(stage[0].conv2.out_channels, tuple(streams[s]))
            for s, stage in enumerate(self.stages)
        }
        perms.update(inner)
        return PermutationSpec(
            perms, f"{len(self.stages)} residual streams, {sum(map(len, self.stages))} blocks"
        )

    # -- what check_weight_symmetry runs it on -----------------------------------------------------

    def symmetry_inputs(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` standard normal 12x12 images in float64 (any side works: the pooling is global)."""
        return torch.randn(n, self.in_channels, 12, 12, generator=generator, dtype=torch.float64)

    def symmetry_outputs(self, inputs: Tensor) -> Tensor:
        return self(inputs)  # type: ignore[no-any-return]
