"""The repository-wide index: canonical module names, and references resolved through imports and re-exports."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from ._model import Binding, FileFacts


def _canonical(parts: tuple[str, ...], packages: set[str]) -> tuple[str, ...]:
    """Drop leading folders that are not packages: ``src/pkg/mod.py`` is imported as ``pkg.mod``."""
    start = len(parts) - 1  # a module's folder, or a package's parent folder
    while start > 0 and ".".join(parts[:start]) in packages:
        start -= 1
    return parts[start:]


class Index:
    def __init__(self, facts: Mapping[str, FileFacts]) -> None:
        self.facts = facts
        packages = {f.raw_module for f in facts.values() if f.is_package}
        self.modules: dict[str, str] = {}
        self.canonical: dict[str, str] = {}
        named: Counter[str] = Counter()
        for path, f in facts.items():
            name = ".".join(_canonical(f.parts, packages))
            self.canonical[path] = name
            named[name] += 1
        for path, f in facts.items():
            self.modules[f.raw_module] = path
        for path, name in self.canonical.items():
            if named[name] == 1:
                self.modules.setdefault(name, path)
        self.bindings: dict[tuple[str, str], Binding] = {
            (path, b.name): b for path, f in facts.items() for b in f.bindings
        }
        self.functions: dict[tuple[str, str], tuple[str, ...]] = {}
        for path, f in facts.items():
            raw = f.raw_module
            for ref, params in f.functions.items():
                self.functions[(path, ref[len(raw) + 1:] if raw else ref)] = params

    def split(self, ref: str) -> tuple[str, str] | None:
        """(path, rest) for the longest module prefix of a dotted reference."""
        parts = ref.split(".")
        for end in range(len(parts) - 1, 0, -1):
            path = self.modules.get(".".join(parts[:end]))
            if path is not None:
                return path, ".".join(parts[end:])
        return None

    def locate(self, ref: str, exists: Mapping[tuple[str, str], object]) -> tuple[str, str] | None:
        """Follow a reference through imports and re-exports to a key of ``exists``, or None."""
        for _ in range(12):
            found = self.split(ref)
            if found is None:
                return None
            path, rest = found
            if (path, rest) in exists:
                return path, rest
            head, _, tail = rest.partition(".")
            target = self.facts[path].imports.get(head)
            if target is None or target == ref:
                return None
            ref = f"{target}.{tail}" if tail else target
        return None

    def qualified(self, path: str, rest: str) -> str:
        module = self.canonical.get(path, "")
        return f"{module}.{rest}" if module else rest

    def locate_from(self, path: str, ref: str, exists: Mapping[tuple[str, str], object]) -> tuple[str, str] | None:
        """``locate``, then the importing script's own folder, which Python puts first on sys.path: in
        ``a/main.py``, ``from train import fit`` is ``a/train.py`` even when other folders have a train.py."""
        found = self.locate(ref, exists)
        if found is not None or "/" not in path:
            return found
        folder = path.rsplit("/", 1)[0]
        parts = ref.split(".")
        for end in range(len(parts) - 1, 0, -1):
            stem = folder + "/" + "/".join(parts[:end])
            for candidate in (stem + ".py", stem + "/__init__.py"):
                if (candidate, ".".join(parts[end:])) in exists:
                    return candidate, ".".join(parts[end:])
        return None
