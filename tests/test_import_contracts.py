"""Import contracts, read from the source with ``ast`` (broker-free, about a second).

The layer order is the one README.md's Architecture section writes down; each contract names
the file and line that breaks it. The rules:

- layers import downward only (TYPE_CHECKING and function-level imports count too: a type
  an upper layer needs from a lower one belongs in the lower one);
- no import cycle, function-level imports included (TYPE_CHECKING aside);
- Textual and rich only under ``evmon/tui/``;
- nats-py's and aiokafka's private modules and attributes only in the fenced files;
- the ``evmon.tui`` package root imports nothing of the dashboard when it is imported.

An equivalent of import-linter's layers/forbidden contracts, written here because two of
the rules (private *attributes* of third-party objects, and the fenced *files*, not
packages) are beyond what import-linter sees: it records external imports only as their
top-level package.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

from tests.import_graph import (
    Import,
    evmon_target,
    imports,
    module_path,
    modules,
    tree,
    with_parents,
)

#: Top to bottom. A layer is a list of sibling groups: a group imports nothing of another
#: group of its layer; modules inside one group may import each other. A module belongs to
#: the longest prefix that names it (``evmon.lag.status`` is an engine module, the rest of
#: ``evmon.lag`` is an operation).
LAYERS: list[tuple[str, list[list[str]]]] = [
    ("entry", [["evmon.__main__", "evmon.cli"]]),
    ("commands", [["evmon.commands"]]),
    ("front ends", [["evmon.tui"], ["evmon.demo"]]),
    ("operations", [["evmon.actions"], ["evmon.lag"]]),
    ("sources", [["evmon.sources"]]),
    (
        "engine",
        [
            [
                "evmon.event_index",
                "evmon.filter",
                "evmon.lenses",
                "evmon.store",
                "evmon.heap",
                "evmon.interest",
                "evmon.lag.status",
                "evmon.selection",
                "evmon.subjects",
                "evmon.regex_budget",
            ]
        ],
    ),
    ("vocabulary", [["evmon.codec"], ["evmon.config"]]),
    ("base", [["evmon", "evmon.model", "evmon.errors", "evmon.lazy"]]),
]

#: The only evmon modules that may import nats-py's or aiokafka's private modules or touch
#: their private attributes (``tests/test_third_party_internals.py`` names each hook).
FENCED = {
    "nats": {"evmon.sources.nats.wire"},
    "aiokafka": {
        "evmon.sources.kafka.records",
        "evmon.sources.kafka.protocol",
        "evmon.sources.kafka.client",
    },
}

#: A fenced file whose touch of the library no import or attribute shows, and what it is.
UNSEEN_TOUCHES = {
    "evmon.sources.kafka.client": "reads the per-host errors aiokafka only logs (the records "
    "of its 'aiokafka' logger) to name the cause of a bare 'Unable to bootstrap'",
}

#: The library modules evmon may import anywhere: documented API. Any other module of the
#: library is private (the parser, the protocol layer, the fetcher, the cluster client).
PUBLIC_MODULES = {
    "nats": {
        "nats",
        "nats.aio.client",
        "nats.aio.msg",
        "nats.aio.subscription",
        "nats.errors",
        "nats.js",
        "nats.js.api",
        "nats.js.client",
        "nats.js.errors",
    },
    "aiokafka": {
        "aiokafka",
        "aiokafka.abc",
        "aiokafka.admin",
        "aiokafka.errors",
        "aiokafka.helpers",
        "aiokafka.structs",
        # murmur2 of the documented default partitioner (the producer's partitioner=)
        "aiokafka.partitioner",
    },
}

#: ``obj._name`` outside the fence on an evmon object whose private name happens to be a
#: name nats-py or aiokafka also use privately: (module, expression) -> why it is evmon's.
OWN_PRIVATE = {
    ("evmon.demo.system", "system._start"): "a DemoSystem, built by demo_system() there",
}

TEXTUAL = ("textual", "rich")


def _prefixes() -> dict[str, tuple[int, int, str]]:
    found = {}
    for rank, (name, groups) in enumerate(LAYERS):
        for group, members in enumerate(groups):
            for prefix in members:
                found[prefix] = (rank, group, name)
    return found


def layer_of(module: str) -> tuple[int, int, str] | None:
    """(rank, sibling group, layer name) of ``module``; None when no layer names it."""
    prefixes = _prefixes()
    best = max(
        (p for p in prefixes if module == p or module.startswith(p + ".")), key=len, default=None
    )
    return prefixes[best] if best is not None else None


def library(target: str) -> str | None:
    top = target.partition(".")[0]
    return top if top in FENCED else None


def test_the_walk_finds_the_newer_modules() -> None:
    """The contracts read every module of the package, found by walking it."""
    found = set(modules())
    for module in (
        "evmon.lenses.lens",
        "evmon.regex_budget",
        "evmon.interest.report",
        "evmon.codec.template",
        "evmon.sources.nats.wire",
        "evmon.tui.app",
    ):
        assert module in found
    assert len(found) > 100


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in modules() if layer_of(m) is None]
    assert unplaced == [], f"add these modules to a layer in LAYERS (and README): {unplaced}"


def test_layers_import_downward_only() -> None:
    wrong = []
    for module in modules():
        here = layer_of(module)
        assert here is not None
        for imp in imports(module):
            target = evmon_target(imp.target)
            there = layer_of(target) if target else None
            if there is None or target == module:
                continue
            if there[0] < here[0] or (there[0] == here[0] and there[1] != here[1]):
                kind = "up" if there[0] < here[0] else "sideways"
                wrong.append(
                    f"{imp.where}: {module} ({here[2]}) imports {target} ({there[2]}): {kind}"
                )
    assert wrong == [], "imports against the layer order:\n" + "\n".join(wrong)


def _graph() -> dict[str, set[str]]:
    """What each module runs when imported or when its functions run: the module, and the
    packages above it, of every import but the TYPE_CHECKING ones."""
    graph: dict[str, set[str]] = {}
    for module in modules():
        edges = graph.setdefault(module, set())
        for imp in imports(module):
            target = evmon_target(imp.target)
            if imp.type_checking or target is None:
                continue
            for step in with_parents(target):
                # a package's own submodules import it first, which is no cycle
                if step != module and step in modules() and not module.startswith(step + "."):
                    edges.add(step)
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle() -> None:
    cycle = _find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_textual_and_rich_only_under_tui() -> None:
    wrong = [
        f"{imp.where}: {module} imports {imp.target}"
        for module in modules()
        if not (module == "evmon.tui" or module.startswith("evmon.tui."))
        for imp in imports(module)
        if imp.target.partition(".")[0] in TEXTUAL
    ]
    assert wrong == [], "Textual/rich outside evmon/tui/:\n" + "\n".join(wrong)


def test_third_party_private_modules_only_in_fenced_files() -> None:
    wrong = []
    for module in modules():
        for imp in imports(module):
            lib = library(imp.target)
            if lib is None or module in FENCED[lib]:
                continue
            named = library_module(imp)
            if named not in PUBLIC_MODULES[lib]:
                fence = ", ".join(sorted(module_path(m) for m in FENCED[lib]))
                wrong.append(f"{imp.where}: {named} is {lib} internals (only in {fence})")
    assert wrong == [], "third-party private modules outside the fence:\n" + "\n".join(wrong)


def library_module(imp: Import) -> str:
    """The library module an import loads: ``from nats.protocol import parser`` is
    ``nats.protocol.parser``, ``from aiokafka import AIOKafkaConsumer`` is ``aiokafka``."""
    full = f"{imp.target}.{imp.name}" if imp.name else imp.target
    return full if imp.name and _is_module(full) else imp.target


@cache
def _is_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@cache
def third_party_private_names() -> frozenset[str]:
    """Every ``_name`` nats-py and aiokafka define on their classes (methods, class
    attributes, ``self._name = ...``), read from their installed source."""
    import importlib.util

    names: set[str] = set()
    for lib in FENCED:
        spec = importlib.util.find_spec(lib)
        assert spec is not None and spec.origin is not None
        for path in Path(spec.origin).parent.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef):
                    for stmt in node.body:
                        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                            names.add(stmt.name)
                        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
                            targets = (
                                stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                            )
                            names.update(t.id for t in targets if isinstance(t, ast.Name))
                elif (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and node.value.id == "self"
                ):
                    names.add(node.attr)
    return frozenset(n for n in names if n.startswith("_") and not n.startswith("__"))


def _module_aliases(module: str) -> set[str]:
    """Names ``module`` binds to a module of its own or the standard library by ``import``
    (``_server._live`` on ``from evmon.demo import server as _server`` is evmon's own)."""
    aliases = set()
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if library(alias.name) is None:
                    aliases.add(alias.asname or alias.name.partition(".")[0])
        elif isinstance(node, ast.ImportFrom) and library(node.module or "") is None:
            aliases.update(a.asname or a.name for a in node.names)
    return aliases


def _private_touches(module: str) -> list[str]:
    private = third_party_private_names()
    aliases = _module_aliases(module)
    found = []
    for node in ast.walk(tree(module)):
        if isinstance(node, ast.Attribute):
            attr, owner = node.attr, node.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            attr, owner = node.args[1].value, node.args[0]
        else:
            continue
        if attr not in private:
            continue
        if isinstance(owner, ast.Name) and (owner.id in ("self", "cls") or owner.id in aliases):
            continue
        if isinstance(owner, ast.Call) and ast.unparse(owner.func) == "super":
            continue
        text = ast.unparse(node)
        if (module, text) not in OWN_PRIVATE:
            found.append(f"{module_path(module)}:{node.lineno}: {text}")
    return found


def test_third_party_private_attributes_only_in_fenced_files() -> None:
    """``obj._name`` where ``_name`` is private to nats-py or aiokafka, on anything but
    ``self``/``cls``/``super()`` or a module: only in the fenced files. An evmon object
    whose private name collides goes to OWN_PRIVATE, with why."""
    fenced = set().union(*FENCED.values())
    wrong = [touch for m in modules() if m not in fenced for touch in _private_touches(m)]
    assert wrong == [], "private nats-py/aiokafka attributes outside the fence:\n" + "\n".join(
        wrong
    )


def test_own_private_entries_still_exist() -> None:
    """An OWN_PRIVATE entry whose code is gone is removed, so the list stays a true one."""
    for module, text in OWN_PRIVATE:
        found = {ast.unparse(n) for n in ast.walk(tree(module)) if isinstance(n, ast.Attribute)}
        assert text in found, (module, text)


def test_tui_root_imports_nothing_of_the_dashboard() -> None:
    """``import evmon.tui`` (as every headless helper under tui does first) runs only the
    lazy-export helper (and ``os``, for the frame cap): the app and its screens load when
    ``EvmonApp`` is named."""
    eager = [
        f"{imp.where}: {imp.target}"
        for imp in imports("evmon.tui")
        if not (imp.type_checking or imp.deferred)
        and evmon_target(imp.target) != "evmon.lazy"
        and imp.target not in ("__future__", "os", "typing")
    ]
    assert eager == [], "evmon/tui/__init__.py imports on import: " + ", ".join(eager)


@pytest.mark.parametrize("lib", sorted(FENCED))
def test_the_fence_is_where_the_internals_are(lib: str) -> None:
    """Each fenced file does touch its library's internals: a fence around nothing would
    be a stale one."""
    for module in FENCED[lib]:
        if module in UNSEEN_TOUCHES:
            continue
        touches = [
            imp.target
            for imp in imports(module)
            if library(imp.target) == lib and library_module(imp) not in PUBLIC_MODULES[lib]
        ]
        attrs = [
            n.attr
            for n in ast.walk(tree(module))
            if isinstance(n, ast.Attribute)
            and n.attr in third_party_private_names()
            and not (isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"))
        ]
        assert touches or attrs, f"{module_path(module)} touches no {lib} internals"
