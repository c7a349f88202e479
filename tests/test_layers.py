"""The stage order is a contract: every ``llmts`` import (module level or inside a function)
goes to its own layer or a lower one, and nothing but ``python -m llmts`` imports the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.helpers import REPO

# Lowest first. tracking (W&B, progress lines, plots, atomic files) sits under every stage.
LAYERS = (
    "errors",
    "config",
    "tracking",
    "data",
    "codec",
    "model",
    "train",
    "forecast",
    "metrics",
    "report",
    "perf",
    "recipes",
    "api",
    "cli",
)
# Top-level modules that are not a layer of their own: the package's lazy re-export of the
# Python API, ``python -m llmts``, and the documented ``llmts.encoding`` path of the codec.
TOP_LEVEL = {"llmts": "api", "llmts.__main__": "cli", "llmts.encoding": "codec"}


def module_name(path: Path, root: Path) -> str:
    """``llmts/codec/codec.py`` → ``llmts.codec.codec``; a package's ``__init__`` is the package."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    """The layer a module of the package belongs to (its first subpackage, or its top module)."""
    if module in TOP_LEVEL:
        return TOP_LEVEL[module]
    layer = module.split(".")[1]
    assert layer in LAYERS, f"{module}: in no layer of {LAYERS} (add it to LAYERS or TOP_LEVEL)"
    return layer


def imported_modules(path: Path, module: str, root: Path):
    """``(line, imported llmts module)`` for every import statement anywhere in the file;
    ``from llmts.x import y`` counts as ``llmts.x.y`` where ``y`` is a submodule."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing module's package
                package = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [
                f"{base}.{alias.name}" if is_module(f"{base}.{alias.name}", root) else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target == "llmts" or target.startswith("llmts."):
                yield node.lineno, target


def is_module(name: str, root: Path) -> bool:
    rel = Path(*name.split(".")[1:]) if "." in name else Path()
    return (root / rel).with_suffix(".py").is_file() or (root / rel / "__init__.py").is_file()


def violations(root: Path) -> list[str]:
    """One line per import against the layer order: ``file:line: a (layer) imports b (layer)``."""
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    found = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        own = layer_of(module)
        for line, target in imported_modules(path, module, root):
            other = layer_of(target)
            if rank[other] > rank[own]:  # cli is the top layer: nothing below imports it
                where = path.relative_to(root.parent)
                found.append(f"{where}:{line}: {module} ({own}) imports {target} ({other})")
    return found


def test_every_import_follows_the_stage_order():
    found = violations(REPO / "llmts")
    assert not found, f"imports against the layer order {' < '.join(LAYERS)}:\n" + "\n".join(found)


def test_the_contract_sees_function_level_and_relative_imports(tmp_path):
    root = tmp_path / "llmts"
    for package in ("config", "codec", "cli", "tracking"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
    (root / "__init__.py").write_text("")
    (root / "codec" / "llmtime.py").write_text("from llmts.config import schema\n")
    (root / "config" / "schema.py").write_text(
        "def check():\n    from llmts.codec.llmtime import encode\n"
    )
    (root / "tracking" / "plots.py").write_text("from ..codec import llmtime\nimport llmts.cli\n")
    found = violations(root)
    assert found == [
        "llmts/config/schema.py:2: llmts.config.schema (config) imports llmts.codec.llmtime "
        "(codec)",
        "llmts/tracking/plots.py:1: llmts.tracking.plots (tracking) imports llmts.codec.llmtime "
        "(codec)",
        "llmts/tracking/plots.py:2: llmts.tracking.plots (tracking) imports llmts.cli (cli)",
    ], found


def import_cycles(root: Path) -> list[list[str]]:
    """Every cycle of modules importing each other (at module level or inside a function): the
    strongly connected components of the import graph with more than one module."""
    graph: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        graph[module] = {t for _, t in imported_modules(path, module, root) if t != module}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in graph:
        if node not in index:
            visit(node)
    return cycles


def test_no_module_imports_one_that_imports_it_back():
    cycles = import_cycles(REPO / "llmts")
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_the_cycle_check_sees_a_function_level_import(tmp_path):
    root = tmp_path / "llmts"
    (root / "forecast").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "forecast" / "__init__.py").write_text("")
    (root / "forecast" / "batch.py").write_text("def f():\n    from llmts.forecast.hf import g\n")
    (root / "forecast" / "hf.py").write_text("from llmts.forecast.batch import f\n")
    assert import_cycles(root) == [["llmts.forecast.batch", "llmts.forecast.hf"]]
