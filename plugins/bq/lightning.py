"""Lightning training of BQ policies by imitation (LightningModule + LightningDataModule).

``symco fit --config configs/tsp/cpu.yaml`` drives these through LightningCLI: the constructor
signatures below are the configuration schema.
"""

from __future__ import annotations

import glob
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from symco.core.dataset import concat_arrays, load_dataset
from symco.core.decoding import Decoder
from symco.core.errors import DataFileError, InfeasibleSolutionError, InvalidInstanceError
from symco.core.policy import Policy
from symco.core.problem import Problem
from symco.core.reducer import ReducedBatch, SymmetryReducer
from symco.core.solver import Solver
from symco.core.symmetry.declare import Symmetry
from symco.core.symmetry.weights import PermutationSpec, declared_weight_permutations
from symco.core.training.config import SHIPPED_MODEL, from_config
from symco.core.training.sampler import EpochSampler, trainer_position


def imitation_loss(policy: Policy, batch: ReducedBatch) -> tuple[Tensor, Tensor]:
    """Cross-entropy between the policy and the expert's action distribution.

    :return: ``(loss, accuracy)``; accuracy counts the argmax landing on an expert action.
    """
    assert batch.target is not None
    logits = policy(batch).flatten(1)  # (B, M*A), -inf where infeasible
    target = batch.target.flatten(1)  # (B, M*A)
    total = target.sum(dim=1, keepdim=True)
    if not bool((total > 0).all()):
        raise ValueError("a training sample has no expert action (its target is all zero)")
    target = target / total
    logp = torch.log_softmax(logits, dim=1).masked_fill(target == 0, 0.0)
    loss = -(target * logp).sum(dim=1).mean()
    acc = (target.gather(1, logits.argmax(dim=1, keepdim=True)) > 0).float().mean()
    return loss, acc


class BQModule(L.LightningModule):
    """A policy trained to imitate expert solutions through a BQ reducer.

    The components are injected (``class_path``/``init_args`` in YAML; registry names such as
    ``reducer: bq`` are accepted by ``symco fit``): the ``problem`` scores solutions, the
    ``reducer`` turns states into reduced batches and expert solutions into samples, and
    ``policy`` is built by calling it with the reducer's input sizes
    ``(num_features, num_node_types, actions_per_node)`` — in YAML, the policy's class and its
    own options only. Validation decodes the held-out instances greedily and logs ``val/gap``
    (percent above the dataset's reference objective; below for maximisation problems, same
    sign convention), scored on the device by the problem's torch objective.
    """

    registry_fields: ClassVar[dict[str, str]] = {
        "problem": "problem",
        "reducer": "reducer",
        "policy": "policy",
        "init_from": SHIPPED_MODEL,
    }
    """Arguments a config may give as registry names (resolved by ``symco fit``)."""
    architecture_hparams: ClassVar[tuple[str, ...]] = ("problem", "reducer", "policy")
    """What must agree for two checkpoints to be averaged (``symco export-model``)."""

    def __init__(
        self,
        problem: Problem,
        reducer: SymmetryReducer,  # (bare: jsonargparse resolves a generic alias badly)
        policy: Callable[[int, int, int], Policy],
        lr: float = 7.5e-4,
        weight_decay: float = 0.0,
        warmup_steps: int = 200,
        schedule: Literal["cosine", "constant", "paper"] = "cosine",
        min_lr_ratio: float = 0.05,
        seed: int = 0,
        val_knn: int | None = None,
        init_from: str | None = None,
    ) -> None:
        """:param seed: seeds the sub-problems drawn each step (with the optimizer step and the
            micro-batch, so gradient accumulation draws fresh ones per micro-batch).
        :param val_knn: kNN view for validation decoding (``None``: all nodes).
        :param init_from: a model file or checkpoint (a shipped model's name in a config) whose
            policy weights start training."""
        super().__init__()
        if reducer.problem != problem.name:
            raise InvalidInstanceError(
                f"model.reducer: {type(reducer).__name__} reduces {reducer.problem}, "
                f"the model's problem is {problem.name}"
            )
        # built from a config (symco fit, a checkpoint): the plain config is recorded, components
        # included; built in Python: the components are objects and stay out of the hparams
        self.save_hyperparameters(
            ignore=None if from_config() else ["problem", "reducer", "policy"]
        )
        self.problem, self.reducer = problem, reducer
        self.policy = policy(reducer.num_features, reducer.num_node_types, reducer.actions_per_node)

    def setup(self, stage: str) -> None:
        """Start from the weights of a model file or checkpoint (``init_from``), if given.

        A ``--ckpt_path`` resume restores its own weights after this, so resuming is unaffected.
        A source trained on fewer node features (a reducer that appends features, e.g. ``bq`` ->
        ``bq-dist``) loads with zero weights on the new inputs: the start model computes exactly
        what the source did, and training learns what the new features add.
        """
        path = self.hparams["init_from"]
        if stage != "fit" or not path:
            return
        from symco.core.training.checkpoints import read_checkpoint

        obj = read_checkpoint(Path(path))
        state = {
            k[len("policy.") :]: v for k, v in obj["state_dict"].items() if k.startswith("policy.")
        }
        key = "embed.weight"  # (d, num_features): the only layer that sees raw features
        own = self.policy.state_dict()
        if key in state and key in own and state[key].shape[1] < own[key].shape[1]:
            old = state[key]
            extra = old.new_zeros(old.shape[0], own[key].shape[1] - old.shape[1])
            state[key] = torch.cat([old, extra], dim=1)
        try:
            self.policy.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise DataFileError(
                f"model.init_from: {path} does not fit this policy ({str(exc).splitlines()[0]})"
            ) from None

    # -- declared symmetries (symco check-symmetry) --------------------------------------------

    symmetry_size: ClassVar[int] = 12
    """Nodes of the random instances the symmetry check runs on."""

    def symmetry_inputs(self, n: int, generator: torch.Generator) -> ReducedBatch:
        """Reduced batches of random instances a few random steps in (float64 features)."""
        from symco.core.policy import random_reduced_batch

        batch = random_reduced_batch(self.problem, self.reducer, n, self.symmetry_size, generator)
        return batch.to(self.device)

    def symmetries(self, inputs: ReducedBatch) -> Sequence[Symmetry]:
        """The policy is node-permutation equivariant on reduced batches (no positional
        encoding over nodes): permuting the nodes permutes the logits."""
        from symco.core.policy import node_permutation_symmetry

        return [node_permutation_symmetry(inputs.features.shape[1])]

    def symmetry_outputs(self, inputs: ReducedBatch) -> Tensor:
        return self.policy(inputs)

    def weight_permutations(self) -> PermutationSpec | None:
        """The policy's weight permutations (``policy.`` keys), if it declares them."""
        spec = declared_weight_permutations(self.policy)
        return None if spec is None else spec.prefixed("policy.")

    def decoder(self, decode: str = "greedy", *, knn: int | None = None) -> Decoder:
        """How ``symco evaluate`` builds solutions with this model: the policy decoded through
        its reducer, ``decode`` = ``"greedy"`` or ``"beam:W"``, with ``knn`` candidate lists.

        :raises ValueError: an unknown ``decode``.
        """
        from symco.core.decoding import policy_decoder

        return policy_decoder(self.policy, self.reducer, self.problem, decode, knn=knn)

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        # a fresh generator per step: resumed runs draw the same sub-problems as uninterrupted ones
        gen = torch.Generator().manual_seed(self._step_seed())
        samples = self.reducer.expand(batch, batch["solutions"], generator=gen)
        loss, acc = imitation_loss(self.policy, samples)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/acc", acc, prog_bar=True)
        self.log("train/subproblem", float(samples.features.shape[1]))
        return loss

    def _step_seed(self) -> int:
        """The seed of this training micro-batch's sub-problems: a pure function of the model's
        ``seed``, the rank and the position in the run, so a resumed run draws what an
        uninterrupted one would. Under gradient accumulation each micro-batch of a window gets
        its own (``global_step`` alone repeats across the window)."""
        accumulate = self.trainer.accumulate_grad_batches if self._trainer is not None else 1
        index = self.global_step * 64 + self.global_rank
        if accumulate > 1:
            within = self.trainer.fit_loop.epoch_loop.batch_progress.current.processed % accumulate
            index = (self.global_step * accumulate + within) * 64 + self.global_rank
        return int(self.hparams["seed"]) * 1_000_003 + index

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        refs = batch["objectives"]
        gap = self.greedy_gaps(batch).mean().float()
        self.log("val/gap", gap, prog_bar=True, sync_dist=True, batch_size=len(refs))

    def greedy_gaps(self, batch: Mapping[str, Tensor]) -> Tensor:
        """Per-instance gaps (%) ``(B,)`` of greedy decoding (``val_knn``) to a labelled batch's
        ``objectives`` (its ``solutions``, if any, are not used)."""
        from symco.core.decoding import greedy

        refs = batch["objectives"]
        instances = {k: v for k, v in batch.items() if k not in ("objectives", "solutions")}
        sols = greedy(self.policy, self.reducer, instances, knn=self.hparams["val_knn"])
        packed = torch.as_tensor(self.problem.pack_solutions(sols), device=refs.device)
        values = self.problem.objective_torch(instances, packed).to(refs.dtype)  # (B,)
        diff = values - refs if self.problem.sense == "min" else refs - values
        return 100.0 * diff / refs.abs()

    # -- weight-space symmetry (symco barrier / merge; benchmarks/weights.py) ----------------

    def weight_data(self, path: str) -> dict[str, Tensor]:
        """A labelled dataset file (``symco data --solver ...``) as the tensors
        :meth:`weight_evaluate` reads: the instances' arrays and ``objectives``."""
        ds = load_dataset(path, self.problem)
        if ds.objectives is None:
            raise DataFileError(
                f"{path}: has no '{self.problem.objective_key}' array; label it with "
                "`symco data --solver ...`"
            )
        arrays = {**ds.instances, "objectives": ds.objectives}
        return {k: torch.as_tensor(v) for k, v in arrays.items()}

    @torch.no_grad()
    def weight_evaluate(self, data: Mapping[str, Tensor]) -> tuple[float, float]:
        """``(mean greedy gap %, share of instances decoded to within 1e-6 % of the
        reference)`` with the current parameters: the loss and accuracy of ``symco barrier``."""
        self.eval()
        batch = {k: v.to(self.device) for k, v in data.items()}
        gaps = self.greedy_gaps(batch).double()
        return float(gaps.mean()), float((gaps <= 1e-6).double().mean())

    def configure_optimizers(self) -> Any:
        hp = self.hparams
        opt = torch.optim.AdamW(self.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
        total = max(1, int(self.trainer.estimated_stepping_batches))

        def factor(step: int) -> float:
            warm = min(1.0, (step + 1) / max(1, hp["warmup_steps"]))
            if hp["schedule"] == "constant":
                return warm
            if hp["schedule"] == "paper":  # x0.98 every 50 epochs of the paper, in steps
                per_epoch = max(1, total // max(1, self.trainer.max_epochs or 1))
                return warm * 0.98 ** (step // (50 * per_epoch))
            progress = min(1.0, step / total)
            cosine = 0.5 * (1 + math.cos(math.pi * progress))
            return warm * (hp["min_lr_ratio"] + (1 - hp["min_lr_ratio"]) * cosine)

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class _Rows(Dataset[dict[str, Tensor]]):
    def __init__(self, arrays: dict[str, Tensor]) -> None:
        self.arrays = arrays
        self.n = len(next(iter(arrays.values())))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return {k: v[i] for k, v in self.arrays.items()}


def _expand_paths(paths: list[str], field: str) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        hits = sorted(glob.glob(p)) if any(c in p for c in "*?[") else [p]
        if not hits:
            raise DataFileError(f"data.{field}: no file matches '{p}'")
        out += [Path(h) for h in hits]
    return out


def _without_row_name(reason: str) -> str:
    """``reason`` of a one-row :meth:`Problem.check_solution` without its row name: ``"tour 0 is
    not ..."`` reads ``"tour is not ..."``, ``"solution 0: route 2 ..."`` reads ``"route 2 ..."``
    (the caller names the real row)."""
    m = re.match(r"(\w+) 0(:\s*|\s+|$)", reason)
    if m is None:
        return reason
    rest = reason[m.end() :]
    return rest if m.group(2).startswith(":") else f"{m.group(1)} {rest}".rstrip()


def check_labels(
    problem: Problem, instances: dict[str, np.ndarray], solutions: np.ndarray, path: Path | str
) -> None:
    """Refuse a dataset with an infeasible label: :meth:`Problem.feasible_torch` finds the first
    bad row at once, :meth:`Problem.check_solution` of that row gives the reason.

    :raises DataFileError: ``"FILE: label I is infeasible: REASON"``.
    """
    tensors = {k: torch.as_tensor(v) for k, v in instances.items()}
    ok = problem.feasible_torch(tensors, torch.as_tensor(np.asarray(solutions)))
    if bool(ok.all()):
        return
    i = int(torch.nonzero(~ok)[0, 0])
    row = problem.unpack_solutions(np.asarray(solutions)[i : i + 1])
    try:
        problem.check_solution(problem.select(instances, i), row)
    except InfeasibleSolutionError as exc:
        reason = _without_row_name(str(exc))
    except IndexError as exc:
        reason = f"a node index is out of range ({exc})"
    else:
        reason = f"{type(problem).__name__}.feasible_torch refuses it (check_solution accepts it)"
    raise DataFileError(f"{path}: label {i} is infeasible: {reason}")


@dataclass(frozen=True)
class DataRecipe:
    """How ``prepare_data`` makes the data files of a config when they are missing (what
    ``symco data --problem P --size SIZE --num TRAIN --seed SEED --solver S`` would write).

    :param size: instance size.
    :param train: instances written to the first ``train_paths`` entry.
    :param val: instances written to the first ``val_paths`` entry (seed ``val_seed``).
    :param solver: the label solver (``class_path``/``init_args``: its class and options).
    """

    size: int
    train: int
    solver: Solver
    val: int = 0
    seed: int = 0
    val_seed: int = 999


class BQDataModule(L.LightningDataModule):
    """Solved instances from ``symco data`` ``.npz`` files (paths or globs), held in memory.

    With ``generate`` (a :class:`DataRecipe`), ``prepare_data`` writes missing files first, so
    a small config is self-sufficient (``configs/*/tiny.yaml``); existing files are never
    touched."""

    registry_fields: ClassVar[dict[str, str]] = {"problem": "problem"}

    def __init__(
        self,
        problem: Problem,
        train_paths: list[str],
        val_paths: list[str] | None = None,
        batch_size: int = 128,
        val_batch_size: int = 256,
        val_instances: int | None = 256,
        train_instances: int | None = None,
        num_workers: int = 0,
        shuffle_seed: int = 0,
        generate: DataRecipe | None = None,
    ) -> None:
        """:param shuffle_seed: seeds the order of training instances (named apart from the
        model's ``seed``: Lightning refuses equal hparam names with different values).
        :param generate: make missing data files in ``prepare_data`` (see :class:`DataRecipe`)."""
        super().__init__()
        self.save_hyperparameters(ignore=None if from_config() else ["problem", "generate"])
        self.recipe = generate
        self.problem = problem
        self.train: _Rows | None = None
        self.val: _Rows | None = None

    def _load(self, paths: list[str], field: str, limit: int | None) -> _Rows:
        problem = self.problem
        parts: list[dict[str, np.ndarray]] = []
        for path in _expand_paths(paths, field):
            ds = load_dataset(path, problem)
            if ds.solutions is None or ds.objectives is None:
                raise DataFileError(
                    f"{path}: has no '{problem.solution_key}'/'{problem.objective_key}' arrays;"
                    f" label it with `symco data --solver ...`"
                )
            check_labels(problem, ds.instances, ds.solutions, path)
            parts.append({**ds.instances, "solutions": ds.solutions, "objectives": ds.objectives})
        arrays = concat_arrays(parts, "solutions", where=f"{field} {paths}")
        if limit is not None:
            arrays = {k: v[:limit] for k, v in arrays.items()}
        return _Rows({k: torch.as_tensor(v) for k, v in arrays.items()})

    def _recipe_targets(self) -> list[tuple[str, int, int]]:
        """``(path, instances, seed)`` of each file the recipe makes: the first train and val
        path, when the recipe asks for instances there and the path is not a glob."""
        r, hp = self.recipe, self.hparams
        if r is None:
            return []
        firsts = [(hp["train_paths"], r.train, r.seed), (hp["val_paths"] or [], r.val, r.val_seed)]
        return [
            (paths[0], num, seed)
            for paths, num, seed in firsts
            if num > 0 and paths and not any(c in paths[0] for c in "*?[")
        ]

    def check_inputs(self) -> None:
        """Refuse, before training starts, data files that are missing and that no recipe
        (``generate``) will make (``symco fit`` calls this ahead of the Trainer)."""
        made = {path for path, _, _ in self._recipe_targets()}
        for field in ("train_paths", "val_paths"):
            todo = [p for p in self.hparams[field] or [] if p not in made]
            for path in _expand_paths(todo, field):  # a glob must match
                if not path.is_file():
                    raise DataFileError(
                        f"data.{field}: {path}: no such file (make it with `symco data`)"
                    )

    def prepare_data(self) -> None:
        """Write the missing data files the recipe (``generate``) describes, once (rank 0)."""
        for path, num, seed in self._recipe_targets():
            if not Path(path).exists():
                assert self.recipe is not None
                self._make(Path(path), self.recipe, num, seed)

    def _make(self, path: Path, recipe: DataRecipe, num: int, seed: int) -> None:
        from symco.core.labels import DataSpec, build_dataset

        solver = recipe.solver
        options: dict[str, Any] = {"seed": solver.seed}
        if solver.time_limit is not None:
            options["time_limit"] = solver.time_limit
        problem = self.problem
        spec = DataSpec(problem.name, recipe.size, num, seed, problem.distributions[0],
                        solver.name, options, chunk_size=256)  # fmt: skip
        build_dataset(problem, spec, path, solver_cls=type(solver), workers=1)
        print(
            f"wrote {path}: {num} {problem.name}{recipe.size} instances labelled by {solver.name}"
        )

    def setup(self, stage: str) -> None:
        hp = self.hparams
        if stage == "fit" and self.train is None:
            self.train = self._load(hp["train_paths"], "train_paths", hp["train_instances"])
        if stage in ("fit", "validate") and self.val is None and hp["val_paths"]:
            self.val = self._load(hp["val_paths"], "val_paths", hp["val_instances"])

    def train_dataloader(self) -> DataLoader[dict[str, Tensor]]:
        assert self.train is not None
        hp, trainer = self.hparams, self.trainer
        sampler = EpochSampler(
            self.train,
            hp["batch_size"],
            hp["shuffle_seed"],
            self._position,
            rank=trainer.global_rank if trainer else 0,
            world_size=trainer.world_size if trainer else 1,
        )
        return DataLoader(
            self.train,
            batch_size=hp["batch_size"],
            sampler=sampler,
            drop_last=True,
            num_workers=hp["num_workers"],
        )

    def _position(self) -> tuple[int, int]:
        return trainer_position(self.trainer)

    def val_dataloader(self) -> DataLoader[dict[str, Tensor]] | list[Any]:
        if self.val is None:
            return []
        return DataLoader(self.val, batch_size=self.hparams["val_batch_size"])
