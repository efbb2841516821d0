"""One-line errors for the LightningCLI commands (``symco fit|validate|test|predict``).

jsonargparse reports a bad config as a nested, multi-line message (``Parser key "model": ...
Problem with given class_path '...': Option 'x' is not accepted``) that names neither the file
nor the whole key, and it parses temporary copies of the user's configs (registry names resolved,
see :func:`symco.core.training.cli.resolve_argv`). Lightning reports some bad trainer settings
only once training starts, as a traceback. An :class:`ErrorContext` knows which file or
command-line override set which key and turns such errors into one :class:`ConfigError`:
``FILE: KEY: what is wrong`` (``command line`` for overrides), with a "did you mean" for
unknown keys. Errors it cannot attribute keep their first line (parser) or traceback (a bug).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from symco.core.errors import SymcoError

COMMAND_LINE = "command line"
"""The "file" named for an override given on the command line (``--trainer.max_steps 5``)."""

_CONFIG_FLAGS = ("--config", "-c")
_HIDDEN_OPTIONS = {"help", "config", "print_config"}


class ConfigError(SymcoError, ValueError):
    """A ``symco fit`` config file or override that the parser or the trainer rejects."""


def did_you_mean(name: str, choices: Iterable[str], prefix: str = "") -> str:
    """``"; did you mean 'x'?"`` for the choice closest to ``name`` (shown after ``prefix``,
    e.g. ``--trainer.``), or ``""`` if none is close."""
    import difflib

    close = difflib.get_close_matches(name, sorted(set(choices) - {name}), n=1)
    return f"; did you mean '{prefix}{close[0]}'?" if close else ""


_UNKNOWN_NAME = re.compile(r"unknown [\w-]+ '(?P<name>[^']+)'.*; registered: (?P<known>.+)$")


@contextlib.contextmanager
def suggesting_names() -> Iterator[None]:
    """Add a "did you mean" to a registry error (``unknown problem 'tsq'; registered: ...``)
    raised inside the block, and say ``command line: KEY:`` for an override's (``--KEY:``);
    other errors pass unchanged."""
    try:
        yield
    except SymcoError as exc:
        text = str(exc)
        match = _UNKNOWN_NAME.search(text)
        hint = did_you_mean(match["name"], match["known"].split(", ")) if match else ""
        flag = re.match(r"--(?P<key>[\w.]+): ", text)
        if flag:
            text = f"{COMMAND_LINE}: {text[2:]}"
        try:
            better = type(exc)(text + hint) if hint or flag else None
        except TypeError:  # a subclass that takes more than the message
            better = None
        if better is None:
            raise
        raise better from None


def _norm(key: str) -> str:
    """``key`` without its ``init_args`` parts: ``model.init_args.lr`` and ``model.lr`` (the
    shorthand LightningCLI accepts) name the same setting."""
    return ".".join(part for part in key.split(".") if part and part != "init_args")


def _flatten(value: Any, key: str, out: dict[str, tuple[str, Any]]) -> None:
    if key:
        out.setdefault(_norm(key), (key, value))  # `model` before `model.init_args`
    if isinstance(value, Mapping):
        for sub, item in value.items():
            _flatten(item, f"{key}.{sub}" if key else str(sub), out)


@dataclass
class _Source:
    """One config file, or one command-line override, and the keys it sets."""

    label: str
    values: dict[str, tuple[str, Any]]
    """normalised key -> (the key as the user wrote it, its value)"""


def _parse_value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


# --- jsonargparse's message -------------------------------------------------------------------

_PARSER_KEY = re.compile(r'Parser key "(?P<key>[^"]+)"(?: element \d+)?:')
_CLASS_PATH = re.compile(r"Problem with given class_path '(?P<path>[^']+)':")
_MARKER = re.compile(f"{_PARSER_KEY.pattern}|{_CLASS_PATH.pattern}")
_NOISE = re.compile(
    r"(Does not validate against any of the Union subtypes|Subtypes:|Errors:|Given value type:"
    r"|Given value:)"
)
_WEAK = re.compile(
    r"(Expected a <class '(NoneType|bool)'>|Expected a path but .* either not accessible"
    r"|Expected an instantiatable class, but .* is abstract)"
)
_UNKNOWN_KEY = (
    re.compile(r"Subcommand '[^']+' does not accept option '(?P<key>[^']+)'"),
    re.compile(r"Group '(?P<group>[^']+)' does not accept option '(?P<key>[^']+)'"),
    re.compile(r"Option '(?P<key>[^']+)' is not accepted(?! before)"),
    re.compile(r"Key \"(?P<key>[^\"]+)\" is not accepted"),
)
_IMPORT_PROBLEM = re.compile(r"has no attribute|No module named|cannot import", re.IGNORECASE)
_GOT_VALUE = re.compile(r"\. Got value: (?P<value>.*?)(?=\. Got value: |$)")
_NOT_SUBCLASS = re.compile(
    r"Import path (?P<path>\S+) does not correspond to a subclass of (?P<base>\w+)"
)
_EXPECTED_CLASS = re.compile(r"^Expected an? <class '(?P<type>[\w.]+)'>")


@dataclass
class _Item:
    """One line (or inline part of a line) of a nested jsonargparse message."""

    depth: float
    text: str
    key: str | None = None  # a `Parser key "..."` marker
    class_path: str | None = None  # a `Problem with given class_path '...'` marker


def _items(message: str) -> list[_Item]:
    """The message's lines as items, the markers that nest inside a line split out."""
    items: list[_Item] = []
    for line in message.splitlines():
        text = line.lstrip(" ")
        depth = float(len(line) - len(text))
        if text.startswith("- "):
            text, depth = text[2:], depth + 2
        text = text.strip()
        while match := _MARKER.search(text):  # e.g. "Type X expects a callable class: Parser key"
            items.append(_Item(depth, match[0], match["key"], match["path"]))
            text, depth = text[match.end() :].strip(), depth + 0.5
        if text:
            items.append(_Item(depth, text))
    return items


def _ancestors(items: list[_Item], index: int) -> list[_Item]:
    """The markers enclosing ``items[index]``, outermost first."""
    out: list[_Item] = []
    depth = items[index].depth
    for item in reversed(items[:index]):
        if item.depth < depth:
            depth = item.depth
            if item.key is not None or item.class_path is not None:
                out.append(item)
    return out[::-1]


def _leaf(message: str) -> tuple[str, list[_Item]] | None:
    """The innermost meaningful line of a nested message and the markers enclosing it."""
    items = _items(message)
    best: tuple[tuple[bool, int, int], str, list[_Item]] | None = None
    for i, item in enumerate(items):
        if item.key is not None or item.class_path is not None or _NOISE.match(item.text):
            continue
        chain = _ancestors(items, i)
        rank = (not _WEAK.match(item.text), len(chain), -i)
        if best is None or rank > best[0]:
            best = (rank, item.text, chain)
    return None if best is None else (best[1], best[2])


def _sentence(text: str) -> str:
    """A message part in symco's style: lower-case start, no long ``Got value:`` dump."""
    text = _GOT_VALUE.sub(lambda m: f", got {m['value']}" if len(m["value"]) <= 40 else "", text)
    text = " ".join(text.split()).rstrip(".")
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        text = text[0].lower() + text[1:]
    return text


def _class_parameters(class_path: str) -> list[str]:
    """The constructor arguments jsonargparse accepts for ``class_path`` (none if unknown)."""
    import inspect

    from symco.core.training.config import import_class

    cls = import_class(class_path)
    if cls is None:
        return []
    try:  # jsonargparse's own resolution (follows **kwargs into base classes)
        from jsonargparse._parameter_resolvers import get_signature_parameters

        return [p.name for p in get_signature_parameters(cls)]
    except Exception:  # a private API: any failure falls back to the plain signature
        pass
    try:
        params = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _module_classes(class_path: str) -> list[str]:
    """The public class paths in the module of ``class_path`` (if that module imports)."""
    from symco.core.dotted import DottedPathError, import_module_of, split_path

    try:
        module, _ = split_path(class_path)
        mod = import_module_of(class_path)
    except DottedPathError:
        return []
    names = [n for n, v in vars(mod).items() if isinstance(v, type) and not n.startswith("_")]
    return [f"{module}.{n}" for n in names]


# --- Lightning's exceptions -------------------------------------------------------------------

_VAL_CHECK = re.compile(
    r"`val_check_interval` \((?P<value>[^)]*)\) must be less than or equal to the number of the"
    r" training batches \((?P<batches>\d+)\)"
)
_TRAINER_ARG = re.compile(r"`(?:Trainer\()?(?P<name>[a-z_]+)(?:=|`|\))|\bfor (?P<for>[a-z_]+),")
_ACCELERATOR = re.compile(r"gpu backend found|accelerator is not available", re.IGNORECASE)


def _raised_in_lightning(exc: BaseException) -> bool:
    """Whether ``exc`` was raised by Lightning's own code (not by a module or a callback)."""
    import traceback

    import lightning

    frames = traceback.extract_tb(exc.__traceback__)
    root = Path(lightning.__file__).resolve().parent
    return bool(frames) and Path(frames[-1].filename).resolve().is_relative_to(root)


@dataclass
class ErrorContext:
    """What a LightningCLI command was given, to say where a rejected setting came from.

    Fill it while rewriting the arguments (:meth:`add_config` for each resolved copy, then
    :meth:`read_arguments` with the final argument list), let the CLI append its parsers to
    :attr:`parsers`, then turn errors into :class:`ConfigError` with :meth:`argument_error` and
    :meth:`lightning_error`.
    """

    command: str
    parsers: list[Any] = field(default_factory=list)
    """The jsonargparse parsers LightningCLI built (the subcommand's lists the known options)."""
    _copies: dict[str, tuple[str, Mapping[str, Any]]] = field(default_factory=dict)
    _sources: list[_Source] = field(default_factory=list)

    def add_config(self, label: str, copy: Path, config: Mapping[str, Any]) -> None:
        """Record that ``copy`` (parsed by LightningCLI) is the user's config ``label``."""
        self._copies[str(copy)] = (label, config)

    def read_arguments(self, argv: Sequence[str]) -> None:
        """Record the sources of the final LightningCLI arguments, in the order they apply."""
        i = 0
        while i < len(argv):
            flag, eq, value = argv[i].partition("=")
            takes_next = not eq and i + 1 < len(argv) and not argv[i + 1].startswith("--")
            if takes_next:
                value, i = argv[i + 1], i + 1
            i += 1
            if flag in _CONFIG_FLAGS and value in self._copies:
                label, config = self._copies[value]
                values: dict[str, tuple[str, Any]] = {}
                _flatten(config, "", values)
                self._sources.append(_Source(label, values))
            elif flag.startswith("--") and len(flag) > 2:
                values = {}
                key = flag[2:].removesuffix("+")  # `--trainer.callbacks+=...` appends
                _flatten(_parse_value(value) if eq or takes_next else None, key, values)
                self._sources.append(_Source(COMMAND_LINE, values))

    def _locate(self, key: str) -> tuple[str, str] | None:
        """(file or ``command line``, the key as written there) of the last source setting
        ``key`` (or a plain value above it, like ``--model some.Class``)."""
        norm = _norm(key)
        parents = [norm.rsplit(".", k)[0] for k in range(1, norm.count(".") + 1)]
        for source in reversed(self._sources):
            if norm in source.values:
                return source.label, source.values[norm][0]
            for parent in parents:
                if parent in source.values and not isinstance(source.values[parent][1], Mapping):
                    return source.label, source.values[parent][0]
        return None

    def _where(self, key: str) -> tuple[str, str]:
        found = self._locate(key)
        if found is not None:
            return found
        configs = [s.label for s in self._sources if s.label != COMMAND_LINE]
        return (configs[-1] if configs else COMMAND_LINE), key

    def _value(self, key: str) -> Any:
        norm = _norm(key)
        for source in reversed(self._sources):
            if norm in source.values:
                return source.values[norm][1]
        return None

    def _class_of(self, key: str) -> str | None:
        """The class path configured for ``key`` (``model``, ``model.init_args.policy``)."""
        value = self._value(f"{key}.class_path")
        if value is None and isinstance(self._value(key), str) and "." in self._value(key):
            value = self._value(key)
        return value if isinstance(value, str) else None

    def _options(self) -> list[str]:
        """The option keys of the subcommand's parser (of every parser, if it is unknown)."""
        parsers = [p for p in self.parsers if getattr(p, "subcommand", None) == self.command]
        dests = {str(a.dest) for p in parsers or self.parsers for a in getattr(p, "_actions", ())}
        return sorted(d for d in dests if d not in _HIDDEN_OPTIONS and not d.endswith(".help"))

    def _siblings(self, key: str) -> list[str]:
        parent, _, _ = key.rpartition(".")
        prefix = f"{parent}." if parent else ""
        return [
            o[len(prefix) :]
            for o in self._options()
            if o.startswith(prefix) and "." not in o[len(prefix) :]
        ]

    def _error(self, label: str, key: str, what: str) -> ConfigError:
        text = f"{label}: {key}: {what}" if key else f"{label}: {what}"
        for copy, (user, _) in self._copies.items():
            text = text.replace(copy, user)
        return ConfigError(text)

    def _unknown(self, key: str, class_path: str | None) -> ConfigError:
        label, written = self._where(key)
        name = written.rpartition(".")[2]
        choices = _class_parameters(class_path) if class_path else self._siblings(written)
        if label == COMMAND_LINE:
            parent = written.rpartition(".")[0]
            hint = did_you_mean(name, choices, f"--{parent}." if parent else "--")
            return self._error(label, written, "unknown option" + hint)
        return self._error(label, written, "unknown key" + did_you_mean(name, choices))

    def argument_error(self, message: str) -> ConfigError:
        """The one-line form of a jsonargparse error message (its first line if unparsable)."""
        first = next((line.strip() for line in message.splitlines() if line.strip()), "invalid")
        if match := re.match(r"unrecognized arguments: (?P<first>\S+)", first):
            token = match["first"]
            if token.startswith("--") and len(token) > 2:
                return self._unknown(token[2:].partition("=")[0].removesuffix("+"), None)
            return self._error(COMMAND_LINE, "", f"unexpected argument '{token}'")
        if match := re.match(r"the following arguments are required: (?P<keys>.*)", first):
            keys = ", ".join(
                k.strip().removeprefix(f"{self.command}.") for k in match["keys"].split(",")
            )
            return self._error(self._where("")[0], "", f"not given: {keys} (give a --config)")
        if match := re.match(r"argument (?P<flag>--[^\s/:]+)[^:]*: (?P<what>.*)", first):
            return self._error(COMMAND_LINE, match["flag"][2:], _sentence(match["what"]))
        leaf = _leaf(message)
        if leaf is None:
            return self._error(self._where("")[0], "", _sentence(first))
        text, chain = leaf
        parts: list[str] = []
        for marker in chain:
            parts += marker.key.split(".") if marker.key is not None else ["init_args"]
        direct = chain[-1].class_path if chain else None  # the leaf is about this class
        for pattern in _UNKNOWN_KEY:
            if match := pattern.search(text):
                group = match.groupdict().get("group")
                key = ".".join([*parts, *([group] if group else []), match["key"]])
                owner = ".".join(parts).removesuffix(".init_args")
                class_path = direct or (self._class_of(owner) if chain else None)
                if class_path is None and chain:
                    found = re.search(r"class_path='(?P<path>[^']+)'", text)
                    class_path = found["path"] if found else None
                return self._unknown(key, class_path)
        key = ".".join(parts)
        if direct is not None and _IMPORT_PROBLEM.search(text):
            key = key.removesuffix(".init_args")
            label, written = self._where(f"{key}.class_path")
            hint = did_you_mean(direct, _module_classes(direct))
            return self._error(
                label, written, f"cannot import '{direct}' ({_sentence(text)}){hint}"
            )
        if match := _NOT_SUBCLASS.search(text):
            label, written = self._where(f"{key}.class_path")
            what = f"{match['path']} is not a {match['base']} (a subclass of it is needed)"
            return self._error(label, written, what)
        label, written = self._where(key)
        if match := _EXPECTED_CLASS.match(text):
            kind = match["type"].rpartition(".")[2]
            got = _GOT_VALUE.search(text)
            article = "an" if kind[0] in "aeiou" else "a"
            what = f"expected {article} {kind}" + (f", got '{got['value']}'" if got else "")
            return self._error(label, written, what)
        return self._error(label, written, _sentence(text))

    def lightning_error(self, exc: BaseException) -> ConfigError | None:
        """The one-line form of an exception Lightning raised for a trainer setting the user
        gave (``val_check_interval`` beyond the training batches, ...); ``None`` for anything
        not attributable to a setting, which then keeps its traceback."""
        if isinstance(exc, SymcoError) or not _raised_in_lightning(exc):
            return None
        text = str(exc)
        if match := _VAL_CHECK.search(text):
            found = self._locate("trainer.val_check_interval")
            if found is None:
                return None
            what = (
                f"{match['value']} is larger than the {match['batches']} training batches per epoch"
                " (lower it, or set trainer.check_val_every_n_epoch to null to count batches"
                " across epochs)"
            )
            return self._error(*found, what)
        names = [m["name"] or m["for"] for m in _TRAINER_ARG.finditer(text)]
        if _ACCELERATOR.search(text):
            names.append("accelerator")
        for name in names:
            found = self._locate(f"trainer.{name}")
            if found is not None:
                return self._error(*found, _sentence(text))
        return None
