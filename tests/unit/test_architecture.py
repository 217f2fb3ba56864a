"""The package's shape holds: every module imports on its own, no import cycle, a pure core.

Read from the source with `ast` (every import, at module level or inside a function), so a cycle
hidden behind a lazy import counts too.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.support import REPO

PACKAGE = REPO / "engine"
# What the pure core may import besides the standard library and itself.
CORE_MAY_IMPORT = {"engine.errors", "yaml", "jinja2", "transitions", "holidays", "babel"}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts or "shipped" in path.parts:
            continue
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports_of(name: str, path: Path) -> set[str]:
    """Every module `name` imports (absolute names), wherever the import statement stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from engine.cli import cases`
    return found


def engine_graph() -> dict[str, set[str]]:
    names = modules()
    return {name: {other for other in imports_of(name, path) if other in names and other != name}
            for name, path in names.items()}


def test_every_module_imports_cleanly_in_a_fresh_interpreter() -> None:
    def attempt(name: str) -> tuple[str, int, str]:
        done = subprocess.run([sys.executable, "-c", f"import {name}"], capture_output=True, text=True,
                              cwd=REPO, timeout=120)
        return name, done.returncode, done.stderr.strip().splitlines()[-1:] and done.stderr.strip().splitlines()[-1]

    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [(name, err) for name, code, err in pool.map(attempt, modules()) if code != 0]
    assert len(modules()) > 40
    assert failures == []


def test_no_import_cycle() -> None:
    graph = engine_graph()
    cycles = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for other in sorted(graph[name]):
            if state.get(other) == 1:
                cycles.append(path[path.index(other):] + [other] if other in path else [name, other])
            elif other not in state:
                visit(other, [*path, other])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_the_core_imports_nothing_from_the_shell() -> None:
    stdlib = set(sys.stdlib_module_names)
    offenders = {}
    for name, path in modules().items():
        if not name.startswith("engine.core"):
            continue
        outside = {
            imported for imported in imports_of(name, path)
            if imported.split(".")[0] not in stdlib
            and not imported.startswith("engine.core")
            and not any(imported == allowed or imported.startswith(allowed + ".") for allowed in CORE_MAY_IMPORT)
            and imported != "__future__"
        }
        if outside:
            offenders[name] = sorted(outside)
    assert offenders == {}


def test_the_shell_layers_point_one_way() -> None:
    """store never reaches up to cases or the front ends; the command line and the web app never reach the store."""
    graph = engine_graph()
    forbidden = {
        "engine.store": ("engine.cases", "engine.cli", "engine.reports", "engine.imports", "engine.app"),
        "engine.letters": ("engine.store", "engine.cases", "engine.cli"),
        "engine.channels": ("engine.store", "engine.cases", "engine.cli", "engine.letters"),
        "engine.cli": ("engine.store",),
        "engine.web": ("engine.store", "engine.cli"),
        "engine.errors": ("engine.",),
    }
    crossings = [
        f"{name} -> {other}"
        for name, others in graph.items()
        for prefix, banned in forbidden.items()
        if name == prefix or name.startswith(prefix + ".")
        for other in others
        if any(other.startswith(b) for b in banned)
    ]
    assert crossings == []


def test_the_checker_finds_a_cycle_and_a_core_import_it_is_shown(tmp_path: Path) -> None:
    """The graph reader is not blind: the cli group really imports its command modules, the store really
    imports its models, and a relative import resolves."""
    graph = engine_graph()
    assert "engine.cli.cases" in graph["engine.cli.main"]
    assert "engine.store.models" in graph["engine.store.ledger"]
    sample = tmp_path / "engine" / "pkg" / "mod.py"
    sample.parent.mkdir(parents=True)
    sample.write_text("from . import sibling\nfrom ..core import money\n")
    assert {"engine.pkg.sibling", "engine.core.money"} <= imports_of("engine.pkg.mod", sample)
