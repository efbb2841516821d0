from __future__ import annotations

import pytest

from symco.core.errors import DuplicateNameError, UnknownNameError
from symco.core.plugin import symco_add_kinds
from symco.core.registry import Registry


def _registry() -> Registry:
    """A registry with the core's kinds, declared through the core plugin's own hook."""
    reg = Registry()
    symco_add_kinds(reg)
    return reg


class Foo:
    name = "foo"


class Solver1:
    name = "s"
    problem = "p"


def test_lookup_and_attribution() -> None:
    reg = _registry()
    with reg.scope("myplugin", "mypkg 1.0"):
        reg.add_policy(Foo)
    entry = reg.entry("policy", "foo")
    assert entry.obj is Foo and entry.plugin == "myplugin" and entry.package == "mypkg 1.0"
    assert reg.names("policy") == ["foo"]
    assert ("policy", "foo") in reg


def test_unknown_name_lists_registered() -> None:
    reg = _registry()
    reg.add_policy(Foo)
    with pytest.raises(UnknownNameError, match=r"unknown policy 'bar'; registered: foo"):
        reg.get("policy", "bar")
    with pytest.raises(UnknownNameError, match="registered: none"):
        reg.get("encoding", "x")


def test_duplicate_names_both_plugins() -> None:
    reg = _registry()
    with reg.scope("first", "pkg-a 1"):
        reg.add_policy(Foo)
    with reg.scope("second", "pkg-b 2"), pytest.raises(DuplicateNameError) as info:
        reg.add_policy(Foo)
    msg = str(info.value)
    assert "'first' (pkg-a 1)" in msg and "'second' (pkg-b 2)" in msg


def test_per_problem_names_do_not_clash() -> None:
    reg = _registry()
    reg.add_solver(Solver1)  # type: ignore[arg-type]

    class Solver2(Solver1):
        problem = "q"

    reg.add_solver(Solver2)  # type: ignore[arg-type]
    assert reg.get("solver", "s", "p") is Solver1
    assert reg.get("solver", "s", "q") is Solver2
    with pytest.raises(UnknownNameError, match="for problem 'r'"):
        reg.get("solver", "s", "r")


def test_remove_plugin() -> None:
    reg = _registry()
    with reg.scope("a", "-"):
        reg.add_policy(Foo)
    reg.remove_plugin("a")
    assert len(reg) == 0


def test_nameless_class_rejected() -> None:
    class NoName:
        pass

    with pytest.raises(TypeError, match="no 'name'"):
        _registry().add_policy(NoName)


def test_builtins_registered(registry: Registry) -> None:
    assert "tsp" in registry.names("problem")
    assert {"exact", "ortools", "lkh", "hgs"} <= set(registry.names("solver", "tsp"))
    assert registry.entry("problem", "tsp").package.startswith("symco ")


class Schedule:
    name = "anneal"


def test_open_kinds() -> None:
    reg = _registry()
    with reg.scope("myplugin", "mypkg 1.0"):
        reg.add_kind("schedule", "temperature schedules", per_problem=True, base=Schedule)
    reg.add("schedule", Schedule, problem="tsp")
    assert reg.get("schedule", "anneal", "tsp") is Schedule
    assert reg.kind("schedule").plugin == "myplugin"
    assert [k.name for k in reg.kinds()][-1] == "schedule"
    with pytest.raises(TypeError, match="needs problem="):
        reg.add("schedule", Schedule)
    with pytest.raises(TypeError, match="subclass of Schedule"):
        reg.add("schedule", Foo, problem="tsp")
    with pytest.raises(DuplicateNameError, match="kind 'schedule' is declared twice"):
        reg.add_kind("schedule")
    with pytest.raises(UnknownNameError, match="unknown kind 'augmentation'; declared kinds: "):
        reg.add("augmentation", Foo)


def test_core_kinds_include_the_symmetry_layer(registry: Registry) -> None:
    kinds = {k.name for k in registry.kinds()}
    assert {
        "problem",
        "solver",
        "reducer",
        "policy",
        "encoding",
        "group",
        "frame",
        "model",
    } <= kinds
    assert {"square-dihedral", "node-permutation", "torus-flow"} <= set(registry.names("group"))
    assert {"pca", "translation-scale", "neighbourhood"} <= set(registry.names("frame"))
    assert registry.entry("group", "euclidean").plugin == "core"
    assert "BQModule" in registry.names("model")


def test_every_entry_resolves_to_a_class_of_its_name(registry: Registry) -> None:
    """Lazy (by-path) entries import to the class they name; the core lists all built-in groups."""
    from symco.core.symmetry import BUILTIN_FRAMES, BUILTIN_GROUPS

    for e in registry.entries():
        own = getattr(e.obj, "name", None)
        assert isinstance(e.obj, type) and (not isinstance(own, str) or own == e.name), e
    assert {g.name for g in BUILTIN_GROUPS} <= set(registry.names("group"))
    assert {f.name for f in BUILTIN_FRAMES} <= set(registry.names("frame"))


def test_group_by_name_or_short_name(registry: Registry) -> None:
    from symco.core.symmetry import NodePermutation, SquareDihedral

    assert registry.group("square-dihedral") is SquareDihedral
    assert registry.group("d4") is SquareDihedral
    assert registry.group("node-permutation") is NodePermutation
    with pytest.raises(UnknownNameError, match="unknown group 'd5'") as err:
        registry.group("d5")
    message = str(err.value)
    assert "\n" not in message and "square-dihedral (d4)" in message
    assert "node-permutation," in message  # no label when the short name is the name


def test_group_registered_name_wins_and_ambiguous_short_names_fail() -> None:
    from symco.core.symmetry import SquareDihedral

    class Cube(SquareDihedral):
        name = "d4"  # a registered name equal to another group's short name

    class Other(SquareDihedral):
        name = "other-dihedral"
        short_name = "od"

    class Clash(SquareDihedral):
        name = "clash-dihedral"
        short_name = "od"

    reg = _registry()
    reg.add_group(SquareDihedral)
    reg.add_group(Cube)
    assert reg.group("d4") is Cube
    reg.add_group(Other)
    assert reg.group("od") is Other
    with reg.scope("clashing", "clash 1.0"):
        reg.add_group(Clash)
    with pytest.raises(DuplicateNameError, match=r"'od' is claimed by .*'clash-dihedral'"):
        reg.group("od")
    empty = _registry()
    with pytest.raises(UnknownNameError, match="registered: none"):
        empty.group("d4")


def test_lazy_entry_with_a_wrong_name_is_caught() -> None:
    reg = _registry()
    reg.add_lazy("group", "symco.core.symmetry.dihedral:SquareDihedral", name="d8")
    assert reg.entry("group", "d8").lazy
    with pytest.raises(TypeError, match="whose name is 'square-dihedral'"):
        reg.get("group", "d8")


def test_listing_imports_no_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, io, contextlib\n"
        "from symco.core.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['plugins']) == 0\n"
        "print(sorted(m for m in ('torch', 'lightning', 'torch_geometric') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
