"""Repository-wide resolution of symbolic refs: ``settings.RAW_CUSTOMERS`` or ``from cfg import PATH``."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ._extract import CallSite, FileFacts
from ._values import Part, Value, fold, hole

_MAX_DEPTH = 8
_CALL_LEVELS = 2  # a parameter is followed through at most two callers (helper <- wrapper <- script)
_MAX_BINDINGS = 4


class ModuleIndex:
    """Module names of the repository's files, matched by dotted suffix (``src.pkg.cfg`` answers ``pkg.cfg``)."""

    def __init__(self, facts: Mapping[str, FileFacts], caller: Callable[[str], bool] = lambda _: True) -> None:
        self.facts = facts
        self.by_suffix: dict[str, list[str]] = {}
        for path, file in sorted(facts.items()):
            if not isinstance(file, FileFacts) or not file.module:
                continue
            parts = file.module.split(".")
            for start in range(len(parts)):
                self.by_suffix.setdefault(".".join(parts[start:]), []).append(path)
        self.calls: dict[tuple[str, str], list[CallSite]] = {}  # (module, function) -> its calls
        for path, file in sorted(facts.items()):
            if isinstance(file, FileFacts) and caller(path):
                for site in file.calls:
                    key = self._function(site.callee)
                    if key is not None:
                        self.calls.setdefault(key, []).append(site)

    def _function(self, dotted: str) -> tuple[str, str] | None:
        module, _, name = dotted.rpartition(".")
        file = self.module(module) if module else None
        return (file.module, name) if file is not None and name in file.functions else None

    def returned(self, module: str, function: str) -> Value | None:
        """What ``module.function`` returns, when it always returns one value (``from pkg import helpers`` too)."""
        file = self.module(module)
        if file is not None and function in file.returns:
            return file.returns[function]
        key = self._function(f"{module}.{function}")
        owner = self.module(key[0]) if key is not None else None
        return owner.returns.get(function) if owner is not None else None

    def expand(self, value: Value, level: int = 0) -> list[Value]:
        """The value once per way its parameters are bound: each caller's argument, or the default when a caller
        leaves it out (or nothing in the repository calls the function: a command-line entry point)."""
        options: list[Value] = [()]
        for part in value:
            if isinstance(part, str) or part[0] != "param":
                options = [(*option, part) for option in options]
                continue
            _, module, function, name = part
            bound = self._bindings(module, function, name, level) or [hole(name)]
            options = [(*option, *b) for option in options for b in bound][:_MAX_BINDINGS]
        return list(dict.fromkeys(self.resolve(option) for option in options))

    def _bindings(self, module: str, function: str, name: str, level: int) -> list[Value]:
        file = self.module(module)
        signature = file.functions.get(function) if file is not None else None
        if signature is None or level >= _CALL_LEVELS:
            return []
        default = signature.defaults.get(name)
        index = signature.params.index(name) if name in signature.params else -1
        found: list[Value] = []
        calls = self.calls.get((module, function), [])
        for site in calls:
            argument = site.keywords.get(name) if name in site.keywords else (
                site.args[index] if 0 <= index < len(site.args) else None)
            if argument is not None:
                found.extend(self.expand(argument, level + 1))
            elif default is not None:
                found.append(default)
        if not calls and default is not None:
            found.append(default)
        return list(dict.fromkeys(found))

    def module(self, name: str) -> FileFacts | None:
        paths = self.by_suffix.get(name)
        if not paths:
            return None
        # The shortest module name is the one an import most likely means (`cfg` over `tests.cfg`).
        best = min(paths, key=lambda p: (len(self.facts[p].module), p))
        return self.facts[best]

    def constant(self, module: str, dotted: str) -> Value | None:
        """The value of ``module.dotted``, trying ``pkg.sub`` + ``NAME`` splits for ``from pkg import sub``."""
        names = dotted.split(".")
        for cut in range(len(names)):
            file = self.module(".".join([module, *names[:cut]]))
            if file is None:
                continue
            rest = ".".join(names[cut:])
            if rest in file.constants:
                return file.constants[rest]
            head, _, tail = rest.partition(".")
            if tail and head in file.instances:
                found = file.constants.get(f"{file.instances[head]}.{tail}")
                if found is not None:
                    return found
        return None

    def resolve(self, value: Value, depth: int = 0) -> Value:
        """The value with every ``imp`` ref replaced by what it names, or by a hole when it names nothing known."""
        out: list[Part] = []
        for part in value:
            if isinstance(part, str) or part[0] not in ("imp", "ret"):
                out.append(part)
                continue
            if part[0] == "ret":
                _, module, function, code = part
                found = self.returned(module, function) if depth < _MAX_DEPTH else None
                out.extend(self.resolve(found, depth + 1) if found is not None else hole(code))
                continue
            _, module, dotted = part
            found = self.constant(module, dotted) if depth < _MAX_DEPTH else None
            out.extend(self.resolve(found, depth + 1) if found is not None else hole(dotted.rsplit(".", 1)[-1]))
        return fold(tuple(out))
