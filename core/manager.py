"""Building the plugin manager and the registry (by functions; nothing happens at import).

The core's own internal plugins (:data:`INTERNAL_PLUGINS`: its kinds, groups, frames and
commands; generic training) are registered first, tox style, and cannot be disabled. Built-in
plugins and third-party ones then take the same path: every module named in the ``symco``
entry-point group is imported, registered with pluggy under its entry-point name, and asked to
fill the registry through ``symco_add_kinds`` and ``symco_register``. A plugin that fails to import, or whose hooks do not
match the specs, is reported by name and skipped; the others keep working.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import cast

import pluggy

from symco.core import hookspecs
from symco.core.errors import DuplicateNameError
from symco.core.registry import Registry

ENTRY_POINT_GROUP = "symco"
DISABLE_ENV = "SYMCO_DISABLE_PLUGINS"
INTERNAL_PLUGINS: tuple[tuple[str, str], ...] = (
    ("core", "symco.core.plugin"),
    ("training", "symco.core.training.plugin"),
)
"""``(name, module)`` of the core's own plugins, registered before any entry point."""

log = logging.getLogger("symco")


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers where each plugin came from and which ones failed."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.packages: dict[str, str] = {}
        """plugin name -> ``"distribution version"`` (or the module, for directly registered ones)."""
        self.failed: dict[str, str] = {}
        """plugin name -> one-line reason it was skipped."""

    def _fail(self, name: str, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        self.failed[name] = reason
        log.warning("symco: plugin '%s' skipped (%s)", name, reason)


def disabled_from_env() -> set[str]:
    """Plugin names listed, comma-separated, in ``$SYMCO_DISABLE_PLUGINS``."""
    return {n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",") if n.strip()}


def get_plugin_manager(
    *,
    disable: Iterable[str] = (),
    plugins: Iterable[tuple[str, object]] = (),
    entrypoints: bool = True,
) -> PluginManager:
    """Build a plugin manager.

    :param disable: plugin names to block, on top of ``$SYMCO_DISABLE_PLUGINS``.
    :param plugins: extra ``(name, plugin)`` pairs registered directly (tests, notebooks).
    :param entrypoints: load the ``symco`` entry-point group (built-ins and installed packages).
    """
    pm = PluginManager()
    from symco import __version__

    for name, module in INTERNAL_PLUGINS:
        pm.register(importlib.import_module(module), name=name)
        pm.packages[name] = f"symco {__version__}"
    for name in disabled_from_env() | set(disable):
        if name not in dict(INTERNAL_PLUGINS):  # the core cannot be switched off
            pm.set_blocked(name)
    if entrypoints:
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
                continue
            try:
                module = ep.load()
                pm.register(module, name=ep.name)
            except Exception as exc:  # a broken plugin must not take the others down
                pm._fail(ep.name, exc)
                continue
            dist = ep.dist
            pm.packages[ep.name] = f"{dist.name} {dist.version}" if dist else ep.value
    for name, plugin in plugins:
        if pm.is_blocked(name):
            continue
        try:
            pm.register(plugin, name=name)
        except Exception as exc:
            pm._fail(name, exc)
            continue
        pm.packages[name] = str(
            getattr(plugin, "__module__", None) or getattr(plugin, "__name__", name)
        )
    _drop_unmatched(pm)
    return pm


def _drop_unmatched(pm: PluginManager) -> None:
    """``check_pending`` for every plugin: one whose ``symco_*`` hooks match no spec is dropped."""
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or repr(exc.plugin)
            pm._fail(name, exc)
            pm.unregister(exc.plugin)


def build_registry(pm: PluginManager) -> Registry:
    """Ask every plugin to fill a new :class:`Registry` (``symco_register``).

    Each plugin's hook is called inside :meth:`Registry.scope`, so entries name their plugin.
    A plugin whose hook raises is reported and its partial entries removed; two plugins claiming
    one name raise :class:`~symco.core.errors.DuplicateNameError` naming both.
    """
    registry = Registry()
    # kinds first, from every plugin, so any plugin can fill a kind another one declares;
    # get_hookimpls() lists plugins in registration order (pluggy *calls* them in reverse)
    for hook in (pm.hook.symco_add_kinds, pm.hook.symco_register):
        _call_each(pm, registry, hook)
    return registry


def _call_each(pm: PluginManager, registry: Registry, hook: pluggy.HookCaller) -> None:
    for impl in hook.get_hookimpls():
        name = pm.get_name(impl.plugin) or repr(impl.plugin)
        with registry.scope(name, pm.packages.get(name, "-")):
            try:
                impl.function(registry=registry)
            except DuplicateNameError:
                raise
            except Exception as exc:
                registry.remove_plugin(name)
                pm._fail(name, exc)


def shipped_models(pm: PluginManager) -> dict[str, str]:
    """Every plugin's trained models by name (``symco_models``); a name shipped twice is an
    error naming both plugins."""
    found: dict[str, tuple[str, str]] = {}
    for impl in pm.hook.symco_models.get_hookimpls():
        plugin = pm.get_name(impl.plugin) or repr(impl.plugin)
        models = cast("dict[str, str] | None", impl.function()) or {}
        for name, path in models.items():
            if name in found:
                raise DuplicateNameError(
                    f"model '{name}' is shipped twice: by plugin '{found[name][0]}' and by plugin '{plugin}'"
                )
            found[name] = (plugin, str(path))
    return {name: path for name, (_, path) in found.items()}


def load_registry(
    *, disable: Iterable[str] = (), plugins: Iterable[tuple[str, object]] = ()
) -> tuple[PluginManager, Registry]:
    """The usual pair: a plugin manager over the installed plugins and its registry."""
    pm = get_plugin_manager(disable=disable, plugins=plugins)
    return pm, build_registry(pm)
