"""Every debt module on disk is registered, and every analyzer keeps the contract (renovate's index.spec)."""

from __future__ import annotations

import importlib
import inspect
import re
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

import paydown.analyzers
from paydown.analyzers import ALL_RULES, ANALYZERS, rule_by_id
from paydown.analyzers.base import Analyzer
from paydown.analyzers.finding import Kind, Rule

INFRASTRUCTURE = {"finding", "base", "config", "cst", "snapshot", "notebook", "workers", "runner", "report", "suppress",
                  "terminal", "summary", "__init__"}
KIND_OF_HUNDRED = {
    "1": Kind.DEAD_FLAG,
    "2": Kind.UNPINNED_DEPENDENCY,
    "3": Kind.DUPLICATED_FEATURE_LOGIC,
    "4": Kind.UNDOCUMENTED_INPUT,
}
ANALYZERS_DIR = Path(paydown.analyzers.__file__).resolve().parent


def _modules_on_disk() -> set[str]:
    names = set()
    for entry in ANALYZERS_DIR.iterdir():
        if entry.name.startswith((".", "_")) and entry.name != "__init__.py":
            continue
        if entry.is_file() and entry.suffix == ".py":
            names.add(entry.stem)
        elif entry.is_dir() and (entry / "__init__.py").is_file():
            names.add(entry.name)
    return names


DEBT_MODULES = sorted(_modules_on_disk() - INFRASTRUCTURE)


def _module_of(analyzer: Analyzer) -> str:
    parts = analyzer.find.__module__.split(".")
    assert parts[:2] == ["paydown", "analyzers"] and len(parts) >= 3, analyzer.find.__module__
    return parts[2]


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"paydown.analyzers.{name}")


def _public_functions(module: ModuleType) -> list[str]:
    return sorted(
        name for name, value in vars(module).items()
        if not name.startswith("_") and inspect.isfunction(value)
        and (value.__module__ == module.__name__ or value.__module__.startswith(module.__name__ + "."))
    )


def test_the_analyzers_folder_is_found_on_disk() -> None:
    assert (ANALYZERS_DIR / "finding.py").is_file()
    assert "finding" in _modules_on_disk()


def test_there_is_at_least_one_debt_module() -> None:
    assert DEBT_MODULES, f"no debt module found in {ANALYZERS_DIR}"


@pytest.mark.parametrize("name", DEBT_MODULES)
def test_every_debt_module_is_registered(name: str) -> None:
    registered = {_module_of(analyzer) for analyzer in ANALYZERS}
    assert name in registered, f"analyzers/{name} is not in ANALYZERS (analyzers/__init__.py)"


def test_every_registered_analyzer_lives_in_a_debt_module() -> None:
    modules = [_module_of(analyzer) for analyzer in ANALYZERS]
    assert sorted(set(modules)) == DEBT_MODULES
    assert len(modules) == len(set(modules)), "an analyzer module is registered twice"


def test_analyzer_names_are_unique() -> None:
    names = [analyzer.name for analyzer in ANALYZERS]
    assert len(names) == len(set(names)), Counter(names)


@pytest.mark.parametrize("name", DEBT_MODULES)
def test_analyzer_module_keeps_the_contract(name: str) -> None:
    module = _load(name)
    assert (module.__doc__ or "").strip(), f"analyzers/{name} has no module docstring"
    rules = getattr(module, "RULES", None)
    assert isinstance(rules, tuple) and rules, f"analyzers/{name} must export a non-empty RULES tuple"
    assert all(isinstance(rule, Rule) for rule in rules)
    analyzer = getattr(module, "ANALYZER", None)
    assert isinstance(analyzer, Analyzer), f"analyzers/{name} must export ANALYZER"
    assert tuple(analyzer.rules) == rules, "ANALYZER.rules must be the module's RULES"
    assert analyzer.version, "ANALYZER.version feeds the cache key and must not be empty"
    public = _public_functions(module)
    assert len(public) == 1, f"analyzers/{name} must have exactly one public function, has {public}"
    assert public[0].startswith("find_"), f"the public entry {public[0]!r} must be named find_*"
    assert analyzer.find is getattr(module, public[0]), "ANALYZER.find must be the public entry"


def test_all_rules_is_the_union_of_the_registered_rules() -> None:
    assert tuple(rule for analyzer in ANALYZERS for rule in analyzer.rules) == ALL_RULES


def test_rule_ids_are_unique() -> None:
    ids = Counter(rule.id for rule in ALL_RULES)
    assert not [i for i, n in ids.items() if n > 1], ids


def test_rule_names_are_unique() -> None:
    names = Counter(rule.name for rule in ALL_RULES)
    assert not [i for i, n in names.items() if n > 1], names


def test_rule_names_and_ids_do_not_collide_with_kinds() -> None:
    kinds = {kind.value for kind in Kind}
    for rule in ALL_RULES:
        assert rule.name != rule.id
        assert rule.id not in kinds


RULE_PARAMS = [pytest.param(rule, id=rule.id) for rule in ALL_RULES]


@pytest.mark.parametrize("rule", RULE_PARAMS)
def test_rule_id_is_well_formed_and_matches_its_kind(rule: Rule) -> None:
    assert re.fullmatch(r"PD\d{3}", rule.id), rule.id
    assert KIND_OF_HUNDRED.get(rule.id[2]) is rule.kind, f"{rule.id} is {rule.kind.value}"
    assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", rule.name), rule.name


@pytest.mark.parametrize("rule", RULE_PARAMS)
def test_rule_documentation_parts_are_filled(rule: Rule) -> None:
    for part in ("summary", "why", "example", "fix"):
        assert getattr(rule, part).strip(), f"{rule.id}.{part} is empty"


@pytest.mark.parametrize("rule", RULE_PARAMS)
def test_rule_has_valid_and_invalid_cases(rule: Rule) -> None:
    valid = [case for case in rule.cases if not case.expect]
    invalid = [case for case in rule.cases if case.expect]
    assert valid, f"{rule.id} needs at least one valid case (no expect)"
    if rule.merged_into:
        # A retired rule reports nothing: its cases show that what it found is now the other rule's finding.
        target = rule_by_id(rule.merged_into)
        assert target is not None and not target.merged_into, f"{rule.id} is merged into unknown {rule.merged_into}"
        assert not any(rule.id == expected[0] for case in rule.cases for expected in case.expect)
        return
    assert invalid, f"{rule.id} needs at least one invalid case"
    assert any(rule.id == expected[0] for case in invalid for expected in case.expect), \
        f"no invalid case of {rule.id} expects {rule.id}"


@pytest.mark.parametrize("rule", RULE_PARAMS)
def test_rule_cases_are_well_formed(rule: Rule) -> None:
    names = Counter(case.name for case in rule.cases)
    assert all(n == 1 for n in names.values()), f"{rule.id} has duplicate case names: {names}"
    for case in rule.cases:
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", case.name), f"{rule.id} case name {case.name!r}"
        assert case.files, f"{rule.id}-{case.name} has no files"
        for rule_id, path, line in case.expect:
            assert rule_by_id(rule_id) is not None, f"{rule.id}-{case.name} expects unknown rule {rule_id}"
            assert path in case.files, f"{rule.id}-{case.name} expects a finding in missing file {path}"
            assert isinstance(line, int) and line >= 1


def test_rule_by_id_finds_by_id_and_name() -> None:
    for rule in ALL_RULES:
        assert rule_by_id(rule.id) is rule
        assert rule_by_id(rule.name) is rule
    assert rule_by_id("PD000") is None


def test_every_analyzer_package_ships_in_the_wheel() -> None:
    # pyproject lists packages explicitly (folders are mapped under `paydown`); a missing entry installs broken.
    import tomllib

    pyproject = tomllib.loads((ANALYZERS_DIR.parent / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(pyproject["tool"]["setuptools"]["packages"])
    packages = {f"paydown.analyzers.{entry.name}" for entry in ANALYZERS_DIR.iterdir()
                if entry.is_dir() and (entry / "__init__.py").is_file()}
    assert packages <= listed
    assert all((ANALYZERS_DIR / name.removeprefix("paydown.analyzers.")).is_dir()
               for name in listed if name.startswith("paydown.analyzers."))
