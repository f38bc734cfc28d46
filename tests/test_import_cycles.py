"""No import cycle in the installed ``diffsim`` package (issue 14).

The test reads every module's source with :mod:`ast` (it imports none of them) and builds
the graph of the import statements between the package's modules. What counts as an edge:

- every ``import`` and ``from ... import`` statement, wherever it stands: at module level,
  in functions and methods, in ``try``/``except`` blocks, under any ``if``;
- except the body of ``if TYPE_CHECKING:`` (or ``if typing.TYPE_CHECKING:``): it never runs,
  it only tells type checkers what a lazy name is (its ``else`` branch does count);
- relative imports resolved against the importing module's package (a package's
  ``__init__`` is its own package);
- ``from X import name`` is an edge to the module ``X.name`` when that is a module of the
  package (a submodule import), otherwise to ``X`` itself; ``import X.Y`` is an edge to
  ``X.Y`` (the longest prefix that is a module of the package);
- a package ``__init__`` importing its own submodules is an edge like any other
  (``from . import envs`` in ``diffsim/__init__.py``).

Not counted: the parents that Python imports implicitly before a submodule (importing
``diffsim.envs.rollout`` first imports ``diffsim`` and ``diffsim.envs``; counting those would
make every package whose ``__init__`` imports one of its submodules a cycle with it), a
module importing itself, and loading by name at run time (``importlib.import_module``,
``diffsim._lazy.make_lazy``'s tables, registries' ``"module:attr"`` strings): those hold
names, not imports, and load on first use (STYLE.md 13).
"""

from __future__ import annotations

import ast
import importlib.util
import textwrap
from pathlib import Path

import pytest

PACKAGES = ("diffsim", "diffsim.envs", "diffsim.controllers", "diffsim.scripts")
"""The installed package and its subpackages mapped from the repository's root folders."""

Graph = dict[str, dict[str, str]]
"""Module → {imported module: where the first such import stands (``file:line``)}."""


def module_files(package: str, folder: Path) -> dict[str, Path]:
    """Every module of ``package`` (sources in ``folder``), subpackages included.

    Args:
        package: The package's dotted name.
        folder: The folder holding its ``__init__.py``.

    Returns:
        Dotted module name → source file; a package maps to its ``__init__.py``. Folders
        without an ``__init__.py`` (data, ``__pycache__``) are skipped.
    """
    found = {package: folder / "__init__.py"}
    for path in sorted(folder.iterdir()):
        if path.is_dir() and (path / "__init__.py").is_file():
            found.update(module_files(f"{package}.{path.name}", path))
        elif path.suffix == ".py" and path.name != "__init__.py":
            found[f"{package}.{path.stem}"] = path
    return found


def installed_modules(packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """The modules of the installed ``packages``, found through their import specs."""
    found: dict[str, Path] = {}
    for package in packages:
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.submodule_search_locations, f"{package} not found"
        for location in spec.submodule_search_locations:
            found.update(module_files(package, Path(location)))
    return found


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


class _Imports(ast.NodeVisitor):
    """Collects one module's import statements: ``(source, names, line)`` for each.

    ``import X.Y`` gives ``("X.Y", (), line)``; ``from X import a, b`` gives
    ``("X", ("a", "b"), line)``, with a relative ``X`` already resolved to its dotted name.
    """

    def __init__(self, module: str, is_package: bool) -> None:
        self.package = module if is_package else module.rpartition(".")[0]
        self.statements: list[tuple[str, tuple[str, ...], int]] = []

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            for child in node.orelse:  # the body never runs: only the else branch counts
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self.statements += [(alias.name, (), node.lineno) for alias in node.names]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        source = node.module or ""
        if node.level:
            parts = self.package.split(".")
            if node.level > len(parts):
                raise ValueError(
                    f"line {node.lineno}: a relative import of level {node.level} goes above "
                    f"the top package from {self.package!r}"
                )
            base = ".".join(parts[: len(parts) - node.level + 1])
            source = f"{base}.{source}" if source else base
        self.statements.append((source, tuple(alias.name for alias in node.names), node.lineno))


def _known_prefix(name: str, modules: dict[str, Path]) -> str:
    """The longest dotted prefix of ``name`` that is one of ``modules`` (``""`` if none)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name


def import_graph(modules: dict[str, Path]) -> Graph:
    """The import edges between ``modules`` (name → source file), counted as the module
    docstring says; imports of anything outside ``modules`` are dropped.
    """
    graph: Graph = {}
    for module, path in modules.items():
        collector = _Imports(module, is_package=path.name == "__init__.py")
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        edges: dict[str, str] = {}
        for source, names, line in collector.statements:
            submodules = [f"{source}.{name}" for name in names if f"{source}.{name}" in modules]
            targets = submodules
            if len(submodules) < len(names) or not names:  # some name is not a submodule
                targets = [*submodules, _known_prefix(source, modules)]
            for target in targets:
                if target and target != module:
                    edges.setdefault(target, f"{path}:{line}")
        graph[module] = edges
    return graph


def strong_components(graph: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module, each sorted, in order.

    Tarjan's algorithm, iterative (no recursion limit on a deep graph).
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def cycles(graph: Graph) -> list[list[str]]:
    """One cycle ``[a, b, ..., a]`` in each strongly connected component that has one.

    The cycle is the shortest path (breadth-first) from the component's first module, in
    sorted order, back to itself, so that the message is the same from run to run.
    """
    found = []
    for component in strong_components(graph):
        members = set(component)
        start = component[0]
        came_from: dict[str, str] = {}  # module -> the one it was first reached from
        frontier = [start]
        while start not in came_from:
            reached = []
            for node in frontier:
                for child in sorted(graph[node]):
                    if child in members and child not in came_from:
                        came_from[child] = node
                        reached.append(child)
            frontier = reached
        path = [start]
        while len(path) == 1 or path[-1] != start:
            path.append(came_from[path[-1]])
        found.append(path[::-1])
    return found


def describe(cycle: list[str], component: list[str], graph: Graph) -> str:
    """``a -> b -> a``, where each of its imports stands, and the component's modules."""
    lines = [" -> ".join(cycle)]
    lines += [f"    {a} -> {b}: {graph[a][b]}" for a, b in zip(cycle, cycle[1:])]
    if len(component) > len(cycle) - 1:
        lines.append(
            f"    (one of the cycles among {len(component)} modules: {', '.join(component)})"
        )
    return "\n".join(lines)


def assert_no_cycle(graph: Graph) -> None:
    """Fail with every cycle spelled out (one per strongly connected component)."""
    found = cycles(graph)
    assert not found, f"{len(found)} import cycle(s):\n" + "\n".join(
        describe(cycle, component, graph)
        for cycle, component in zip(found, strong_components(graph))
    )


def _write_package(root: Path, files: dict[str, str]) -> dict[str, Path]:
    """Write a fake package under ``root`` (relative path → source) and list its modules."""
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source), encoding="utf-8")
    return module_files("pkg", root / "pkg")


# pkg.a -> pkg.b (relative, from a package __init__'s name) -> pkg.sub.c (inside a function,
# "from X import name" naming a submodule) -> pkg.a (absolute "from pkg import a", and a
# two-level relative import of a name). The TYPE_CHECKING import and the importlib call would
# close other cycles but are not counted; the else branch of a TYPE_CHECKING test is; the
# stdlib imports are not edges.
FAKE = {
    "pkg/__init__.py": "",
    "pkg/a.py": """
        import os
        from . import b
        """,
    "pkg/b.py": """
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from pkg import d

        def f():
            from pkg.sub import c
            return c
        """,
    "pkg/sub/__init__.py": """
        import typing

        if typing.TYPE_CHECKING:
            pass
        else:
            from . import c
        """,
    "pkg/sub/c.py": """
        from ..a import os
        """,
    "pkg/d.py": """
        import importlib

        from .b import f

        def g():
            return importlib.import_module("pkg.d")
        """,
}


def test_walker_reads_every_kind_of_import(tmp_path):
    modules = _write_package(tmp_path, FAKE)
    assert sorted(modules) == ["pkg", "pkg.a", "pkg.b", "pkg.d", "pkg.sub", "pkg.sub.c"]
    graph = import_graph(modules)
    assert {module: sorted(edges) for module, edges in graph.items()} == {
        "pkg": [],
        "pkg.a": ["pkg.b"],
        "pkg.b": ["pkg.sub.c"],
        "pkg.d": ["pkg.b"],
        "pkg.sub": ["pkg.sub.c"],
        "pkg.sub.c": ["pkg.a"],
    }
    assert graph["pkg.b"]["pkg.sub.c"].endswith("b.py:8")


def test_walker_reports_a_known_cycle(tmp_path):
    graph = import_graph(_write_package(tmp_path, FAKE))
    assert cycles(graph) == [["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]]
    with pytest.raises(AssertionError, match=r"pkg\.a -> pkg\.b -> pkg\.sub\.c -> pkg\.a"):
        assert_no_cycle(graph)


def test_walker_passes_a_package_without_cycle(tmp_path):
    files = dict(FAKE, **{"pkg/sub/c.py": "import os\n"})
    graph = import_graph(_write_package(tmp_path, files))
    assert cycles(graph) == []
    assert_no_cycle(graph)


def test_walker_counts_a_package_init_importing_its_submodule(tmp_path):
    files = {
        "pkg/__init__.py": "from . import a\n",
        "pkg/a.py": "from pkg import helper_name\n",  # not a submodule: an edge to pkg itself
    }
    assert cycles(import_graph(_write_package(tmp_path, files))) == [["pkg", "pkg.a", "pkg"]]


def test_walker_finds_one_cycle_per_component(tmp_path):
    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": "from . import b\n",
        "pkg/b.py": "from . import a, c\n",
        "pkg/c.py": "import pkg.d\n",
        "pkg/d.py": "import pkg.c as c\n",
    }
    assert cycles(import_graph(_write_package(tmp_path, files))) == [
        ["pkg.a", "pkg.b", "pkg.a"],
        ["pkg.c", "pkg.d", "pkg.c"],
    ]


def test_installed_package_has_no_import_cycle():
    modules = installed_modules()
    # The walk found the package's modules (not an empty graph that passes by default).
    for module in (
        "diffsim.cartpole",
        "diffsim.integrators",
        "diffsim._validation",
        "diffsim.envs.rollout",
        "diffsim.controllers.bptt",
        "diffsim.scripts.main",
    ):
        assert module in modules, f"{module} not found among {sorted(modules)}"
    assert any(module.startswith("diffsim.trebuchet") for module in modules)
    graph = import_graph(modules)
    assert "diffsim.integrators" in graph["diffsim._validation"]
    assert_no_cycle(graph)
