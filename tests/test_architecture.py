"""The shape of the code: layers point one way, no import cycles, no Flask below the API, the product
never imports test tooling, and every background job has its one home in ``lsso_mobile.tasks``.

Layers, lowest first (a module may import its own layer and the layers below it):
  base      models, config, errors, i18n, validation, extensions, jobs, runtime, migrate, migrations
  notify    outbox, senders, templates, preferences, devices, personal delivery
  services  the domain
  api       flask-smorest blueprints (and the console)
  top       the app factory, bootstrap, CLI, worker, demo data, tasks

Imports under ``if TYPE_CHECKING:`` are for type checkers only and never run, so they are not edges.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import shutil
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE_ROOT = Path(__file__).resolve().parent.parent / "lsso_mobile"
LAYERS = ("base", "notify", "services", "api", "top")
BASE_MODULES = {
    "config",
    "errors",
    "i18n",
    "validation",
    "extensions",
    "jobs",
    "runtime",
    "migrate",
    "models",
    "migrations",
    "logs",
    "metrics",
}
TOP_MODULES = {"", "bootstrap", "cli", "worker", "demo", "tasks", "observability"}
WEB_PACKAGES = {
    "flask",
    "flask_smorest",
    "flask_cors",
    "flask_compress",
    "flask_wtf",
    "flask_babel",
    "webargs",
    "werkzeug",
}


def layer_of(module: str) -> str:
    parts = module.split(".")[1:]  # without "lsso_mobile"
    head = parts[0] if parts else ""
    if head in TOP_MODULES:
        return "top"
    if head in ("api", "console"):
        return "api"
    if head in ("services", "notify"):
        return head
    if head in BASE_MODULES:
        return "base"
    raise AssertionError(f"{module} belongs to no layer: add it to tests/test_architecture.py")


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _runtime_imports(tree: ast.AST) -> list[tuple[int, str, list[str], int]]:
    """(line, module, names, level) of every import that runs, skipping ``if TYPE_CHECKING:`` blocks."""
    found: list[tuple[int, str, list[str], int]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name, [], 0) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, node.module or "", [a.name for a in node.names], node.level))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(root: Path) -> tuple[dict[str, set[str]], dict[str, list[tuple[int, str]]]]:
    """Our modules -> the modules of ours they import; and every outside package each one imports."""
    files = {_module_name(root, p): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    external: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for module, path in files.items():
        graph[module]
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for line, target, names, level in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if level:
                base = package.split(".")
                base = base[: len(base) - (level - 1)] if level > 1 else base
                target = ".".join([*base, target] if target else base)
            if target.split(".")[0] != root.name:
                external[module].append((line, target.split(".")[0]))
                continue
            submodules = [f"{target}.{name}" for name in names if f"{target}.{name}" in files]
            for dependency in submodules or [target]:
                if dependency != module:
                    graph[module].add(dependency)
    return graph, external


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph.get(node, ()):
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
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

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def violations(root: Path) -> list[str]:
    graph, external = import_graph(root)
    problems = [f"import cycle: {' <-> '.join(component)}" for component in cycles(graph)]
    for module, dependencies in sorted(graph.items()):
        own = LAYERS.index(layer_of(module))
        for dependency in sorted(dependencies):
            target_layer = layer_of(dependency)  # the package itself (the app factory) is "top"
            if LAYERS.index(target_layer) > own:
                problems.append(f"{module} ({layer_of(module)}) imports {dependency} ({target_layer})")
    for module, imports in sorted(external.items()):
        below_api = LAYERS.index(layer_of(module)) < LAYERS.index("api")
        for line, package in imports:
            if below_api and package in WEB_PACKAGES:
                problems.append(f"{module}:{line} imports {package} below the API layer")
            if package == "tests":
                problems.append(f"{module}:{line} imports test tooling ({package})")
    return problems


def test_layers_point_one_way_and_there_are_no_cycles() -> None:
    assert violations(PACKAGE_ROOT) == []


def _copy_of_package(tmp_path: Path) -> Path:
    copy = tmp_path / "lsso_mobile"
    shutil.copytree(PACKAGE_ROOT, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_the_check_catches_an_injected_cycle(tmp_path: Path) -> None:
    copy = _copy_of_package(tmp_path)
    _append(copy / "notify" / "templates.py", "from lsso_mobile.notify import outbox  # noqa")
    problems = violations(copy)
    assert any(p.startswith("import cycle:") and "lsso_mobile.notify.templates" in p for p in problems), problems


def test_the_check_catches_an_upward_import_and_flask_below_the_api(tmp_path: Path) -> None:
    copy = _copy_of_package(tmp_path)
    _append(copy / "services" / "phones.py", "from lsso_mobile.api import errors  # noqa")
    _append(copy / "notify" / "devices.py", "from flask import request  # noqa")
    _append(copy / "models" / "base.py", "from lsso_mobile.tasks import push  # noqa")
    _append(copy / "jobs.py", "import tests.support  # noqa")
    problems = violations(copy)
    assert "lsso_mobile.services.phones (services) imports lsso_mobile.api.errors (api)" in problems
    assert any(p.startswith("lsso_mobile.notify.devices:") and "flask below the API" in p for p in problems)
    assert "lsso_mobile.models.base (base) imports lsso_mobile.tasks.push (top)" in problems
    assert any(p.startswith("lsso_mobile.jobs:") and "test tooling" in p for p in problems)


def test_type_checking_imports_are_not_edges(tmp_path: Path) -> None:
    copy = _copy_of_package(tmp_path)
    guarded = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import lsso_mobile.api"
    _append(copy / "models" / "base.py", guarded)
    assert violations(copy) == []


def test_every_job_has_its_home_in_tasks() -> None:
    """Each task in the catalogue names a function in lsso_mobile.tasks, and every public function there
    is in the catalogue, a batch task or a periodic task: nothing runs in the background unlisted."""
    from lsso_mobile import jobs
    from lsso_mobile.tasks.periodic import PERIODIC_TASKS

    listed = {task.path for task in jobs.TASKS} | set(jobs.BATCH_TASKS.values())
    for path in listed:
        assert path.startswith("lsso_mobile.tasks."), path
        assert inspect.isfunction(jobs.resolve(path)), path
    periodic = {task.run for task in PERIODIC_TASKS}
    for module_path in sorted((PACKAGE_ROOT / "tasks").glob("*.py")):
        if module_path.stem in ("__init__", "periodic"):
            continue
        module = importlib.import_module(f"lsso_mobile.tasks.{module_path.stem}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ == module.__name__ and not name.startswith("_"):
                path = f"{module.__name__}:{name}"
                assert path in listed or function in periodic, f"{path} is not in lsso_mobile.jobs.TASKS"


@pytest.mark.parametrize("task", __import__("lsso_mobile.jobs", fromlist=["TASKS"]).TASKS, ids=lambda t: t.path)
def test_rq_can_import_each_task(task) -> None:
    """RQ resolves the dotted path itself in the worker; it must name the same function."""
    from rq.utils import import_attribute

    assert import_attribute(task.rq_path) is jobs_resolve(task.path)


def jobs_resolve(path: str):
    from lsso_mobile.jobs import resolve

    return resolve(path)
