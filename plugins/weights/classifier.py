"""Image classification with Lightning for the weight-space experiments: ``symco fit --config
configs/weights/mlp.yaml`` (or ``resnet.yaml``); the constructor signature is the config schema.

The network is injected (``class_path``: :class:`~.mlp.MLP`, :class:`~.resnet.ResNet` or any
module with ``weight_permutations()`` and ``activations(x)``); the module passes its weight
permutations on (``network.`` keys) and answers what ``symco align/merge/barrier`` ask of a
module on ``--data`` (a ``{"x", "y"}`` file, :func:`~.digits.save_split`):
:meth:`DigitsClassifier.weight_activations` and :meth:`DigitsClassifier.weight_evaluate`.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from symco.core.errors import DataFileError, UsageError
from symco.core.symmetry.weights import PermutationSpec, declared_weight_permutations
from symco.core.training.config import from_config

Batch = tuple[Tensor, Tensor]


def loss_and_accuracy(network: nn.Module, batch: Batch) -> tuple[Tensor, Tensor]:
    """Mean cross-entropy and accuracy of ``network`` on ``(x, y)``."""
    x, y = batch
    logits = network(x)  # (B, classes)
    loss = F.cross_entropy(logits, y)
    return loss, (logits.argmax(dim=1) == y).float().mean()


class DigitsClassifier(L.LightningModule):
    """A classifier trained with Adam on cross-entropy.

    :param network: the network (``(B, ...) -> (B, classes)`` logits).
    :param lr: Adam's learning rate (cosine-annealed to 0 over ``max_steps`` when the trainer has
        one, as Git Re-Basin's MLPs are trained).
    """

    def __init__(self, network: nn.Module, lr: float = 1e-3, weight_decay: float = 0.0) -> None:
        super().__init__()
        # built from a config (symco fit, a checkpoint): the network's class_path/init_args are
        # recorded; built in Python: the network is an object and stays out of the hparams
        self.save_hyperparameters(ignore=None if from_config() else ["network"])
        self.network = network

    def forward(self, x: Tensor) -> Tensor:
        return self.network(x)  # type: ignore[no-any-return]

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss, acc = loss_and_accuracy(self.network, batch)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/accuracy", acc)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        loss, acc = loss_and_accuracy(self.network, batch)
        self.log("val/loss", loss, prog_bar=True)
        self.log("val/accuracy", acc, prog_bar=True)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        loss, acc = loss_and_accuracy(self.network, batch)
        self.log("test/loss", loss)
        self.log("test/accuracy", acc)

    def configure_optimizers(self) -> Any:
        opt = torch.optim.Adam(
            self.parameters(), lr=self.hparams["lr"], weight_decay=self.hparams["weight_decay"]
        )
        steps = self.trainer.max_steps if self.trainer is not None else -1
        if steps is None or steps <= 0:
            return opt
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    # -- weight-space symmetry ----------------------------------------------------------------------

    def weight_permutations(self) -> PermutationSpec | None:
        """The network's weight permutations (``network.`` keys), if it declares them."""
        spec = declared_weight_permutations(self.network)
        return None if spec is None else spec.prefixed("network.")

    @staticmethod
    def _xy(data: Any) -> Batch:
        if not isinstance(data, dict) or not {"x", "y"} <= data.keys():
            raise DataFileError(
                f"--data: a dict with 'x' and 'y' tensors (symco digits --out), got "
                f"{type(data).__name__}{sorted(data) if isinstance(data, dict) else ''}"
            )
        return data["x"], data["y"]

    def _eval_batch(self, data: Any) -> Batch:
        """``data``'s ``(x, y)`` on the network's device (``x`` in its dtype), the network in
        eval mode."""
        x, y = self._xy(data)
        self.network.eval()
        param = next(self.network.parameters())
        return x.to(param), y.to(param.device)

    @torch.no_grad()
    def weight_activations(self, data: Any) -> dict[str, Tensor]:
        """Each permutation's units on ``data["x"]`` ``(samples, units)``."""
        x, _ = self._eval_batch(data)
        return self.network.activations(x)  # type: ignore[operator,no-any-return]

    @torch.no_grad()
    def weight_evaluate(self, data: Any) -> tuple[float, float]:
        """``(cross-entropy, accuracy)`` on ``data``, in eval mode."""
        loss, acc = loss_and_accuracy(self.network, self._eval_batch(data))
        return float(loss), float(acc)

    def weight_merge(
        self, other: DigitsClassifier, data: Any, width: int | None, heads: str
    ) -> tuple[dict[str, Any], dict[str, Tensor]]:
        """This model and ``other`` merged by PLeaS on ``data["x"]`` into hidden layers of
        ``width`` units (``None``: this model's): the merged module's ``network`` argument
        (``class_path``/``init_args``) and its state dict — what ``symco merge --method pleas``
        writes.

        :raises UsageError: the network has no ``pleas_merge`` (only the MLP has one).
        """
        merge = getattr(self.network, "pleas_merge", None)
        if not callable(merge):
            raise UsageError(
                f"--method pleas: {type(self.network).__name__} networks have no PLeaS merge "
                "(the MLP has); use weights-average"
            )
        x, _ = self._xy(data)
        merged = merge(other.network, x, width, heads)
        cls = type(merged)
        network = {
            "class_path": f"{cls.__module__}.{cls.__qualname__}",
            "init_args": merged.init_args(),
        }
        state = {f"network.{k}": v for k, v in merged.state_dict().items()}
        return network, state

    # -- what check_weight_symmetry runs it on -----------------------------------------------------

    def symmetry_inputs(self, n: int, generator: torch.Generator) -> Tensor:
        return self.network.symmetry_inputs(n, generator)  # type: ignore[operator,no-any-return]

    def symmetry_outputs(self, inputs: Tensor) -> Tensor:
        return self.network(inputs)  # type: ignore[no-any-return]
