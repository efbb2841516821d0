"""Interatomic potentials with Lightning: ``symco fit --config configs/mlip/facet.yaml``.

The constructor signature of :class:`PotentialModule` (with :class:`~.data.MLIPDataModule`'s)
is the configuration schema; the potential (:class:`~.transformer.TransformerPotential`,
:class:`~.facet.FacetPotential`, :class:`~.egnn.EGNNPotential`, :class:`~.mace.MACEPotential`,
or any ``nn.Module`` with ``forward(z, pos) -> energy (B,)``) and TransIP's
:class:`~.learned_equivariance.LearnedEquivariance` are injected by ``class_path``.

Energies are modelled as :math:`E(x) = s\\, f_\\theta(Z, x) + \\sum_i E_0(Z_i)`: per-element
reference energies :math:`E_0` (least squares on the training split) and the scale :math:`s`
(the RMS force component) are fitted once, before training, and saved with the weights. Forces
are :math:`F = -\\nabla_x E` by autograd (conservative, so MD conserves energy). The loss is

.. math::

    \\mathcal{L} = w_E \\Big\\langle \\Big(\\frac{E - \\hat E}{s\\, n_{atoms}}\\Big)^2 \\Big\\rangle
    + w_F \\Big\\langle \\Big(\\frac{F - \\hat F}{s}\\Big)^2 \\Big\\rangle
    + \\lambda\\, \\mathcal{L}_{equiv}
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import lightning as L
import torch
from torch import Tensor, nn

from symco.core.symmetry.declare import Symmetry
from symco.core.symmetry.group import Element, as_pair
from symco.core.symmetry.orthogonal import Euclidean, haar_orthogonal, rotate_points
from symco.core.symmetry.permutation import NodePermutation
from symco.core.training.config import from_config
from symco.core.training.schedule import cosine_to_floor
from symco.plugins.mlip.atoms import ELEMENTS
from symco.plugins.mlip.learned_equivariance import LearnedEquivariance

Inputs = tuple[Tensor, Tensor]
"""``(z (B, N), pos (B, N, 3))``."""


def trim(batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """The batch without the padding columns no structure of it uses."""
    n = int((batch["z"] > 0).sum(1).max())
    return {k: v[:, :n] if v.dim() > 1 else v for k, v in batch.items()}


def rotate_batch(batch: dict[str, Tensor], rot: Tensor) -> dict[str, Tensor]:
    """Positions and forces rotated by ``rot`` ``(B, 3, 3)`` (about the origin)."""
    out = dict(batch)
    out["pos"] = rotate_points(rot, batch["pos"])
    out["forces"] = rotate_points(rot, batch["forces"])
    return out


def time_cosine(optimizer: torch.optim.Optimizer, trainer: Any, min_ratio: float) -> Any:
    """A cosine decay of every learning rate to ``min_ratio`` over the training time the
    trainer's ``max_time`` allows (its :class:`~lightning.pytorch.callbacks.Timer`)."""
    from lightning.pytorch.callbacks import Timer

    from symco.core.errors import UsageError

    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    if timer is None or timer._duration is None:
        raise UsageError("model.schedule: 'time' needs the trainer's max_time")
    duration = float(timer._duration)

    def factor(step: int) -> float:
        done = min(1.0, timer.time_elapsed("train") / duration)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * done))

    sched = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return {"optimizer": optimizer, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class PotentialModule(L.LightningModule):
    """Train a potential on energies and forces; logs ``{train,val,test}/energy_mae`` (eV per
    structure), ``energy_mae_atom`` (eV/atom), ``force_mae`` (eV/Å) and ``force_rmse``.

    :param model: ``forward(z, pos) -> (B,)`` (model units).
    :param augment: rotate every training structure by a Haar-random rotation each step.
    :param equivariance: TransIP's objective (the model must have ``embed(z, pos)`` and
        ``readout(h, z)``); implies augmentation: the loss is taken on each structure and its
        rotated copy, and the objective couples their embeddings.
    :param schedule: ``constant``; ``cosine`` decay to ``min_lr_ratio`` over ``max_steps``; or
        ``time``: the same decay over the trainer's ``max_time`` (runs compared at equal training
        time end their decay together, whatever their speed; a resumed run continues from the
        time its checkpoint recorded).
    :param seed: of the rotations (a generator per step: a resumed run draws the same ones).
    """

    symmetry_atoms: ClassVar[int] = 6

    def __init__(
        self,
        model: nn.Module,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        energy_weight: float = 1.0,
        force_weight: float = 10.0,
        augment: bool = False,
        equivariance: LearnedEquivariance | None = None,
        schedule: Literal["constant", "cosine", "time"] = "cosine",
        min_lr_ratio: float = 0.01,
        max_grad_norm: float = 10.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=None if from_config() else ["model", "equivariance"])
        self.model = model
        self.equivariance = equivariance
        self.register_buffer("e0", torch.zeros(119, dtype=torch.float64))
        self.register_buffer("scale", torch.ones((), dtype=torch.float64))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    # -- the potential -------------------------------------------------------------------------

    def setup(self, stage: str) -> None:
        """Fit :math:`E_0` and the scale on the training split (once; a checkpoint keeps them)."""
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        if not bool(self.fitted) and dm is not None and hasattr(dm, "reference_energies"):
            self.e0.copy_(dm.reference_energies())
            self.scale.fill_(dm.force_scale())
            self.fitted.fill_(True)
        if self.equivariance is not None and not callable(getattr(self.model, "embed", None)):
            from symco.core.errors import UsageError

            raise UsageError(
                f"model.equivariance: {type(self.model).__name__} has no embed(z, pos) for "
                "the learned-equivariance objective"
            )

    def reference(self, z: Tensor) -> Tensor:
        """:math:`\\sum_i E_0(Z_i)` ``(B,)`` (float64)."""
        return self.e0[z].sum(1)

    def _model_energy(self, z: Tensor, pos: Tensor) -> tuple[Tensor, Tensor | None]:
        """Model-unit energies ``(B,)`` and the embeddings ``(B, N, d)`` when the objective is
        on (its ``invariant_readout`` puts the Haar-averaged embeddings under the head)."""
        eq = self.equivariance
        if eq is None:
            return self.model(z, pos), None
        h = self.model.embed(z, pos)  # type: ignore[operator]
        read = eq.average(h) if eq.invariant_readout else h
        return self.model.readout(read, z), h  # type: ignore[operator]

    def energy(self, z: Tensor, pos: Tensor) -> Tensor:
        """Total energies ``(B,)`` in eV (the reference part in float64)."""
        out, _ = self._model_energy(z, pos)  # (B,)
        return self.scale.to(out.dtype) * out + self.reference(z).to(out.dtype)

    def forward(self, z: Tensor, pos: Tensor, create_graph: bool = False) -> tuple[Tensor, Tensor]:
        """``(energy (B,) eV, forces (B, N, 3) eV/Å)``; forces by autograd (also under
        ``torch.no_grad``)."""
        # Lightning evaluates under inference mode, whose tensors cannot take part in autograd:
        # leave it and copy the inputs out of it (a no-op cost next to the model)
        with torch.inference_mode(False), torch.enable_grad():
            if not pos.requires_grad:
                pos = pos.clone().requires_grad_(True)
            e = self.energy(z.clone(), pos)
            (grad,) = torch.autograd.grad(e.sum(), pos, create_graph=create_graph)
        return e, -grad

    def _interaction(self, z: Tensor, pos: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """Model-unit energy ``(B,)``, model-unit forces ``(B, N, 3)`` (graph kept for the
        loss) and the embeddings when the objective needs them."""
        pos = pos.detach().requires_grad_(True)
        e, h = self._model_energy(z, pos)
        (grad,) = torch.autograd.grad(e.sum(), pos, create_graph=True)
        return e, -grad, h

    # -- declared symmetries (symco check-symmetry) --------------------------------------------

    def symmetry_inputs(self, n: int, generator: torch.Generator) -> Inputs:
        """``n`` random molecules of ``symmetry_atoms`` atoms in float64 (elements the model
        knows, positions ~1.5 Å apart)."""
        elements = torch.tensor(getattr(getattr(self.model, "index", None), "elements", ELEMENTS))
        pick = torch.randint(0, len(elements), (n, self.symmetry_atoms), generator=generator)
        pos = 1.5 * torch.randn(
            (n, self.symmetry_atoms, 3), generator=generator, dtype=torch.float64
        )
        return elements[pick], pos

    def symmetries(self, inputs: Inputs) -> Sequence[Symmetry]:
        """:math:`E(3)`: rigid motions and reflections of the positions leave the energy and
        rotate the forces; :math:`S_N`: relabelling the atoms leaves the energy and permutes
        the forces. A model whose ``rotation_symmetry`` is ``"learned"`` (the Transformer)
        declares the rotations as learned: their error is measured, not required."""
        euclid = Euclidean(3)
        perm = NodePermutation(inputs[0].shape[1])
        exact = getattr(self.model, "rotation_symmetry", "exact") == "exact"

        def move(g: Element, x: Inputs) -> Inputs:
            return x[0], euclid.act(g, x[1])

        def rotate_forces(g: Element, f: Tensor) -> Tensor:
            return rotate_points(as_pair(g)[0], f)

        def relabel(g: Element, x: Inputs) -> Inputs:
            return perm.act(g, x[0]), perm.act(g, x[1])

        return [
            Symmetry(euclid, move, None, "invariant", "rigid motions of the atoms: energy",
                     output=0, exact=exact),
            Symmetry(euclid, move, rotate_forces, "equivariant", "rigid motions: forces rotate",
                     output=1, exact=exact),
            Symmetry(perm, relabel, None, "invariant", "atoms relabelled: energy", output=0),
            Symmetry(perm, relabel, perm.act, "permuted", "atoms relabelled: forces", output=1),
        ]  # fmt: skip

    def symmetry_outputs(self, inputs: Inputs) -> tuple[Tensor, Tensor]:
        return self(*inputs)  # type: ignore[no-any-return]

    # -- training ------------------------------------------------------------------------------

    def _rotations(self, n: int, device: torch.device) -> Tensor:
        gen = torch.Generator().manual_seed(self.hparams["seed"] * 1_000_003 + self.global_step)
        return haar_orthogonal(n, 3, gen, proper=True, dtype=torch.float32).to(device)

    def _loss(self, batch: dict[str, Tensor], e: Tensor, f: Tensor, prefix: str) -> Tensor:
        """Weighted energy and force MSE in model units; logs their parts."""
        z = batch["z"]
        real = z > 0
        atoms = real.sum(1).to(e.dtype)
        target = ((batch["energy"] - self.reference(z)) / self.scale).to(e.dtype)  # (B,)
        e_loss = (((e - target) / atoms) ** 2).mean()
        f_loss = ((f - batch["forces"] / self.scale.to(f.dtype))[real] ** 2).mean()
        hp = self.hparams
        self.log_dict({f"{prefix}/energy_mse": e_loss, f"{prefix}/force_mse": f_loss},
                      batch_size=len(z))  # fmt: skip
        return hp["energy_weight"] * e_loss + hp["force_weight"] * f_loss

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        batch = trim(batch)
        z = batch["z"]
        if self.equivariance is None:
            if self.hparams["augment"]:
                batch = rotate_batch(batch, self._rotations(len(z), z.device))
            e, f, _ = self._interaction(z, batch["pos"])
            loss = self._loss(batch, e, f, "train")
        else:
            rot = self._rotations(len(z), z.device)
            turned = rotate_batch(batch, rot)
            e, f, h = self._interaction(z, batch["pos"])
            e_r, f_r, h_r = self._interaction(z, turned["pos"])
            assert h is not None and h_r is not None
            sup = 0.5 * (self._loss(batch, e, f, "train") + self._loss(turned, e_r, f_r, "train"))
            equiv = self.equivariance.loss(h, h_r, rot, z > 0)
            self.log("train/equivariance", equiv, batch_size=len(z))
            loss = sup + self.equivariance.weight * equiv
        self.log("train/loss", loss, prog_bar=True, batch_size=len(z))
        return loss

    def _evaluate(self, batch: dict[str, Tensor], prefix: str) -> None:
        batch = trim(batch)
        z = batch["z"]
        e, f = self(z, batch["pos"])
        real = z > 0
        de = (e.double() - batch["energy"]).abs()
        df = (f.detach() - batch["forces"])[real]
        size = len(z)
        self.log_dict({
            f"{prefix}/energy_mae": de.mean(),
            f"{prefix}/energy_mae_atom": (de / real.sum(1)).mean(),
            f"{prefix}/force_mae": df.abs().mean(),
            f"{prefix}/force_rmse": df.pow(2).mean().sqrt(),
        }, batch_size=size, prog_bar=prefix == "val")  # fmt: skip

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        opt = torch.optim.AdamW(self.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
        if hp["schedule"] == "constant":
            return opt
        if hp["schedule"] == "time":
            return time_cosine(opt, self.trainer, hp["min_lr_ratio"])
        return cosine_to_floor(opt, self.trainer.estimated_stepping_batches, hp["min_lr_ratio"])

    def configure_gradient_clipping(self, optimizer: Any, gradient_clip_val: Any = None,
                                    gradient_clip_algorithm: Any = None) -> None:  # fmt: skip
        self.clip_gradients(optimizer, gradient_clip_val=self.hparams["max_grad_norm"],
                            gradient_clip_algorithm="norm")  # fmt: skip


__all__ = ["PotentialModule", "rotate_batch", "trim"]
