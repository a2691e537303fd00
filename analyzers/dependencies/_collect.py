"""Every dependency declaration in a snapshot, from each kind of file, with the locks and constraints in scope."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from ..finding import Problem
from ..snapshot import RepoSnapshot, is_container_build_file
from ._commands import ActionUse, Installs, scan_dockerfile, scan_magics, scan_script, scan_workflow
from ._formats import Manifest, parse_conda, parse_pipfile, parse_pyproject, parse_setup_cfg, setup_py_manifest
from ._images import ImageUse, scan_compose_images, scan_gitlab_images
from ._lockfiles import Lock, LockIndex, applied_constraints, is_lock_file, parse_lock
from ._model import Declared
from ._requirements import RequirementsFile, parse_requirements_file

_REQUIREMENTS_FOLDERS = frozenset({"requirements", "reqs", "requirements.d", "deps"})
_SHELL_SUFFIXES = (".sh", ".bash")


@dataclass(slots=True)
class Collected:
    """Declarations to judge and what could pin them."""

    manifests: list[tuple[Declared, str]] = field(default_factory=list)  # with the ecosystem of its locks
    installs: list[tuple[Declared, tuple[str, ...]]] = field(default_factory=list)
    actions: list[ActionUse] = field(default_factory=list)
    images: list[ImageUse] = field(default_factory=list)
    distributions: set[str] = field(default_factory=set)  # what the repository itself publishes
    packaging: dict[str, str] = field(default_factory=dict)  # packaging manifest -> the distribution it builds
    install_files: set[str] = field(default_factory=set)  # requirements files a build reads as install_requires
    problems: list[Problem] = field(default_factory=list)
    locks: LockIndex = field(default_factory=lambda: LockIndex(()))
    constrained: dict[str, set[str]] = field(default_factory=dict)  # requirements file -> names pinned by -c
    constraint_pins: dict[str, set[str]] = field(default_factory=dict)  # constraints file -> its exact pins
    stats: dict[str, int] = field(default_factory=dict)


def is_constraints_file(path: str) -> bool:
    base = posixpath.basename(path).lower()
    return "constraints" in base and base.endswith((".txt", ".in"))


def is_requirements_file(path: str) -> bool:
    """requirements*.txt, *requirements*.in, pip-tools' `*.in`, anything in a requirements/ folder, constraints."""
    base = posixpath.basename(path)
    lower = base.lower()
    if not lower.endswith((".txt", ".in")):
        return False
    if "requirements" in lower or is_constraints_file(path):
        return True
    parent = posixpath.basename(posixpath.dirname(path)).lower()
    if parent in _REQUIREMENTS_FOLDERS:
        return True
    # pip-tools inputs (`dev.in`); autoconf-style templates (Makefile.in, config.h.in) are capitalised or dotted
    return lower.endswith(".in") and base[0].islower() and base.count(".") == 1


def _is_conda_env(path: str) -> bool:
    base = posixpath.basename(path).lower()
    if not base.endswith((".yml", ".yaml")) or "lock" in base:
        return False
    return base.startswith(("environment", "conda"))


def _is_workflow(path: str) -> bool:
    base = posixpath.basename(path)
    in_workflows = path.startswith(".github/workflows/") and path.count("/") == 2
    return (in_workflows and base.endswith((".yml", ".yaml"))) or base in ("action.yml", "action.yaml")


def _is_dockerfile(path: str) -> bool:
    return is_container_build_file(posixpath.basename(path))


def _is_compose(path: str) -> bool:
    base = posixpath.basename(path).lower()
    return base.endswith((".yml", ".yaml")) and (base.startswith(("docker-compose", "compose.", "compose-")))


def _manifest_of(path: str, text: str, facts: Any) -> tuple[Manifest, str] | None:
    base = posixpath.basename(path)
    if base == "pyproject.toml":
        return parse_pyproject(path, text), "pypi"
    if base == "Pipfile":
        return parse_pipfile(path, text), "pypi"
    if base == "setup.cfg":
        return parse_setup_cfg(path, text), "pypi"
    if base == "setup.py":
        return setup_py_manifest(path, facts), "pypi"
    if _is_conda_env(path):
        return parse_conda(path, text), "conda"
    return None


def _installs_of(path: str, snapshot: RepoSnapshot) -> Installs | None:
    file = snapshot.files[path]
    if file.magics:
        return scan_magics(path, file.magics, file.cell_position)
    if _is_compose(path) or posixpath.basename(path) == ".gitlab-ci.yml":
        scan = scan_compose_images if _is_compose(path) else scan_gitlab_images
        images = scan(path, file.text)
        return Installs(images=images.uses, problems=images.problems)
    if _is_workflow(path):
        return scan_workflow(path, file.text)
    if _is_dockerfile(path):
        return scan_dockerfile(path, file.text)
    if path.endswith(_SHELL_SUFFIXES) or posixpath.basename(path) == "Makefile":
        return scan_script(path, file.text)
    return None


def _requirements_closure(snapshot: RepoSnapshot, collected: Collected, included: set[str],
                          constrained: set[str]) -> dict[str, RequirementsFile]:
    """Parse each candidate requirements file and every file reached by -r/-c, once each."""
    parsed: dict[str, RequirementsFile] = {}
    queue = sorted({p for p in snapshot.files if is_requirements_file(p)} | included | constrained)
    while queue:
        path = queue.pop()
        if path in parsed or path not in snapshot.files:
            continue
        result = parse_requirements_file(path, snapshot.files[path].text)
        parsed[path] = result
        collected.problems.extend(result.problems)
        included.update(result.includes)
        constrained.update(result.constraints)
        queue.extend(result.includes + result.constraints)
    return parsed


def _add_requirements(collected: Collected, parsed: dict[str, RequirementsFile], included: set[str],
                      locks: list[Lock]) -> None:
    for path, result in parsed.items():
        collected.constraint_pins[path] = result.pinned_names
        if path not in included and (is_constraints_file(path) or not is_requirements_file(path)):
            # only ever a constraints file: it pins, it declares nothing
            if is_constraints_file(path):
                locks.append(Lock(path, frozenset(result.pinned_names)))
            continue
        if result.is_lock:
            locks.append(Lock(path, frozenset(result.pinned_names)))
        collected.manifests.extend((declared, "pypi") for declared in result.declared)
    own = {path: set().union(*(collected.constraint_pins.get(c, set()) for c in result.constraints))
           for path, result in parsed.items()}
    collected.constrained = applied_constraints({p: r.includes for p, r in parsed.items()}, own)


def collect(snapshot: RepoSnapshot, facts: dict[str, Any]) -> Collected:
    """Read every manifest, requirements file, command, workflow and lock file of the snapshot once."""
    collected = Collected()
    included: set[str] = set()
    constrained: set[str] = set()
    locks: list[Lock] = []
    for path in sorted(snapshot.files):
        text = snapshot.files[path].text
        if is_lock_file(path):
            lock, problems = parse_lock(path, text)
            collected.problems.extend(problems)
            locks.extend([lock] if lock else [])
            continue
        manifest = _manifest_of(path, text, facts.get(path))
        if manifest is not None:
            found, ecosystem = manifest
            collected.manifests.extend((declared, ecosystem) for declared in found.declared)
            collected.problems.extend(found.problems)
            if found.distribution:
                collected.distributions.add(found.distribution)
                collected.packaging[path] = found.distribution if found.packaging else ""
            collected.install_files.update(found.install_files)
            included.update(found.includes)
            continue
        installs = _installs_of(path, snapshot)
        if installs is not None:
            collected.installs.extend(installs.declared)
            collected.actions.extend(installs.actions)
            collected.images.extend(installs.images)
            collected.problems.extend(installs.problems)
            included.update(installs.includes)
            constrained.update(c for _, cs in installs.declared for c in cs)
    parsed = _requirements_closure(snapshot, collected, included, constrained)
    _add_requirements(collected, parsed, included, locks)
    collected.locks = LockIndex(locks)
    collected.stats = {"requirements_files": len(parsed), "lock_files": len(locks),
                       "declared": len(collected.manifests) + len(collected.installs),
                       "actions": len(collected.actions), "images": len(collected.images)}
    return collected
