"""evmon's imports read from the source with ``ast`` (nothing is imported), for the import
contracts (``tests/test_import_contracts.py``) and the import-hygiene test.

Every module under ``evmon/`` is found by walking the package, so a new module is covered
without being listed. Each import records where it stands: inside ``if TYPE_CHECKING:``
(annotations only, never run), inside a function (run on first call), or at module level
(run on import).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "evmon"


@dataclass(frozen=True, slots=True)
class Import:
    """One imported module (``from a.b import c`` gives ``a.b.c`` when that is a module of
    evmon's, else ``a.b``) as written at ``line`` of ``module``."""

    module: str
    target: str
    line: int
    type_checking: bool
    deferred: bool  # inside a function: loaded on the first call, not on import
    name: str | None = None  # ``from target import name``, when it is not an evmon module

    @property
    def where(self) -> str:
        return f"{module_path(self.module)}:{self.line}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def module_path(module: str) -> str:
    return str(modules()[module].relative_to(ROOT))


@cache
def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "__pycache__" not in path.parts:
            found[module_name(path)] = path
    return found


@cache
def tree(module: str) -> ast.Module:
    return ast.parse(modules()[module].read_text(encoding="utf-8"), module_path(module))


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


@cache
def imports(module: str) -> tuple[Import, ...]:
    """What ``module`` imports, in source order."""
    path = modules()[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    known = modules()
    found: list[Import] = []

    def add(
        target: str, line: int, type_checking: bool, deferred: bool, name: str | None = None
    ) -> None:
        found.append(Import(module, target, line, type_checking, deferred, name))

    def visit(node: ast.AST, type_checking: bool, deferred: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    add(alias.name, child.lineno, type_checking, deferred)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    source = ".".join([*base, *([child.module] if child.module else [])])
                else:
                    source = child.module or ""
                for alias in child.names:
                    sub = f"{source}.{alias.name}"
                    if sub in known:
                        add(sub, child.lineno, type_checking, deferred)
                    else:
                        add(source, child.lineno, type_checking, deferred, alias.name)
            elif isinstance(child, ast.If) and _is_type_checking(child):
                for stmt in child.body:
                    visit(ast.Module(body=[stmt], type_ignores=[]), True, deferred)
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]), type_checking, deferred)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, type_checking, True)
            else:
                visit(child, type_checking, deferred)

    visit(tree(module), False, False)
    return tuple(found)


def evmon_target(target: str) -> str | None:
    """The evmon module an import names (``evmon.codec.record.encode`` is never produced:
    names are resolved to their module by ``imports``), or None for a third-party one."""
    if target == "evmon" or target.startswith("evmon."):
        return target if target in modules() else None
    return None


def with_parents(module: str) -> list[str]:
    """``a.b.c`` runs ``a``, ``a.b`` and ``a.b.c`` on import: the packages first."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


@cache
def loaded_on_import(module: str) -> frozenset[str]:
    """Every module that importing ``module`` runs (module-level imports, transitively,
    packages included; TYPE_CHECKING and function-level imports left out)."""
    seen: set[str] = set()
    stack = with_parents(module)
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if current not in modules():
            continue
        for imp in imports(current):
            if not (imp.type_checking or imp.deferred):
                stack.extend(with_parents(imp.target))
    return frozenset(seen)
