"""The plugin manager: entry points, blocking, broken plugins, check_pending."""

from __future__ import annotations

import types
from importlib.metadata import EntryPoint

import pytest

import symco
from symco.core import manager
from symco.core.errors import DuplicateNameError
from symco.core.manager import build_registry, get_plugin_manager


class Toy:
    name = "toy"


def _plugin(register):  # a plugin object whose symco_register is ``register``
    mod = types.ModuleType("toy_plugin")
    mod.symco_register = symco.hookimpl(register)  # type: ignore[attr-defined]
    return mod


def test_built_ins_come_from_entry_points() -> None:
    pm = get_plugin_manager()
    assert pm.has_plugin("tsp")
    assert pm.packages["tsp"].startswith("symco ")


def test_direct_registration_and_attribution() -> None:
    pm = get_plugin_manager(plugins=[("toy", _plugin(lambda registry: registry.add_policy(Toy)))])
    reg = build_registry(pm)
    assert reg.entry("policy", "toy").plugin == "toy"
    assert "tsp" in reg.names("problem")


def test_disable_by_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYMCO_DISABLE_PLUGINS", "tsp, other")
    reg = build_registry(get_plugin_manager())
    assert "tsp" not in reg.names("problem")


def test_disable_by_argument() -> None:
    pm = get_plugin_manager(
        disable=["toy"], plugins=[("toy", _plugin(lambda registry: registry.add_policy(Toy)))]
    )
    assert "toy" not in build_registry(pm).names("policy")


def test_broken_import_is_reported_and_others_work(monkeypatch: pytest.MonkeyPatch) -> None:
    real = manager.entry_points

    def fake(group: str):
        return [*real(group=group), EntryPoint("broken", "symco_no_such_module_xyz", "symco")]

    monkeypatch.setattr(manager, "entry_points", fake)
    pm = get_plugin_manager()
    assert "broken" in pm.failed and "ModuleNotFoundError" in pm.failed["broken"]
    assert "tsp" in build_registry(pm).names("problem")


def test_misspelled_hook_dropped_by_check_pending() -> None:
    bad = types.ModuleType("bad")
    bad.symco_registr = symco.hookimpl(lambda registry: None)  # type: ignore[attr-defined]
    pm = get_plugin_manager(plugins=[("bad", bad)])
    assert "bad" in pm.failed and "symco_registr" in pm.failed["bad"]
    assert not pm.has_plugin("bad")


def test_failing_register_hook_rolls_back() -> None:
    def register(registry):
        registry.add_policy(Toy)
        raise RuntimeError("boom")

    pm = get_plugin_manager(plugins=[("halfway", _plugin(register))])
    reg = build_registry(pm)
    assert "toy" not in reg.names("policy")
    assert pm.failed["halfway"] == "RuntimeError: boom"


def test_duplicate_across_plugins_names_both() -> None:
    pm = get_plugin_manager(
        plugins=[
            ("one", _plugin(lambda registry: registry.add_policy(Toy))),
            ("two", _plugin(lambda registry: registry.add_policy(Toy))),
        ]
    )
    with pytest.raises(DuplicateNameError, match=r"'one'.*'two'"):
        build_registry(pm)


def test_default_solver_hook_firstresult() -> None:
    from symco.core.cli import default_solver

    class Prefer:
        @symco.hookimpl
        def symco_default_solver(self, problem, registry):
            return "ortools" if problem.name == "tsp" else None

    pm = get_plugin_manager(plugins=[("prefer", Prefer())])
    reg = build_registry(pm)
    assert default_solver(pm, reg, reg.problem("tsp")).name == "ortools"
    pm0 = get_plugin_manager()
    strongest = next(s for s in reg.solver_classes("tsp") if s.available() and s.max_size is None)
    assert default_solver(pm0, build_registry(pm0), reg.problem("tsp")) is strongest


def test_documented_command_hook_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """A plugin command written exactly as `symco_add_commands`'s docstring says."""
    from symco.core.cli import main

    mod = types.ModuleType("hello_plugin")

    def hello(args, pm, registry) -> int:
        print(f"hello {args.name}: {len(registry.names('problem'))} problems")
        return 3

    def symco_add_commands(subparsers) -> None:
        p = subparsers.add_parser("hello", help="say hello")
        p.add_argument("name")
        p.set_defaults(handler=hello)

    mod.symco_add_commands = symco.hookimpl(symco_add_commands)  # type: ignore[attr-defined]
    assert main(["hello", "world"], plugins=[("hello", mod)]) == 3
    assert capsys.readouterr().out.startswith("hello world: ")


def test_a_plugin_adds_a_kind_listed_by_symco_plugins(capsys: pytest.CaptureFixture[str]) -> None:
    from symco.core.cli import main

    class Warmup:
        name = "anneal"
        problem = "tsp"

    mod = types.ModuleType("schedules")
    mod.symco_add_kinds = symco.hookimpl(  # type: ignore[attr-defined]
        lambda registry: registry.add_kind("schedule", "temperature schedules", per_problem=True)
    )
    mod.symco_register = symco.hookimpl(  # type: ignore[attr-defined]
        lambda registry: registry.add("schedule", Warmup, problem="tsp")
    )
    assert main(["plugins"], plugins=[("schedules", mod)]) == 0
    out = capsys.readouterr().out
    assert any(
        line.split()[:4] == ["schedule", "1", "schedules", "temperature"]
        for line in out.splitlines()
    )
    assert any(
        line.split()[:4] == ["schedule", "anneal", "tsp", "schedules"] for line in out.splitlines()
    )


def test_the_core_cannot_be_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYMCO_DISABLE_PLUGINS", "core,training,bq")
    reg = build_registry(get_plugin_manager())
    assert "square-dihedral" in reg.names("group") and "BQModule" not in reg.names("model")
