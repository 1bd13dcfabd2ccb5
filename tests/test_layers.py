"""The import graph has floors: programs → services → kernel, and no module cycle.

Every import is read from the source, including those inside functions and under
``TYPE_CHECKING``, and the module names handed to ``importlib.import_module`` (a literal, or
the project module names spelled out as strings in a module that calls it with a variable, as
the CLI does with its command registry). The floors and the rule are in the README
("Layers").
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KERNEL = ("forestall",)
SERVICES = ("edge_agent", "ingest", "predictor", "api", "grafana", "simulators")
PROGRAMS = ("programs", "bench")
FLOOR = {name: 0 for name in KERNEL} | {name: 1 for name in SERVICES} | {name: 2 for name in PROGRAMS}
FLOOR_NAMES = ("kernel", "service", "program")


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules(root: Path = ROOT) -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for top in FLOOR:
        for path in sorted((root / top).rglob("*.py")):
            modules[module_name(path, root)] = path
    return modules


def _resolve(name: str, known: Iterable[str]) -> str | None:
    """The longest project module that ``name`` names or lies inside, or None (not ours)."""
    known_set = set(known)
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in known_set:
            return candidate
        parts.pop()
    return None


def _is_import_module_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id in ("import_module", "__import__")
    )


def imported_names(source: str, module: str, is_package: bool) -> Iterator[str]:
    """Every dotted name ``module``'s source imports (absolute; relative imports resolved)."""
    tree = ast.parse(source)
    package = module if is_package else module.rpartition(".")[0]
    dynamic = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, node.module] if node.module else base_parts)
            else:
                base = node.module or ""
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        elif _is_import_module_call(node):
            assert isinstance(node, ast.Call)
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                yield arg.value
            else:
                dynamic = True
    if dynamic:
        # A name computed at run time: every module name the source spells out may be loaded.
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "." in node.value:
                yield node.value


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    modules = project_modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in imported_names(path.read_text(), name, path.name == "__init__.py"):
            target = _resolve(imported, modules)
            if target is not None and target != name:
                targets.add(target)
        graph[name] = targets
    return graph


def floor_of(module: str) -> int:
    return FLOOR[module.split(".")[0]]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports from a lower floor to a higher one, as ``a (kernel) → b (service)``."""
    found = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            if floor_of(target) > floor_of(source):
                found.append(
                    f"{source} ({FLOOR_NAMES[floor_of(source)]}) → {target} ({FLOOR_NAMES[floor_of(target)]})"
                )
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
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
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_imports_run_down_the_floors(graph: dict[str, set[str]]) -> None:
    assert upward_imports(graph) == []


def test_no_module_imports_itself_back(graph: dict[str, set[str]]) -> None:
    assert cycles(graph) == []


def test_the_cli_registry_is_read(graph: dict[str, set[str]]) -> None:
    # The CLI loads its commands by name: the checker must see those edges, or it sees nothing there.
    assert "edge_agent.cli" in graph["programs.cli"]
    assert "programs.commands.worker" in graph["programs.cli"]


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_checker_finds_what_it_should(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "forestall/__init__.py": "",
            "forestall/low.py": "def f():\n    from ingest import thing\n",
            "forestall/named.py": "import importlib\nimportlib.import_module('programs.cli')\n",
            "forestall/a.py": "from . import b\n",
            "forestall/b.py": "from forestall.a import x\n",
            "ingest/__init__.py": "",
            "ingest/thing.py": "import typing\nif typing.TYPE_CHECKING:\n    import programs.cli\n",
            "programs/__init__.py": "",
            "programs/cli.py": "import importlib\nNAMES = ('ingest.thing',)\n"
            "for n in NAMES:\n    importlib.import_module(n)\n",
        },
    )
    graph = import_graph(tmp_path)
    assert upward_imports(graph) == [
        "forestall.low (kernel) → ingest (service)",
        "forestall.low (kernel) → ingest.thing (service)",
        "forestall.named (kernel) → programs.cli (program)",
        "ingest.thing (service) → programs.cli (program)",
    ]
    assert graph["programs.cli"] == {"ingest.thing"}
    assert cycles(graph) == [["forestall.a", "forestall.b"], ["ingest.thing", "programs.cli"]]
