"""N-body position prediction with Lightning: ``symco fit --config configs/nbody/egnn.yaml``.

The constructor signature of :class:`NBodyModule` (with :class:`~.data.NBodyDataModule`'s) is
the configuration schema: the backbone (:class:`~.egnn.EGNN`, :class:`~.gnn.GNN`,
:class:`~.linear.Linear`, :class:`~.frame_averaging.FrameAveraging` around any of them,
:class:`~.residual_pathway.ResidualPathway` (an equivariant and a free one summed), or any
``nn.Module`` with ``forward(loc, vel, charges) -> positions``) and the optional
soft-equivariance regularizer are injected by ``class_path``/``init_args``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

import lightning as L
import torch
from torch import Tensor, nn

from symco.core.symmetry.declare import Symmetry
from symco.core.symmetry.group import Element, Group, as_pair
from symco.core.symmetry.orthogonal import Euclidean, rotate_points
from symco.core.symmetry.permutation import NodePermutation
from symco.core.symmetry.weights import PermutationSpec, declared_weight_permutations
from symco.core.training.config import from_config
from symco.core.training.schedule import cosine_to_floor
from symco.plugins.nbody.data import NBodyDataModule
from symco.plugins.nbody.soft import SoftEquivariance

Inputs = tuple[Tensor, Tensor, Tensor]
"""``(loc (B, N, 3), vel (B, N, 3), charges (B, N))``."""


def inputs_of(batch: dict[str, Tensor]) -> Inputs:
    return batch["loc"], batch["vel"], batch["charges"]


def mse(model: nn.Module, batch: dict[str, Tensor]) -> Tensor:
    """Mean squared error of ``model``'s predicted positions on ``batch`` (per coordinate, the
    EGNN paper's metric)."""
    return ((model(*inputs_of(batch)) - batch["target"]) ** 2).mean()


def rotate_inputs(group: Group, g: Element, inputs: Inputs) -> Inputs:
    """A rotation group's elements on the inputs: positions and velocities rotated about the
    origin (``x R^T``), charges unchanged (the candidate groups of the regularizer)."""
    loc, vel, charges = inputs
    return group.act(g, loc), group.act(g, vel), charges


def rotate_outputs(group: Group, g: Element, y: Tensor) -> Tensor:
    return group.act(g, y)


def penalized(backbone: nn.Module) -> tuple[Callable[[Inputs], Tensor], bool]:
    """The function whose equivariance error a regularizer measures for ``backbone``, and
    whether it is the backbone itself (so the training step's predictions are its outputs).

    A backbone with an exactly equivariant part says where its error comes from through
    ``unconstrained(loc, vel, charges)`` (see :class:`~.residual_pathway.ResidualPathway`): the
    penalties are the same, the equivariant part's passes are saved."""
    part = getattr(backbone, "unconstrained", None)
    if callable(part):
        return (lambda x: part(*x)), False
    return (lambda x: backbone(*x)), True


class NBodyModule(L.LightningModule):
    """Predict the particles' positions 1,000 steps ahead; MSE loss (``train/mse``,
    ``val/mse``, ``test/mse``).

    :param backbone: ``forward(loc, vel, charges) -> positions (B, N, 3)``.
    :param regularizer: a :class:`~.soft.SoftEquivariance` added to the loss (its weights and
        penalties are logged as ``soft/lambda_<group>``, ``soft/R_<group>``).
    :param schedule: ``constant`` learning rate (the paper's), or ``cosine`` decay to
        ``min_lr_ratio`` over the run.
    """

    def __init__(
        self,
        backbone: nn.Module,
        lr: float = 5e-4,
        weight_decay: float = 1e-12,
        regularizer: SoftEquivariance | None = None,
        schedule: Literal["constant", "cosine"] = "constant",
        min_lr_ratio: float = 0.01,
    ) -> None:
        super().__init__()
        # built from a config (symco fit, a checkpoint): the plain config is recorded, components
        # included; built in Python: the components are objects and stay out of the hparams
        self.save_hyperparameters(ignore=None if from_config() else ["backbone", "regularizer"])
        self.backbone = backbone
        self.regularizer = regularizer

    def setup(self, stage: str) -> None:
        """Report a configuration error of the regularizer (unknown group name, ...)."""
        if self.regularizer is not None:
            self.regularizer.check()

    def forward(self, loc: Tensor, vel: Tensor, charges: Tensor) -> Tensor:
        return self.backbone(loc, vel, charges)  # type: ignore[no-any-return]

    # -- declared symmetries (symco check-symmetry) --------------------------------------------

    symmetry_particles: ClassVar[int] = 5

    def symmetry_inputs(self, n: int, generator: torch.Generator) -> Inputs:
        """``n`` random n-body states in float64: Gaussian positions, velocities of scale 0.5,
        charges ±1."""
        shape = (n, self.symmetry_particles, 3)
        loc = torch.randn(shape, generator=generator, dtype=torch.float64)
        vel = 0.5 * torch.randn(shape, generator=generator, dtype=torch.float64)
        bits = torch.randint(0, 2, shape[:2], generator=generator)
        return loc, vel, (2 * bits - 1).to(torch.float64)

    def symmetries(self, inputs: Inputs) -> Sequence[Symmetry]:
        """:math:`E(3)`: positions move rigidly (:math:`x R^\\top + t`), velocities rotate
        (:math:`v R^\\top`), charges stay, and the predicted positions move like positions;
        :math:`S_N`: relabelling the particles permutes the predictions. Declared for every
        backbone (a non-equivariant one fails the first row: that is what the check is for)."""
        n = inputs[0].shape[1]
        euclid = Euclidean(3)

        def move(g: Element, x: Inputs) -> Inputs:
            loc, vel, charges = x
            rot, _ = as_pair(g)
            return euclid.act(g, loc), rotate_points(rot, vel), charges

        perm = NodePermutation(n)

        def relabel(g: Element, x: Inputs) -> Inputs:
            return perm.act(g, x[0]), perm.act(g, x[1]), perm.act(g, x[2])

        return [
            Symmetry(euclid, move, euclid.act, "equivariant",
                     "rigid motions of positions (velocities rotated), predicted positions"),
            Symmetry(perm, relabel, perm.act, "permuted", "particles (positions, velocities, charges)"),
        ]  # fmt: skip

    def symmetry_outputs(self, inputs: Inputs) -> Tensor:
        return self.backbone(*inputs)  # type: ignore[no-any-return]

    def weight_permutations(self) -> PermutationSpec | None:
        """The backbone's weight permutations (``backbone.`` keys), if it declares them."""
        spec = declared_weight_permutations(self.backbone)
        return None if spec is None else spec.prefixed("backbone.")

    # -- training ------------------------------------------------------------------------------

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        inputs = inputs_of(batch)
        pred = self.backbone(*inputs)  # (B, N, 3)
        loss = ((pred - batch["target"]) ** 2).mean()
        size = len(pred)
        self.log("train/mse", loss, prog_bar=True, batch_size=size)
        reg = self.regularizer
        if reg is not None:
            gen = reg.step_generator(self.global_step, pred.device)
            fn, out = penalized(self.backbone)
            penalties = reg.penalties(fn, inputs, gen, act_input=rotate_inputs,
                                      act_output=rotate_outputs,
                                      outputs=pred if out else None)  # fmt: skip
            loss = loss + reg.weighted(penalties)
            if reg.observe(self.global_step, penalties):
                self.print(f"step {self.global_step}: soft-equivariance weights tuned to "
                           f"{dict(zip(reg.names, reg.lambdas.tolist()))}")  # fmt: skip
            self.log_dict(reg.log_values(penalties), batch_size=size)
            self.log("train/loss", loss, batch_size=size)
        return loss

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self.log("val/mse", mse(self.backbone, batch), prog_bar=True, batch_size=len(batch["loc"]))

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self.log("test/mse", mse(self.backbone, batch), batch_size=len(batch["loc"]))

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        opt = torch.optim.Adam(self.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
        if hp["schedule"] == "constant":
            return opt
        return cosine_to_floor(opt, self.trainer.estimated_stepping_batches, hp["min_lr_ratio"])


__all__ = ["NBodyDataModule", "NBodyModule", "mse", "penalized", "rotate_inputs", "rotate_outputs"]
