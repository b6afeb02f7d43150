"""The code's layers, checked from its imports (every import statement, also those inside functions) and from the
strings that name a module ("package.module" or "package.module:name": a Celery strategy, a URLconf include).

    seckill_site/ (the base)  <-  products/ (the catalogue)  <-  seckill/ (the sale)

and inside the sale, rooms from the bottom up:

    models, errors  <-  gate  <-  access  <-  antibot  <-  draws  <-  purchases  <-  catalogue, orders  <-  worker
    <-  ops

A room imports only itself and the rooms below it. The entry points (the endpoints, admin pages, URLconfs, Celery
tasks, management commands: ENTRY_NAMES) stand above every room and may import any module; no room imports one. No
module imports itself back through others; the base names no app, not even by string (the settings package and
the root URLconf wire the apps); the catalogue's writes are reached only through the sale's
`seckill.catalogue.services` (which keeps the Redis gate in step); nothing imports the Celery tasks (they are
published by name).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("seckill_site", "products", "seckill")
LAYER = {"seckill_site": 0, "products": 1, "seckill": 2}
ROOMS = ("seckill.gate", "seckill.access", "seckill.antibot", "seckill.draws", "seckill.purchases")
ROOMS += ("seckill.catalogue",)
ROOMS += ("seckill.orders",)
ROOMS += ("seckill.worker", "seckill.ops")
ROOM_LAYER = {"seckill.core": 0, **{room: layer for layer, room in enumerate(ROOMS, start=1)}}
ROOM_LAYER["seckill.catalogue"] = ROOM_LAYER["seckill.orders"]  # (side by side: neither imports the other)
ENTRY_NAMES = {"api", "admin", "admin_login", "urls", "token_api", "early_answers", "probes", "tasks", "apps"}
ENTRY_NAMES |= {"views"}  # (the buyer's pages: seckill/shop/)
WIRING = {"seckill_site.settings", "seckill_site.urls"}  # the base's modules that may name the apps
MODULE_STRING = re.compile(r"^[a-z_]+(?:\.[a-z_]+)+(?::[A-Za-z_]+)?$")


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


def string_references() -> dict[str, set[str]]:
    """module -> the project modules its string constants name ("pkg.mod" or "pkg.mod:attr")."""
    modules = _modules()
    found: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_STRING.match(node.value):
                target = node.value.split(":")[0]
                while target and target not in modules:
                    target = target.rpartition(".")[0]  # "pkg.mod.attr" names pkg.mod
                if target and target != name and target.split(".")[0] in PACKAGES:
                    found[name].add(target)
    return found


def room(module: str) -> str:
    """The room a module of the sale stands in: one of ROOMS, "seckill.core" (models, errors), or "entry"."""
    parts = module.split(".")
    if parts[-1] in ENTRY_NAMES or parts[1:2] == ["management"] or module == "seckill":
        return "entry"
    if len(parts) > 2 and f"seckill.{parts[1]}" in ROOMS:
        return f"seckill.{parts[1]}"
    return "seckill.core"


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
    assert "seckill.purchases.services" in graph["seckill.purchases.api"]  # a module-level import
    assert "seckill.access.blacklist" in graph["seckill.access.signals"]  # an import inside a function
    assert "seckill.gate.stock" in graph["seckill.worker.decisions"]  # `from package import module as alias`


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


def test_the_sales_rooms_import_only_themselves_and_the_rooms_below():
    upward = []
    for src, targets in import_graph().items():
        for dst in targets:
            if not (src.startswith("seckill.") and dst.startswith("seckill.")):
                continue
            here, there = room(src), room(dst)
            if here == "entry" or here == there:
                continue
            if there == "entry" or ROOM_LAYER[there] >= ROOM_LAYER[here]:  # above, or side by side
                upward.append((src, dst))
    assert upward == []


def test_a_room_above_would_be_found():
    assert room("seckill.gate.stock") == "seckill.gate" and room("seckill.orders.api") == "entry"
    assert ROOM_LAYER[room("seckill.worker.sweep")] > ROOM_LAYER[room("seckill.purchases.enqueue")]
    assert room("seckill.models") == "seckill.core"


def test_the_base_names_no_app_not_even_by_string():
    named = [
        (src, dst)
        for src, targets in string_references().items()
        for dst in targets
        if src.startswith("seckill_site.")
        and not any(src == w or src.startswith(w + ".") for w in WIRING)
        and LAYER[dst.split(".")[0]] > LAYER["seckill_site"]
    ]
    assert named == []


def test_the_base_leaves_the_benchmark_to_its_own_settings():
    """bench/ is no app: its endpoints and task come with bench/settings.py; no base module names it."""
    named = []
    for path in (ROOT / "seckill_site").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value]
            else:
                continue
            named += [(path.name, name) for name in names if re.match(r"^bench(?:[.:]|$)", name)]
    assert named == []


def test_strings_name_only_modules_below_or_beside():
    """A module naming another by string (a strategy, a prelude, an include) follows the layers as an import."""
    upward = [
        (src, dst)
        for src, targets in string_references().items()
        for dst in targets
        if LAYER[dst.split(".")[0]] > LAYER[src.split(".")[0]]
        and not any(src == w or src.startswith(w + ".") for w in WIRING)
    ]
    assert upward == []


def test_only_the_sales_catalogue_writes_products():
    writers = {src for src, targets in import_graph().items() if "products.services" in targets}
    assert writers <= {"seckill.catalogue.services"}


def test_nothing_imports_the_tasks():
    assert [src for src, targets in import_graph().items() if "seckill.tasks" in targets] == []
