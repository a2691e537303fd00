"""Why a group of copies is kept on purpose: folders per lesson, per numbered variant, per example or per project
template, stand-alone scripts and notebooks, a script's own main code, a `# Copied from` marker; and a notebook
with the script exported from it."""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence

from ..snapshot import RepoSnapshot
from . import _report, _roles
from ._extract import FileFacts

_LESSON = re.compile(r"(?i)^(?:week|lab|lesson|module|chapter|part|day|session|unit|exercise|ex|class|lecture|"
                     r"step|stage|tutorial|homework|hw|assignment)[-_ ]?\d+|^\d+[-_.]")
# Sibling folders that differ only in a number (run1/, blend6/, v2/): numbered variants of one thing.
_NUMBERED = re.compile(r"^(.*?[A-Za-z])[-_ ]?\d+$")
# The code a script runs when started: its main function, or its module-level statements.
_ENTRY_BODIES = frozenset({"main", "<module>"})
_GALLERY = frozenset({"examples", "example", "samples", "sample", "tutorials", "recipes", "demos", "gallery"})


def exported(copies: list[_report.Copy]) -> bool:
    """A notebook and the script exported from it (same name), the script not serving."""
    stems = {posixpath.splitext(c.path)[0] for c in copies}
    notebooks = {c.path.endswith(".ipynb") for c in copies}
    return len(stems) == 1 and notebooks == {True, False} and not any(
        c.reach in _roles.PREDICT_SIDE for c in copies)


def _folder_depth(copies: Sequence[_report.Copy]) -> int | None:
    """The depth of the first folder the copies' paths differ in, or None when they differ only in file names."""
    parts = [c.path.split("/") for c in copies]
    depth = next((i for i in range(min(map(len, parts))) if len({p[i] for p in parts}) > 1), None)
    return depth if depth is not None and depth < min(map(len, parts)) - 1 else None


def deliberate(copies: list[_report.Copy], standalone: dict[str, bool]) -> str:
    """Why a group of copies is deliberate (so low priority), or "" when nothing says it is."""
    if any(c.block.copied for c in copies):
        return "a `# Copied from` marker says the copy is kept on purpose"
    parts = [c.path.split("/") for c in copies]
    depth = _folder_depth(copies)
    if depth is not None:
        folders = sorted({p[depth] for p in parts})
        if all("{{" in "/".join(p[depth:-1]) for p in parts):
            return f"each copy belongs to its own project template ({folders[0]}/ ... {folders[-1]}/)"
        if all(_LESSON.match(folder) for folder in folders):
            return f"the copies sit in per-lesson folders ({folders[0]}/ ... {folders[-1]}/), each meant to stand alone"
        stems = {_NUMBERED.sub(r"\1", folder).lower() if _NUMBERED.match(folder) else None for folder in folders}
        if len(stems) == 1 and None not in stems:
            return (f"the copies sit in numbered folders ({folders[0]}/ ... {folders[-1]}/), each a variant kept on "
                    "its own")
        if any(folder in _GALLERY for p in parts for folder in p[:depth + 1]):
            return f"each example folder ({folders[0]}/ ... {folders[-1]}/) stands alone"
    paths = {c.path for c in copies}
    if len(paths) == len(copies) and all(standalone.get(p) for p in paths) \
            and not any(c.reach in _roles.PREDICT_SIDE for c in copies):
        return "each copy sits in its own stand-alone script or notebook, which cannot import the others"
    if len(paths) == len(copies) and all(p in standalone for p in paths) and all(
            c.block.qualname in _ENTRY_BODIES and c.statements != c.block.statements for c in copies):
        return "the copies are steps inside separate scripts' own main code, each script a variant run on its own"
    return ""


def within_folders(copies: list[_report.Copy]) -> Iterator[list[_report.Copy]]:
    """A group spread over sibling folders (one per lesson or example) split into the copies of each folder."""
    depth = _folder_depth(copies)
    if depth is None:
        yield copies
        return
    by_folder: dict[str, list[_report.Copy]] = defaultdict(list)
    for found in copies:
        by_folder[found.path.split("/")[depth]].append(found)
    for members in by_folder.values():
        if len({(c.path, c.block.qualname) for c in members}) >= 2:
            yield from within_folders(members)


def _module(path: str) -> str:
    stem = posixpath.splitext(path)[0].replace("/", ".")
    return stem[: -len(".__init__")] if stem.endswith(".__init__") else stem


def _tails(name: str) -> set[str]:
    """``a.b.c``, ``b.c`` and ``c``: the names a module may be imported by, from wherever the import path starts."""
    parts = name.split(".")
    return {".".join(parts[i:]) for i in range(len(parts))}


def standalone(snapshot: RepoSnapshot) -> dict[str, bool]:
    """Notebooks and scripts that run when started; True for those that no other file imports and that import
    none of the repository's own modules: a script that already imports the project's library could import the
    shared step from it too, so its copy is not kept apart on purpose."""
    facts = {p: f for p, f in snapshot.facts_of("duplication").items() if isinstance(f, FileFacts)}
    imported = {tail for f in facts.values() for name in f.modules for tail in _tails(name)}
    local = {tail for path in facts if path.endswith(".py") for tail in _tails(_module(path))}
    return {path: not _tails(_module(path)) & imported and not local.intersection(f.modules)
            for path, f in facts.items() if f.standalone}
