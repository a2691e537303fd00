"""Dependencies declared in pyproject.toml (PEP 621, PEP 735, Poetry), setup.cfg, setup.py facts, Pipfile, conda."""

from __future__ import annotations

import configparser
import posixpath
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import InvalidRequirement
from packaging.utils import canonicalize_name

from ..finding import Problem
from ..snapshot import parse_yaml
from ._model import (
    Declared,
    Looseness,
    TextIndex,
    is_dev_section,
    is_sha,
    is_version,
    parse_specifier,
    release_length,
    specifier_looseness,
    url_looseness,
)
from ._requirements import classify, logical_lines, parse_requirements_file

_CONDA_SPEC = re.compile(r"^(?:[^:\s]+::)?(?P<name>[A-Za-z0-9_][A-Za-z0-9_.\-]*)\s*(?P<spec>.*)$")
_CONDA_SKIPPED = frozenset({"python", "pip"})


@dataclass(slots=True)
class Manifest:
    """What one manifest declares, the requirements files it pulls in, and what could not be read."""

    declared: list[Declared] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    distribution: str = ""  # the distribution this manifest builds (`[project] name`, `setup(name=...)`)
    packaging: bool = False  # it builds a distribution: its install requirements are what users install it with
    install_files: list[str] = field(default_factory=list)  # requirements files the build reads as install_requires


def _table_start(index: TextIndex, tables: Iterable[str], key: str | None = None) -> int:
    """Where a section's values begin in the text: its `[table]` header, then its `key =` if given."""
    start = 0
    for table in tables:
        found = index.find(re.compile(rf"^\s*\[\s*{re.escape(table)}\s*\]", re.MULTILINE))
        if found >= 0:
            start = found
            break
    if key is not None:
        found = index.find(re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=", re.MULTILINE), start)
        start = found if found >= 0 else start
    return start


def _line_of_value(index: TextIndex, value: str, cursor: int) -> tuple[int, int]:
    """(line, next cursor) of a string value at or after the cursor; the cursor's line if it cannot be found."""
    found = index.find_quoted(value, cursor)
    if found < 0:
        return index.line_of(cursor), cursor
    return index.line_of(found), found + len(value)


def _pep508_items(manifest: Manifest, path: str, index: TextIndex, items: Any, section: str, dev: bool,
                  start: int) -> None:
    if not isinstance(items, list):
        return
    cursor = start
    for item in items:
        if not isinstance(item, str):
            continue  # PEP 735 `{include-group = "..."}`: that group is read on its own
        line, cursor = _line_of_value(index, item, cursor)
        try:
            classified = classify(item)
        except InvalidRequirement as err:
            manifest.problems.append(Problem(path, "invalid-requirement", f"line {line}: {err}"))
            continue
        if classified is not None:
            manifest.declared.append(Declared(path, line, classified[0], section, dev, classified[1]))


def _constraint_looseness(name: str, text: str) -> Looseness | None:
    """Poetry's and Pipenv's version strings: `*`, `^1.2`, `~1.2`, a bare version, or PEP 440 specifiers."""
    text = text.strip()
    example = f"{name}==<version you test with>"
    if text in ("", "*"):
        return Looseness("none", "no version", example)
    if text.startswith("^"):
        return Looseness("caret", f"caret range ({text})", example)
    if text.startswith("~") and not text.startswith("~="):
        return Looseness("tilde", f"tilde range ({text})", example)
    if is_version(text):
        return None  # Poetry reads a bare version as `==`
    if text[0].isdigit():
        text = "==" + text  # Poetry's bare wildcard, `1.2.*`
    return specifier_looseness(name, parse_specifier(text))


def _table_looseness(name: str, value: Any) -> Looseness | bool | None:
    """Looseness of a Poetry/Pipenv value; False for a local path, which is not debt."""
    if isinstance(value, list):
        found = [_table_looseness(name, item) for item in value]
        return next((item for item in found if isinstance(item, Looseness)), None)
    if not isinstance(value, dict):
        return _constraint_looseness(name, str(value))
    if "path" in value or ("file" in value and not str(value["file"]).startswith(("http://", "https://"))):
        return False
    if "git" in value:
        ref = str(value.get("rev") or value.get("ref") or value.get("tag") or value.get("branch") or "")
        if is_sha(ref):
            return None
        return Looseness("vcs", f"VCS reference without a commit ({'@' + ref if ref else 'no ref'})",
                         "rev = \"<40-hex commit>\"")
    if "url" in value or "file" in value:
        return url_looseness(str(value.get("url") or value.get("file")))
    return _constraint_looseness(name, str(value.get("version", "*")))


def _named_table(manifest: Manifest, path: str, index: TextIndex, table: Any, section: str, dev: bool,
                 start: int) -> None:
    """`name = "constraint"` or `name = {...}` entries (Poetry dependencies, Pipfile packages)."""
    if not isinstance(table, dict):
        return
    cursor = start
    for raw_name, value in table.items():
        if raw_name.lower() == "python":
            continue
        name = canonicalize_name(raw_name)
        key = re.compile(rf"^\s*[\"']?{re.escape(raw_name)}[\"']?\s*=", re.MULTILINE)
        # keys come in document order, so searching on from the previous key keeps this linear
        found = index.find(key, cursor)
        found = found if found >= 0 else index.find(key, start)
        cursor = max(cursor, found)
        line = index.line_of(found if found >= 0 else start)
        try:
            loose = _table_looseness(name, value)
        except InvalidRequirement as err:
            manifest.problems.append(Problem(path, "invalid-requirement", f"line {line}: {err}"))
            continue
        if loose is not False:
            manifest.declared.append(Declared(path, line, name, section, dev, loose or None))


def _load_toml(path: str, text: str, manifest: Manifest) -> dict[str, Any] | None:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        manifest.problems.append(Problem(path, "invalid-toml", f"invalid TOML: {err}"))
        return None


def parse_pyproject(path: str, text: str) -> Manifest:
    manifest = Manifest()
    data = _load_toml(path, text, manifest)
    if data is None:
        return manifest
    index = TextIndex(text)
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    _pep508_items(manifest, path, index, project.get("dependencies"), "project.dependencies", False,
                  _table_start(index, ("project",), "dependencies"))
    extras = project.get("optional-dependencies")
    for extra, items in (extras.items() if isinstance(extras, dict) else ()):
        start = _table_start(index, ("project.optional-dependencies", "project"), extra)
        _pep508_items(manifest, path, index, items, f"extras:{extra}", is_dev_section(extra), start)
    groups = data.get("dependency-groups")
    for group, items in (groups.items() if isinstance(groups, dict) else ()):
        start = _table_start(index, ("dependency-groups",), group)
        _pep508_items(manifest, path, index, items, f"group:{group}", is_dev_section(group), start)
    tool = data.get("tool") if isinstance(data.get("tool"), dict) else {}
    poetry = tool.get("poetry") if isinstance(tool.get("poetry"), dict) else {}
    _named_table(manifest, path, index, poetry.get("dependencies"), "tool.poetry.dependencies", False,
                 _table_start(index, ("tool.poetry.dependencies",)))
    _named_table(manifest, path, index, poetry.get("dev-dependencies"), "tool.poetry.dev-dependencies", True,
                 _table_start(index, ("tool.poetry.dev-dependencies",)))
    poetry_groups = poetry.get("group")
    for group, body in (poetry_groups.items() if isinstance(poetry_groups, dict) else ()):
        table = f"tool.poetry.group.{group}.dependencies"
        deps = body.get("dependencies") if isinstance(body, dict) else None
        _named_table(manifest, path, index, deps, table, is_dev_section(group), _table_start(index, (table,)))
    name = project.get("name") or poetry.get("name")
    manifest.distribution = canonicalize_name(name) if isinstance(name, str) and "{" not in name else ""
    manifest.packaging = bool(manifest.distribution) and isinstance(data.get("build-system"), dict)
    setuptools = tool.get("setuptools") if isinstance(tool.get("setuptools"), dict) else {}
    dynamic = setuptools.get("dynamic") if isinstance(setuptools.get("dynamic"), dict) else {}
    files = dynamic.get("dependencies", {}).get("file") if isinstance(dynamic.get("dependencies"), dict) else None
    manifest.install_files = _sibling_files(path, [files] if isinstance(files, str) else files)
    return manifest


def _sibling_files(manifest_path: str, names: Any) -> list[str]:
    """Repo-relative paths of files a manifest names relative to its own folder."""
    folder = posixpath.dirname(manifest_path)
    return [posixpath.normpath(posixpath.join(folder, name)) for name in (names if isinstance(names, list) else ())
            if isinstance(name, str) and name and not name.startswith(("/", ".."))]


def parse_pipfile(path: str, text: str) -> Manifest:
    manifest = Manifest()
    data = _load_toml(path, text, manifest)
    if data is None:
        return manifest
    index = TextIndex(text)
    for table, dev in (("packages", False), ("dev-packages", True)):
        _named_table(manifest, path, index, data.get(table), table, dev, _table_start(index, (table,)))
    return manifest


def _without_trailing_comment(line: str) -> str:
    """``line`` up to the first `#` or `;` after white space: a scan, as `\\s+[#;].*$` backtracks quadratically."""
    for index, char in enumerate(line):
        if char in "#;" and index > 0 and line[index - 1].isspace():
            return line[:index]
    return line


def _cfg_items(value: str) -> list[str]:
    if value.strip().startswith("file:"):
        return []  # read from a requirements file, which is scanned on its own
    items = (_without_trailing_comment(line).strip() for line in value.splitlines())
    return [item for item in items if item and not item.startswith("#")]


def parse_setup_cfg(path: str, text: str) -> Manifest:
    manifest = Manifest()
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=path)
    except configparser.Error as err:
        manifest.problems.append(Problem(path, "invalid-cfg", f"invalid setup.cfg: {err}"))
        return manifest
    index = TextIndex(text)
    name = parser.get("metadata", "name", fallback="")
    manifest.distribution = canonicalize_name(name) if name and "{" not in name else ""
    manifest.packaging = bool(manifest.distribution)
    requires = parser.get("options", "install_requires", fallback="").strip()
    if requires.startswith("file:"):
        manifest.install_files = _sibling_files(path, [f.strip() for f in requires[5:].split(",")])
    if parser.has_option("options", "install_requires"):
        _pep508_items(manifest, path, index, _cfg_items(parser.get("options", "install_requires")),
                      "install_requires", False, _table_start(index, ("options",), "install_requires"))
    if parser.has_section("options.extras_require"):
        for extra, value in parser.items("options.extras_require"):
            start = _table_start(index, ("options.extras_require",), extra)
            _pep508_items(manifest, path, index, _cfg_items(value), f"extras:{extra}", is_dev_section(extra),
                          start)
    return manifest


def setup_py_manifest(path: str, facts: Any) -> Manifest:
    """Requirements that the extract phase read statically from a `setup(...)` call."""
    manifest = Manifest()
    entries = facts.get("requirements", ()) if isinstance(facts, dict) else ()
    name = facts.get("name", "") if isinstance(facts, dict) else ""
    manifest.distribution = canonicalize_name(name) if name and "{" not in name else ""
    manifest.packaging = True  # setup.py is itself a build script for a distribution
    manifest.install_files = _sibling_files(path, list(facts.get("install_files", ())) if isinstance(facts, dict)
                                            else [])
    for section, text, line in entries:
        dev = section == "tests_require" or (section.startswith("extras:") and is_dev_section(section[7:]))
        try:
            classified = classify(text)
        except InvalidRequirement as err:
            manifest.problems.append(Problem(path, "invalid-requirement", f"line {line}: {err}"))
            continue
        if classified is not None:
            manifest.declared.append(Declared(path, line, classified[0], section, dev, classified[1]))
    return manifest


def conda_looseness(name: str, spec: str) -> Looseness | None:
    """A conda match spec: `=1.26.4` (or with a build) is exact, `=1.26` a prefix match, else PEP 440-like."""
    example = f"{name}=<full version you test with>"
    if not spec:
        return Looseness("none", "no version", example)
    if spec.startswith("=") and not spec.startswith("=="):
        version, _, build = spec[1:].partition("=")
        if "*" in version:
            return Looseness("wildcard", f"wildcard (={version})", example)
        if not is_version(version):
            raise InvalidRequirement(f"invalid conda version {version!r}")
        if build or release_length(version) >= 3:
            return None
        return Looseness("prefix", f"prefix match (={version}, any {version}.x)", example)
    if spec[0].isdigit():
        version = spec.split()[0]
        if "*" in version:
            return Looseness("wildcard", f"wildcard ({version})", example)
        if not is_version(version):
            raise InvalidRequirement(f"invalid conda version {version!r}")
        return None
    return specifier_looseness(name, parse_specifier(spec))


def _conda_pip_section(manifest: Manifest, path: str, index: TextIndex, items: list[Any], cursor: int) -> None:
    text = "\n".join(item for item in items if isinstance(item, str))
    parsed = parse_requirements_file(path, text, section="conda:pip")
    manifest.includes.extend(parsed.includes)
    lines = {number: line for number, line in logical_lines(text)}
    found: dict[int, int] = {}
    for number, item in lines.items():
        found[number], cursor = _line_of_value(index, item.split()[0] if item else item, cursor)
    for declared in parsed.declared:
        manifest.declared.append(Declared(path, found.get(declared.line, 1), declared.name, declared.section,
                                          declared.dev, declared.loose))
    for problem in parsed.problems:
        number = int(problem.message.split(":", 1)[0].removeprefix("line "))
        message = f"line {found.get(number, 1)}:{problem.message.split(':', 1)[1]}"
        manifest.problems.append(Problem(path, problem.reason, message))


def parse_conda(path: str, text: str) -> Manifest:
    manifest = Manifest()
    data, problem = parse_yaml(path, text)
    if problem is not None:
        manifest.problems.append(problem)
        return manifest
    deps = data.get("dependencies") if isinstance(data, dict) else None
    if not isinstance(deps, list):
        return manifest
    index = TextIndex(text)
    cursor = max(index.find(re.compile(r"^dependencies\s*:", re.MULTILINE)), 0)
    for item in deps:
        if isinstance(item, dict) and isinstance(item.get("pip"), list):
            _conda_pip_section(manifest, path, index, item["pip"], cursor)
            continue
        if not isinstance(item, str):
            continue
        line, cursor = _line_of_value(index, item, cursor)
        match = _CONDA_SPEC.match(item.strip())
        if match is None:
            manifest.problems.append(Problem(path, "invalid-requirement", f"line {line}: cannot read {item!r}"))
            continue
        name = canonicalize_name(match.group("name"))
        if name in _CONDA_SKIPPED:
            continue
        try:
            loose = conda_looseness(name, match.group("spec").strip())
        except InvalidRequirement as err:
            manifest.problems.append(Problem(path, "invalid-requirement", f"line {line}: {err}"))
            continue
        manifest.declared.append(Declared(path, line, name, "conda", False, loose))
    return manifest
