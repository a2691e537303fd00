"""paydown's configuration: `.paydown.toml` or `[tool.paydown]` in pyproject.toml, validated key by key."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .finding import Kind, Priority, Problem, Rule
from .snapshot import MAX_FILE_BYTES, MAX_GLOBS, bounded_glob, file_problem, read_capped

CONFIG_FILE = ".paydown.toml"
# The cap every scanned file has (a pyproject.toml over it is already reported as too large): a real
# configuration is a few kilobytes, and tomllib took 93 s and 1.9 GB on a 30 MB file.
MAX_CONFIG_BYTES = MAX_FILE_BYTES


class ConfigError(Exception):
    """Broken configuration: names the file and the key."""

    def __init__(self, path: str, key: str, message: str) -> None:
        super().__init__(f"{path}: {key}: {message}" if key else f"{path}: {message}")
        self.path = path
        self.key = key


@dataclass(frozen=True, slots=True)
class DeclaredInput:
    """A data input the team has documented: who owns it and where its contract is."""

    name: str
    uri: str
    owner: str
    contract: str = ""


@dataclass(frozen=True, slots=True)
class RuleSettings:
    enabled: bool | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BacklogSettings:
    """How findings become issues: the lowest priority that gets one, and how many are open at once."""

    issue_priority: Priority = Priority.MEDIUM
    max_open_issues: int = 25


@dataclass(frozen=True, slots=True)
class ReviewSettings:
    """Pull-request review: at most this many line comments per review; the rest go to the check run."""

    max_comments: int = 20


@dataclass(frozen=True, slots=True)
class Config:
    exclude: tuple[str, ...] = ()
    select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    fail_on: Priority | None = None
    rules: Mapping[str, RuleSettings] = field(default_factory=dict)
    inputs: tuple[DeclaredInput, ...] = ()
    backlog: BacklogSettings = BacklogSettings()
    review: ReviewSettings = ReviewSettings()
    project: str = ""  # "library" | "application": overrides how the dependency analyzer reads install ranges
    source: str = ""
    problems: tuple[Problem, ...] = ()  # the folder's own configuration files paydown would not read

    def _settings(self, rule: Rule) -> RuleSettings:
        return self.rules.get(rule.id) or self.rules.get(rule.name) or RuleSettings()

    def enabled(self, rule: Rule) -> bool:
        names = {rule.id, rule.name, rule.kind.value}
        if self.select and not names & set(self.select):
            return False
        if names & set(self.ignore):
            return False
        setting = self._settings(rule).enabled
        return True if setting is None else setting

    def option(self, rule: Rule, name: str) -> Any:
        return self._settings(rule).options.get(name, rule.options[name])


_TOP_KEYS = {"exclude", "select", "ignore", "fail_on", "rules", "inputs", "backlog", "review", "project"}
_PROJECT_KINDS = ("library", "application")


def _strings(path: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(path, key, "must be a list of strings")
    return tuple(value)


def _excludes(path: str, value: Any) -> tuple[str, ...]:
    patterns = _strings(path, "exclude", value)
    if len(patterns) > MAX_GLOBS:
        raise ConfigError(path, "exclude", f"{len(patterns)} patterns (at most {MAX_GLOBS})")
    for index, pattern in enumerate(patterns):
        _bounded, why = bounded_glob(pattern)
        if why:
            raise ConfigError(path, f"exclude[{index}]", f"{why} (pattern refused: matching it could take hours)")
    return patterns


def canonical_names(rules: Iterable[Rule]) -> dict[str, str]:
    """Every rule id, rule name and kind, lower-cased, to its own spelling: names match in any case."""
    names: dict[str, str] = {kind.value: kind.value for kind in Kind}  # every kind, as the CLI's --select accepts
    for rule in rules:
        names.update((name.lower(), name) for name in (rule.id, rule.name, rule.kind.value))
    return names


def _rule_settings(path: str, table: Any, rules: Mapping[str, Rule]) -> dict[str, RuleSettings]:
    if not isinstance(table, dict):
        raise ConfigError(path, "rules", "must be a table of rule ids")
    settings: dict[str, RuleSettings] = {}
    for rule_key, body in table.items():
        key = f"rules.{rule_key}"
        rule = rules.get(rule_key.lower())
        if rule is None:
            raise ConfigError(path, key, "unknown rule (see `paydown rules`)")
        if not isinstance(body, dict):
            raise ConfigError(path, key, "must be a table")
        enabled = body.get("enabled")
        if enabled is not None and not isinstance(enabled, bool):
            raise ConfigError(path, f"{key}.enabled", "must be true or false")
        options = {k: v for k, v in body.items() if k != "enabled"}
        for name, value in options.items():
            if name not in rule.options:
                known = ", ".join(sorted(rule.options)) or "none"
                raise ConfigError(path, f"{key}.{name}", f"unknown option (options: {known})")
            default = rule.options[name]
            if type(value) is not type(default) and not (isinstance(default, float) and isinstance(value, int)):
                raise ConfigError(path, f"{key}.{name}", f"must be {type(default).__name__}")
        settings[rule.id] = RuleSettings(enabled, options)
    return settings


def _inputs(path: str, value: Any) -> tuple[DeclaredInput, ...]:
    if not isinstance(value, list):
        raise ConfigError(path, "inputs", "must be an array of tables ([[inputs]])")
    declared = []
    for index, entry in enumerate(value):
        key = f"inputs[{index}]"
        if not isinstance(entry, dict):
            raise ConfigError(path, key, "must be a table")
        unknown = set(entry) - {"name", "uri", "owner", "contract"}
        if unknown:
            raise ConfigError(path, f"{key}.{sorted(unknown)[0]}", "unknown key")
        for required in ("name", "uri", "owner"):
            if not isinstance(entry.get(required), str) or not entry[required]:
                raise ConfigError(path, f"{key}.{required}", "is required and must be a string")
        if not isinstance(entry.get("contract", ""), str):
            raise ConfigError(path, f"{key}.contract", "must be a string")
        declared.append(DeclaredInput(entry["name"], entry["uri"], entry["owner"], entry.get("contract", "")))
    return tuple(declared)


def _table(path: str, key: str, value: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(path, key, "must be a table")
    unknown = set(value) - allowed
    if unknown:
        raise ConfigError(path, f"{key}.{sorted(unknown)[0]}", f"unknown key (known: {', '.join(sorted(allowed))})")
    return value


def _count(path: str, key: str, value: Any, default: int) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(path, key, "must be a whole number, 0 or more")
    return value


def _priority(path: str, key: str, value: Any) -> Priority | None:
    if value is None:
        return None
    if value not in {p.value for p in Priority}:
        raise ConfigError(path, key, "must be one of low, medium, high")
    return Priority(value)


def _backlog(path: str, value: Any) -> BacklogSettings:
    table = _table(path, "backlog", value, {"issue_priority", "max_open_issues"})
    return BacklogSettings(
        issue_priority=_priority(path, "backlog.issue_priority", table.get("issue_priority")) or Priority.MEDIUM,
        max_open_issues=_count(path, "backlog.max_open_issues", table.get("max_open_issues"), 25),
    )


def _review(path: str, value: Any) -> ReviewSettings:
    table = _table(path, "review", value, {"max_comments"})
    return ReviewSettings(max_comments=_count(path, "review.max_comments", table.get("max_comments"), 20))


def _project(path: str, value: Any) -> str:
    if value is None:
        return ""
    if value not in _PROJECT_KINDS:
        raise ConfigError(path, "project", f"must be one of {', '.join(_PROJECT_KINDS)}")
    return str(value)


def parse_config(table: Mapping[str, Any], path: str, rules: Iterable[Rule]) -> Config:
    """Validate a `[tool.paydown]` table against the registered rules."""
    rules = tuple(rules)
    by_key = {key.lower(): rule for rule in rules for key in (rule.id, rule.name)}
    unknown = set(table) - _TOP_KEYS
    if unknown:
        raise ConfigError(path, sorted(unknown)[0], f"unknown key (known: {', '.join(sorted(_TOP_KEYS))})")
    known = canonical_names(rules)
    selectors = {}
    for key in ("select", "ignore"):
        for name in _strings(path, key, table.get(key, [])):
            if name.lower() not in known:
                raise ConfigError(path, key, f"unknown rule or kind {name!r}")
        selectors[key] = tuple(known[name.lower()] for name in _strings(path, key, table.get(key, [])))
    return Config(
        exclude=_excludes(path, table.get("exclude", [])),
        select=selectors["select"],
        ignore=selectors["ignore"],
        fail_on=_priority(path, "fail_on", table.get("fail_on")),
        rules=_rule_settings(path, table.get("rules", {}), by_key),
        inputs=_inputs(path, table.get("inputs", [])),
        backlog=_backlog(path, table.get("backlog", {})),
        review=_review(path, table.get("review", {})),
        project=_project(path, table.get("project")),
        source=path,
    )


def _parse_toml(data: bytes, shown: str) -> dict[str, Any]:
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(shown, "", f"invalid TOML: {err}") from None


def _read_explicit(path: Path) -> bytes:
    """The file the user named: it may live anywhere, but it is capped like any other."""
    try:
        return read_capped(path, MAX_CONFIG_BYTES)
    except OSError as err:
        raise ConfigError(str(path), "", f"cannot read: {err.strerror}") from None
    except ValueError as err:
        raise ConfigError(str(path), "", str(err)) from None


def _own_file(root: Path, name: str, problems: list[Problem]) -> bytes | None:
    """A configuration file of the scanned folder; None when there is none, or when it leads out of the folder or
    is over the cap: then it is treated as absent and the reason added to ``problems``. Raises OSError."""
    path = root / name
    if not path.is_file():
        return None
    try:
        return read_capped(path, MAX_CONFIG_BYTES, inside=root)
    except ValueError as err:
        refused = file_problem(name, err)
        problems.append(dataclasses.replace(refused, message=f"{refused.message}: configuration not read"))
        return None


def _from_folder(root: Path, rules: Iterable[Rule], problems: list[Problem]) -> Config:
    try:
        own = _own_file(root, CONFIG_FILE, problems)
    except OSError as err:
        raise ConfigError(CONFIG_FILE, "", f"cannot read: {err.strerror}") from None
    if own is not None:
        return parse_config(_parse_toml(own, CONFIG_FILE), CONFIG_FILE, rules)
    try:
        pyproject = _own_file(root, "pyproject.toml", problems)
        data = tomllib.loads(pyproject.decode("utf-8")) if pyproject is not None else {}
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
        return Config()  # the dependency analyzer reports a broken pyproject.toml as a file problem
    table = data.get("tool", {}).get("paydown")
    if isinstance(table, dict):
        return parse_config(table, "pyproject.toml [tool.paydown]", rules)
    return Config()


def load_config(root: Path, rules: Iterable[Rule], explicit: Path | None = None) -> Config:
    """The configuration for a scan of ``root``: an explicit file, `.paydown.toml`, or pyproject's table.

    The folder's own files are read only while they stay inside it (links resolved) and under MAX_CONFIG_BYTES;
    one that is refused counts as absent and is listed in ``Config.problems``. An explicit file may live
    anywhere; over the cap it is a ConfigError.
    """
    if explicit is not None:
        data = _parse_toml(_read_explicit(explicit), str(explicit))
        table = data.get("tool", {}).get("paydown", data) if explicit.name == "pyproject.toml" else data
        return parse_config(table, str(explicit), rules)
    problems: list[Problem] = []
    config = _from_folder(root, rules, problems)
    return dataclasses.replace(config, problems=tuple(problems)) if problems else config
