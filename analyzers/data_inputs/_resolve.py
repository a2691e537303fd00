"""Repository-wide resolution of symbolic refs: ``settings.RAW_CUSTOMERS`` or ``from cfg import PATH``."""

from __future__ import annotations

from collections.abc import Mapping

from ._extract import FileFacts
from ._values import Part, Value, fold, hole

_MAX_DEPTH = 8


class ModuleIndex:
    """Module names of the repository's files, matched by dotted suffix (``src.pkg.cfg`` answers ``pkg.cfg``)."""

    def __init__(self, facts: Mapping[str, FileFacts]) -> None:
        self.facts = facts
        self.by_suffix: dict[str, list[str]] = {}
        for path, file in sorted(facts.items()):
            if not isinstance(file, FileFacts) or not file.module:
                continue
            parts = file.module.split(".")
            for start in range(len(parts)):
                self.by_suffix.setdefault(".".join(parts[start:]), []).append(path)

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
            if isinstance(part, str) or part[0] != "imp":
                out.append(part)
                continue
            _, module, dotted = part
            found = self.constant(module, dotted) if depth < _MAX_DEPTH else None
            out.extend(self.resolve(found, depth + 1) if found is not None else hole(dotted.rsplit(".", 1)[-1]))
        return fold(tuple(out))
