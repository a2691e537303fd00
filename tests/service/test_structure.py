"""The service's shape, measured from its imports: sub-packages along the architecture, no import cycles, and no
package reaching into another's `_private` names.

`python tests/service/test_structure.py [SERVICE_DIR]` prints the counts (for another checkout's service/ too)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SERVICE = Path(__file__).resolve().parents[2] / "service"
PACKAGE = "paydown.service"
PACKAGES = ("backlog", "github", "intake", "jobs", "review", "store", "web")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SERVICE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PACKAGE, *parts])


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(SERVICE.rglob("*.py")) if "migrations" not in p.parts}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, str]]:
    """(imported module, imported name) for every `from ... import` of the service, wherever it stands (also
    inside functions and `if TYPE_CHECKING:`: a cycle hidden from the interpreter is still one for the reader)."""
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = here[: len(here) - node.level + 1] if node.level else []
        target = ".".join(base + ([node.module] if node.module else []))
        if not target.startswith(PACKAGE):
            continue
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            yield (sub, "") if sub in modules else (target, alias.name)


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 else ""


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        graph[name] |= {target for target, _ in _imports(name, path, modules) if target in modules and target != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
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
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = {}
    for source, targets in graph.items():
        for target in targets:
            if _package(source) != _package(target):
                packages.setdefault(_package(source) or "<service>", set()).add(_package(target) or "<service>")
                packages.setdefault(_package(target) or "<service>", set())
    return packages


def private_imports(*, across_packages: bool) -> list[tuple[str, str, str]]:
    """(importer, module, name) for each `_private` name or module imported from another module (another package
    when `across_packages`)."""
    modules = _modules()
    found = []
    for name, path in modules.items():
        for target, imported in _imports(name, path, modules):
            if target == name:
                continue
            private = imported.startswith("_") or target.rpartition(".")[2].startswith("_")
            if private and (not across_packages or _package(target) != _package(name)):
                found.append((name, target, imported))
    return found


def test_the_service_is_split_into_its_packages() -> None:
    assert {p.name for p in SERVICE.iterdir() if (p / "__init__.py").exists()} == set(PACKAGES)
    for package in PACKAGES:
        init = ast.parse((SERVICE / package / "__init__.py").read_text(encoding="utf-8"))
        assert ast.get_docstring(init), f"service/{package}/__init__.py says what the package is"


def test_no_module_of_the_service_imports_itself_round_a_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_packages_depend_on_one_another_one_way() -> None:
    assert cycles(package_graph(import_graph())) == []


def test_no_package_imports_another_packages_private_names() -> None:
    assert private_imports(across_packages=True) == []


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 1:  # another checkout's service/ folder, to compare
        SERVICE = Path(sys.argv[1]).resolve()
    graph = import_graph()
    print(f"modules {len(graph)}, import edges {sum(map(len, graph.values()))}")
    print(f"module cycles {len(cycles(graph))}: {cycles(graph)}")
    print(f"package cycles {len(cycles(package_graph(graph)))}: {cycles(package_graph(graph))}")
    print(f"private names imported across packages: {len(private_imports(across_packages=True))}")
    print(f"private names imported across modules (inside a package): {len(private_imports(across_packages=False))}")
    for package, targets in sorted(package_graph(graph).items()):
        print(f"  {package} -> {', '.join(sorted(targets)) or '-'}")
