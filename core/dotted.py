"""Objects named by a dotted path, as lazy registry entries, configs and checkpoints name them.

Two spellings are accepted:

* ``package.module:attr`` — the entry-point form (lazy registry entries); ``attr`` may itself be
  dotted (``module:Outer.Inner``);
* ``package.module.Attr`` — the class-path form that LightningCLI configs and checkpoints record:
  everything before the last dot is the module.

Both import the module and look the attribute up; nothing is imported for a malformed path.
"""

from __future__ import annotations

import importlib
from types import ModuleType

_FORMS = "expected 'package.module:name' or 'package.module.Name'"


class DottedPathError(ImportError):
    """``dotted`` does not name an importable object; ``reason`` says why in a few words.

    Not a :class:`~symco.core.errors.SymcoError`: whether a bad path is the user's (a config, a
    checkpoint) or a plugin's is for the caller to say, in its own words. An ``ImportError``, so
    code that caught the import's own errors still catches it.
    """

    def __init__(self, dotted: str, reason: str) -> None:
        super().__init__(f"'{dotted}' cannot be imported: {reason}")
        self.dotted = dotted
        self.reason = reason

    def __reduce__(self) -> tuple[type[DottedPathError], tuple[str, str]]:
        # the default rebuilds from ``args`` (the message alone); worker processes re-raise it
        return type(self), (self.dotted, self.reason)


def split_path(path: str) -> tuple[str, str]:
    """``(module, attribute)`` of ``path`` in either spelling.

    :raises DottedPathError: not a string, or a module or attribute part that is not a dotted
        run of Python identifiers (``"Model"``, ``".rel.Model"``, ``"a:b:c"``, ``""``).
    """
    if not isinstance(path, str):
        raise DottedPathError(repr(path), f"not a string; {_FORMS}")
    module, _, attr = path.partition(":") if ":" in path else path.rpartition(".")
    if not (_is_dotted_name(module) and _is_dotted_name(attr)):
        raise DottedPathError(path, _FORMS)
    return module, attr


def _is_dotted_name(text: str) -> bool:
    return all(part.isidentifier() for part in text.split("."))


def import_module_of(path: str) -> ModuleType:
    """The module part of ``path``, imported (the attribute is not looked up).

    :raises DottedPathError: a malformed path, or a module that cannot be imported (missing, or
        raising ``ImportError`` itself, e.g. for a dependency that is not installed).
    """
    return _import_module(path, split_path(path)[0])


def import_object(path: str) -> object:
    """The object at ``path`` (``pkg.mod:attr`` or ``pkg.mod.Attr``).

    :raises DottedPathError: a malformed path, a module that cannot be imported, or a missing
        attribute. Any other exception the module raises while it is imported propagates: that
        is a bug in the module, not a bad path.
    """
    module, attr = split_path(path)
    obj: object = _import_module(path, module)
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise DottedPathError(path, f"module '{module}' has no attribute '{attr}'") from None
    return obj


def _import_module(path: str, module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise DottedPathError(path, f"{type(exc).__name__}: {exc}") from exc
