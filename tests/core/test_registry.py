from __future__ import annotations

import pytest

from symco.core.errors import DuplicateNameError, UnknownNameError
from symco.core.registry import Registry


class Foo:
    name = "foo"


class Solver1:
    name = "s"
    problem = "p"


def test_lookup_and_attribution() -> None:
    reg = Registry()
    with reg.scope("myplugin", "mypkg 1.0"):
        reg.add_policy(Foo)
    entry = reg.entry("policy", "foo")
    assert entry.obj is Foo and entry.plugin == "myplugin" and entry.package == "mypkg 1.0"
    assert reg.names("policy") == ["foo"]
    assert ("policy", "foo") in reg


def test_unknown_name_lists_registered() -> None:
    reg = Registry()
    reg.add_policy(Foo)
    with pytest.raises(UnknownNameError, match=r"unknown policy 'bar'; registered: foo"):
        reg.get("policy", "bar")
    with pytest.raises(UnknownNameError, match="registered: none"):
        reg.get("encoding", "x")


def test_duplicate_names_both_plugins() -> None:
    reg = Registry()
    with reg.scope("first", "pkg-a 1"):
        reg.add_policy(Foo)
    with reg.scope("second", "pkg-b 2"), pytest.raises(DuplicateNameError) as info:
        reg.add_policy(Foo)
    msg = str(info.value)
    assert "'first' (pkg-a 1)" in msg and "'second' (pkg-b 2)" in msg


def test_per_problem_names_do_not_clash() -> None:
    reg = Registry()
    reg.add_solver(Solver1)  # type: ignore[arg-type]

    class Solver2(Solver1):
        problem = "q"

    reg.add_solver(Solver2)  # type: ignore[arg-type]
    assert reg.get("solver", "s", "p") is Solver1
    assert reg.get("solver", "s", "q") is Solver2
    with pytest.raises(UnknownNameError, match="for problem 'r'"):
        reg.get("solver", "s", "r")


def test_remove_plugin() -> None:
    reg = Registry()
    with reg.scope("a", "-"):
        reg.add_policy(Foo)
    reg.remove_plugin("a")
    assert len(reg) == 0


def test_nameless_class_rejected() -> None:
    class NoName:
        pass

    with pytest.raises(TypeError, match="no 'name'"):
        Registry().add_policy(NoName)


def test_builtins_registered(registry: Registry) -> None:
    assert "tsp" in registry.names("problem")
    assert {"exact", "ortools", "lkh", "hgs"} <= set(registry.names("solver", "tsp"))
    assert registry.entry("problem", "tsp").package.startswith("symco ")
