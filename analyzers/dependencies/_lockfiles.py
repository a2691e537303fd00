"""Lock files and what they pin: poetry/uv/pdm/Pipfile/conda-lock, pip-compile outputs and constraints files."""

from __future__ import annotations

import json
import posixpath
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from packaging.utils import canonicalize_name

from ..finding import Problem
from ..snapshot import parse_yaml
from ._requirements import parse_requirements_file

_TOML_LOCKS = frozenset({"poetry.lock", "uv.lock", "pdm.lock"})
_CONDA_LOCKS = frozenset({"conda-lock.yml", "conda-lock.yaml"})


@dataclass(frozen=True, slots=True)
class Lock:
    """Names a lock file pins, for manifests in its folder or below; ``ecosystem`` is 'pypi' or 'conda'."""

    path: str
    names: frozenset[str]
    ecosystem: str = "pypi"

    @property
    def folder(self) -> str:
        return posixpath.dirname(self.path)


def is_lock_file(path: str) -> bool:
    base = posixpath.basename(path)
    if base in _TOML_LOCKS or base in _CONDA_LOCKS or base == "Pipfile.lock" or base.endswith(".conda-lock.yml"):
        return True
    return base.startswith("requirements") and base.endswith(".lock")  # rye / uv export, pip-compile syntax


def _package_names(packages: Any) -> frozenset[str]:
    if not isinstance(packages, list):
        return frozenset()
    return frozenset(canonicalize_name(p["name"]) for p in packages if isinstance(p, dict)
                     and isinstance(p.get("name"), str))


def parse_lock(path: str, text: str) -> tuple[Lock | None, list[Problem]]:
    """The lock a file holds, or problems when it cannot be read (the scan goes on without it)."""
    base = posixpath.basename(path)
    if base in _TOML_LOCKS:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            return None, [Problem(path, "invalid-toml", f"invalid TOML: {err}")]
        return Lock(path, _package_names(data.get("package"))), []
    if base == "Pipfile.lock":
        try:
            data = json.loads(text)
        except ValueError as err:
            return None, [Problem(path, "invalid-json", f"invalid JSON: {err}")]
        sections = (data.get(key) for key in ("default", "develop")) if isinstance(data, dict) else ()
        names = {canonicalize_name(name) for section in sections if isinstance(section, dict) for name in section}
        return Lock(path, frozenset(names)), []
    if base.endswith((".yml", ".yaml")):
        data, problem = parse_yaml(path, text)
        if problem is not None:
            return None, [problem]
        packages = data.get("package") if isinstance(data, dict) else None
        return Lock(path, _package_names(packages), "conda"), []
    parsed = parse_requirements_file(path, text)
    return Lock(path, frozenset(parsed.pinned_names)), parsed.problems


class LockIndex:
    """Which locks cover a manifest: those in the manifest's folder or an ancestor folder."""

    def __init__(self, locks: Iterable[Lock]) -> None:
        self._by_folder: dict[str, list[Lock]] = {}
        for lock in locks:
            if lock.names:
                self._by_folder.setdefault(lock.folder, []).append(lock)

    def pinned_by(self, path: str, name: str, ecosystem: str = "pypi") -> Lock | None:
        folder = posixpath.dirname(path)
        while True:  # walk up to the root: as many steps as the path is deep
            for lock in self._by_folder.get(folder, ()):
                if lock.ecosystem == ecosystem and name in lock.names:
                    return lock
            if not folder:
                return None
            folder = posixpath.dirname(folder)


def applied_constraints(includes: dict[str, list[str]], constraints: dict[str, set[str]]) -> dict[str, set[str]]:
    """Names pinned for each requirements file by `-c` files it or any file including it names.

    ``includes`` maps a file to the files it includes with -r; ``constraints`` maps a file to the names its own
    -c files pin. Propagation follows -r edges downwards, each file revisited only when its set grows.
    """
    applied = {path: set(names) for path, names in constraints.items()}
    pending = [path for path, names in applied.items() if names]
    while pending:
        path = pending.pop()
        for child in includes.get(path, ()):
            before = applied.setdefault(child, set())
            grown = applied[path] - before
            if grown:
                before |= grown
                pending.append(child)
    return applied
