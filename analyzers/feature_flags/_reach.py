"""Where a parsed command-line namespace can be read: the files its flow reaches, or, when it is stored
somewhere the flow cannot follow (a tuple handed to a process, an attribute), every file connected to those
through imports. An option read in an unrelated script of the same repository is not read by this parser.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._index import Index


def _candidates(index: Index, path: str, target: str, by_name: dict[str, list[str]]) -> list[str]:
    """The files an import of ``target`` from ``path`` may load: the script's own folder first (it is first on
    sys.path), then the module index, then every file of that name (an import paydown cannot pin is assumed
    to reach them all)."""
    parts = target.split(".")
    folder = path.rsplit("/", 1)[0] + "/" if "/" in path else ""
    for end in range(len(parts), 0, -1):
        stem = folder + "/".join(parts[:end])
        local = [p for p in (stem + ".py", stem + "/__init__.py", stem + ".ipynb") if p in index.facts]
        if local:
            return local
    for end in range(len(parts), 0, -1):
        found = index.modules.get(".".join(parts[:end]))
        if found is not None:
            return [found]
    return by_name.get(parts[0], [])


def import_neighbours(index: Index) -> dict[str, set[str]]:
    """Each file's in-repository import neighbours, both directions."""
    by_name: dict[str, list[str]] = {}
    for path, f in index.facts.items():
        for part in f.parts:
            by_name.setdefault(part, []).append(path)
    neighbours: dict[str, set[str]] = {path: set() for path in index.facts}
    for path, f in index.facts.items():
        for target in set(f.imports.values()):
            for other in _candidates(index, path, target, by_name):
                if other != path:
                    neighbours[path].add(other)
                    neighbours[other].add(path)
    return neighbours


def connected(neighbours: dict[str, set[str]], start: Iterable[str]) -> set[str]:
    seen = set(start)
    stack = list(seen)
    while stack:
        for other in neighbours.get(stack.pop(), ()):
            if other not in seen:
                seen.add(other)
                stack.append(other)
    return seen
