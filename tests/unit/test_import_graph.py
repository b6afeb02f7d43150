"""The code's layers, checked from its imports (every import statement, also those inside functions).

    seckill_site/ (the base)  <-  products/ (the catalogue)  <-  seckill/ (the sale)

Each layer imports only downward, no module imports itself back through others, the catalogue's writes are
reached only through the sale's `seckill.catalogue` (which keeps the Redis gate in step), and nothing imports
the Celery tasks (they are published by name).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("seckill_site", "products", "seckill")
LAYER = {"seckill_site": 0, "products": 1, "seckill": 2}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from pkg import mod` imports the module pkg.mod when there is one
                targets = [
                    f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules else node.module
                    for alias in node.names
                ]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_graph_is_read_from_the_code():
    graph = import_graph()
    assert "seckill.submit" in graph["seckill.apis"]  # a module-level import
    assert "seckill.blacklist" in graph["seckill.signals"]  # an import inside a function
    assert "seckill.redis_store.sale" in graph["seckill.process"]  # `from package import module as alias`


def test_no_module_imports_itself_back():
    assert _cycle(import_graph()) is None


def test_a_cycle_would_be_found():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_each_layer_imports_only_downward():
    upward = [
        (src, dst)
        for src, targets in import_graph().items()
        for dst in targets
        if LAYER[dst.split(".")[0]] > LAYER[src.split(".")[0]]
    ]
    assert upward == []


def test_only_the_sales_catalogue_writes_products():
    writers = {src for src, targets in import_graph().items() if "products.services" in targets}
    assert writers <= {"seckill.catalogue"}


def test_nothing_imports_the_tasks():
    assert [src for src, targets in import_graph().items() if "seckill.tasks" in targets] == []
