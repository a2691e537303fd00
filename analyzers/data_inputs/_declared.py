"""Inputs the repository declares: paydown's `[[inputs]]`, DVC (`dvc.yaml`, `*.dvc`) and Kedro catalogs."""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..config import Config, DeclaredInput
from ..finding import Problem
from ..snapshot import RepoSnapshot, parse_yaml

PLACEHOLDER_OWNERS = frozenset({"todo", "tbd", "fixme", "?", "unknown"})


@dataclass(frozen=True, slots=True)
class Declaration:
    """One declared pattern and who declared it (``paydown``, ``dvc`` or ``kedro``)."""

    pattern: str
    by: str
    where: str
    owner: str = ""
    contract: str = ""
    name: str = ""

    @property
    def has_owner(self) -> bool:
        return self.by != "paydown" or self.owner.strip().lower() not in PLACEHOLDER_OWNERS


@dataclass(slots=True)
class Declarations:
    entries: list[Declaration] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def match(self, pattern: str) -> Declaration | None:
        """The declaration covering a source; ``pattern`` is the source with its template fields as ``*``."""
        for entry in self.entries:
            if covers(entry.pattern, pattern):
                return entry
        return None


def normalize(path: str) -> str:
    """A path or URI compared as written: forward slashes, no `./`, `..` folded for local paths."""
    path = path.replace("\\", "/").strip()
    if "://" in path or path.startswith(("dbfs:/", "models:/", "runs:/")):
        return path
    folded = posixpath.normpath(path) if path else path
    return folded.removeprefix("./")


def covers(declared: str, source: str) -> bool:
    declared, source = normalize(declared), normalize(source)
    if declared.lower() == source.lower():
        return True
    if fnmatch.fnmatchcase(source, declared) or fnmatch.fnmatchcase(declared, source):
        return True
    folder = declared.rstrip("/*")
    return bool(folder) and "*" not in folder and source.startswith(folder + "/")


def _template_to_glob(text: str) -> str:
    """Kedro's `${globals:x}` and dataset-factory `{name}` fields matched as `*`."""
    out: list[str] = []
    depth = 0
    for char in text:
        if char == "{":
            if depth == 0:
                if out and out[-1] == "$":
                    out.pop()
                out.append("*")
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out)


def _load_yaml(snapshot: RepoSnapshot, path: str, problems: list[Problem]) -> Any:
    data, problem = parse_yaml(path, snapshot.files[path].text)
    if problem is not None:
        problems.append(problem)
    return data


def _paths(items: Any) -> Iterator[str]:
    for item in items if isinstance(items, list) else []:
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            yield from (key for key in item if isinstance(key, str))
            if isinstance(item.get("path"), str):
                yield item["path"]


def _dvc_pipeline(path: str, data: Any) -> Iterator[Declaration]:
    stages = data.get("stages") if isinstance(data, dict) else None
    base = posixpath.dirname(path)
    for stage in (stages or {}).values() if isinstance(stages, dict) else ():
        if not isinstance(stage, dict):
            continue
        wdir = stage.get("wdir") if isinstance(stage.get("wdir"), str) else "."
        for key in ("deps", "outs", "metrics", "plots"):
            for dep in _paths(stage.get(key)):
                target = dep if "://" in dep else normalize(posixpath.join(base, wdir, dep))
                yield Declaration(_template_to_glob(target), "dvc", path)


def _dvc_file(path: str, data: Any) -> Iterator[Declaration]:
    base = posixpath.dirname(path)
    outs = data.get("outs") if isinstance(data, dict) else None
    for out in outs if isinstance(outs, list) else ():
        if isinstance(out, dict) and isinstance(out.get("path"), str):
            yield Declaration(normalize(posixpath.join(base, out["path"])), "dvc", path)
    deps = data.get("deps") if isinstance(data, dict) else None
    for dep in deps if isinstance(deps, list) else ():
        if isinstance(dep, dict) and isinstance(dep.get("path"), str) and "://" in dep["path"]:
            yield Declaration(dep["path"], "dvc", path)


def _is_kedro_catalog(path: str) -> bool:
    parts = path.split("/")
    name = parts[-1]
    return "conf" in parts[:-1] and name.endswith((".yml", ".yaml")) and (
        name.startswith("catalog") or "catalog" in parts[:-1])


def _kedro(path: str, data: Any) -> Iterator[Declaration]:
    for name, entry in data.items() if isinstance(data, dict) else ():
        if not isinstance(entry, dict) or (isinstance(name, str) and name.startswith("_")):
            continue
        for key in ("filepath", "path", "table_name", "table"):
            value = entry.get(key)
            if isinstance(value, str) and value:
                yield Declaration(_template_to_glob(value), "kedro", path, name=str(name))


def _configured(inputs: tuple[DeclaredInput, ...], source: str) -> Iterator[Declaration]:
    for entry in inputs:
        yield Declaration(entry.uri, "paydown", source or ".paydown.toml", entry.owner, entry.contract, entry.name)


def load_declarations(snapshot: RepoSnapshot, config: Config) -> Declarations:
    """Every declared input; a broken YAML file becomes a problem and declares nothing."""
    found = Declarations(list(_configured(config.inputs, config.source)))
    for path in sorted(snapshot.files):
        name = path.rsplit("/", 1)[-1]
        if name in {"dvc.yaml", "dvc.yml"}:
            reader = _dvc_pipeline
        elif name.endswith(".dvc"):
            reader = _dvc_file
        elif _is_kedro_catalog(path):
            reader = _kedro
        else:
            continue
        data = _load_yaml(snapshot, path, found.problems)
        if data is not None:
            found.entries.extend(reader(path, data))
    return found
