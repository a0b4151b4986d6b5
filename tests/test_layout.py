"""The layout docs/architecture.md describes, checked on the source: packages by concern whose
imports point one way, no import circles, a pure core, and modules small enough to read whole.

Imports are read with `ast` from every module of `bot` and `workers`, including the ones inside
functions (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400

# Each package may import packages of its own rank or below; never above. Same-rank packages
# may use each other, but the package graph as a whole must have no circle.
RANKS = {
    "bot.infra": 0,
    "bot.core": 1,
    "bot.records": 2,
    "bot.releases": 2,
    "bot.outreach": 2,
    "bot.web": 3,
    "bot.channels": 4,
    "bot.dashboard": 4,
    "bot.app": 5,
    "bot.cli": 5,
    "bot": 5,
    "workers": 5,  # job shells; bot.cli imports them to start a worker
}
# Third-party packages the pure conversation core never touches.
NOT_IN_CORE = ("flask", "werkzeug", "rq", "redis", "sqlalchemy", "sqlmodel", "twilio")


def modules() -> dict[str, Path]:
    """Every module of bot and workers, by dotted name."""
    found = {}
    for top in ("bot", "workers"):
        for path in (ROOT / top).rglob("*.py"):
            if "migrations" in path.parts:
                continue  # Alembic's revisions are data, loaded by path
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """The modules (of ours, or third-party top-level names) a module imports."""
    out = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                out.add(candidate if candidate in known else base)
    return out


def graph() -> dict[str, set[str]]:
    """Our modules and the modules of ours each one imports."""
    found = modules()
    known = set(found)
    edges = {}
    for name, path in found.items():
        edges[name] = {m for m in imports_of(path, name, known) if m in known and m != name}
    return edges


def package_of(module: str) -> str:
    """The layout package a module belongs to (bot.infra, bot.app, workers ...)."""
    parts = module.split(".")
    if parts[0] == "workers":
        return "workers"
    if len(parts) == 1:
        return "bot"
    candidate = ".".join(parts[:2])
    return candidate if candidate in RANKS else "bot"


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_every_module_belongs_to_a_package_of_the_layout():
    strays = [m for m in modules() if package_of(m) == "bot" and m not in {"bot"}]
    assert strays == [], "modules outside the packages of docs/architecture.md"


def test_no_module_imports_another_that_imports_it_back():
    assert cycles(graph()) == []


def test_packages_import_only_their_rank_or_below_and_form_no_circle():
    edges = graph()
    upward = sorted(
        f"{source} -> {target}"
        for source, targets in edges.items()
        for target in targets
        if RANKS[package_of(target)] > RANKS[package_of(source)]
    )
    assert upward == []
    packages: dict[str, set[str]] = defaultdict(set)
    for source, targets in edges.items():
        for target in targets:
            if package_of(source) != package_of(target):
                packages[package_of(source)].add(package_of(target))
    assert cycles(packages) == []


def test_bot_never_imports_the_job_shells_except_to_start_a_worker():
    edges = graph()
    reaching = sorted(
        f"{source} -> {target}"
        for source, targets in edges.items()
        if source.startswith("bot") and package_of(source) != "bot.cli"
        for target in targets
        if target.startswith("workers")
    )
    assert reaching == []


@pytest.mark.parametrize("module", sorted(m for m in modules() if m.startswith("bot.core")))
def test_the_core_imports_no_web_queue_or_database_library(module):
    path = modules()[module]
    third_party = {name.split(".")[0] for name in imports_of(path, module, set(modules()))}
    assert third_party.isdisjoint(NOT_IN_CORE), module


def test_no_module_is_longer_than_can_be_read_whole():
    long = {
        name: count
        for name, path in modules().items()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_no_module_is_shadowed_by_a_package_of_its_name():
    shadowed = [
        str(path.relative_to(ROOT))
        for top in ("bot", "workers")
        for path in (ROOT / top).rglob("*.py")
        if path.with_suffix("").is_dir()
    ]
    assert shadowed == [], "Python imports the package; the module beside it is dead code"
