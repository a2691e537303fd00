"""Versions the repository's own lock and constraints files give, for pinning a dependency to what was tested."""

from __future__ import annotations

import json
import posixpath
import tomllib
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from paydown.analyzers.dependencies._lockfiles import is_lock_file
from paydown.analyzers.dependencies._requirements import logical_lines

from ._model import SKIPPED_DIRS


def _is_constraints(path: str) -> bool:
    base = posixpath.basename(path)
    return "constraint" in base and base.endswith((".txt", ".in"))


def _pinned_lines(text: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for _, line in logical_lines(text):
        try:
            requirement = Requirement(line.split(" #", 1)[0].split("--hash", 1)[0].strip())
        except InvalidRequirement:
            continue
        exact = [s.version for s in requirement.specifier if s.operator in ("==", "===") and "*" not in s.version]
        if len(exact) == 1:
            pins[canonicalize_name(requirement.name)] = exact[0]
    return pins


def _pins_of(path: str, text: str) -> dict[str, str]:
    base = posixpath.basename(path)
    try:
        if base.endswith(".lock") and not base.startswith("requirements"):
            if base == "Pipfile.lock":
                data = json.loads(text)
                return {canonicalize_name(name): entry["version"].removeprefix("==")
                        for section in ("default", "develop") for name, entry in data.get(section, {}).items()
                        if isinstance(entry, dict) and isinstance(entry.get("version"), str)}
            packages = tomllib.loads(text).get("package", [])
            return {canonicalize_name(p["name"]): p["version"] for p in packages
                    if isinstance(p, dict) and isinstance(p.get("name"), str) and isinstance(p.get("version"), str)}
    except (ValueError, tomllib.TOMLDecodeError, AttributeError):
        return {}
    return _pinned_lines(text)


class LockedVersions:
    """Each lock or constraints file's exact pins; the one nearest a manifest (same folder, then up) wins."""

    def __init__(self, root: Path) -> None:
        self._files: dict[str, dict[str, str]] = {}
        for file in sorted(root.rglob("*")):
            relative = file.relative_to(root).as_posix()
            if SKIPPED_DIRS.intersection(relative.split("/")) or not file.is_file():
                continue
            if (is_lock_file(relative) and not relative.endswith((".yml", ".yaml"))) or _is_constraints(relative):
                try:
                    self._files[relative] = _pins_of(relative, file.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError):
                    continue

    def version(self, manifest: str, name: str) -> tuple[str, str] | None:
        """(version, lock path) for ``name``: a lock in the manifest's folder or above first, then any other."""
        key = canonicalize_name(name)
        holders = [path for path, pins in self._files.items() if key in pins]
        if not holders:
            return None
        folder = posixpath.dirname(manifest)

        def distance(path: str) -> tuple[int, str]:
            lock_folder = posixpath.dirname(path)
            above = not lock_folder or folder == lock_folder or folder.startswith(f"{lock_folder}/")
            return (folder.count("/") - lock_folder.count("/") if above else 10_000, path)

        best = min(holders, key=distance)
        return self._files[best][key], best
