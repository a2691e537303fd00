"""Repository-level judgment: which literal bindings are switches that never switch, which options nobody reads."""

from __future__ import annotations

import ast
import operator
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import _reach
from ._index import Index
from ._model import Binding, FileFacts, Option, Test

_OPS = {"==": operator.eq, "!=": operator.ne, "is": operator.is_, "is not": operator.is_not,
        "in": lambda a, b: a in b, "not in": lambda a, b: a not in b, "<": operator.lt, "<=": operator.le,
        ">": operator.gt, ">=": operator.ge}
_BENIGN_CALLS = frozenset({"print", "pprint", "info", "debug", "warning", "warn", "error", "exception", "critical",
                           "log", "echo", "secho", "format"})
_SCRIPT_SUFFIXES = (".sh", ".bash", ".yml", ".yaml", ".cfg", ".ini", ".toml", ".txt", ".in")
_SCRIPT_NAMES = ("Makefile", "Dockerfile")
_TEST_FOLDERS = frozenset({"tests", "test", "testing"})


@dataclass(frozen=True, slots=True)
class Switch:
    path: str
    binding: Binding
    qualified: str
    value: Any
    tests: tuple[tuple[str, Test, bool], ...]  # (path, test, outcome)


@dataclass(frozen=True, slots=True)
class UnreadOption:
    path: str
    option: Option
    passed_by: tuple[str, ...]


def outcome(test: Test, value: Any) -> bool | None:
    """What the test evaluates to with the flag's value, or None when the flag alone does not decide it."""
    try:
        if test.form == "truth":
            result = bool(value)
        elif test.form == "not":
            result = not value
        else:
            other = ast.literal_eval(test.other)
            left, right = (value, other) if test.flag_left else (other, value)
            result = bool(_OPS[test.op](left, right))
    except (ValueError, TypeError, SyntaxError, KeyError):
        return None
    if test.joined == "and" and result:
        return None
    if test.joined == "or" and not result:
        return None
    if test.context == "while" and result:
        return None  # `while RUNNING:` loops that break out are not dead code
    return result


def is_test_path(path: str) -> bool:
    """Test code: a test that pins or patches a value shows the value can be changed by a test, not at run time."""
    *folders, name = path.split("/")
    return bool(_TEST_FOLDERS & set(folders)) or name.startswith("test_") or name == "conftest.py" \
        or name.endswith(("_test.py", "_tests.py"))


def _dynamic_namespaces(index: Index) -> tuple[set[str], set[tuple[str, str]]]:
    """Modules (paths) and classes (path, class) whose names some non-test code writes with computed names."""
    modules: set[str] = set()
    classes: set[tuple[str, str]] = set()
    for path, f in index.facts.items():
        if f.writes_globals:
            modules.add(path)  # its own names, test module or not
        if is_test_path(path):
            continue
        for ref in f.dynamic_targets:
            exact = index.modules.get(ref)
            if exact is not None:
                modules.add(exact)
                continue
            found = index.split(ref)
            if found is not None:
                classes.add(found)
    return modules, classes


def dead_lines(test: Test, result: bool) -> tuple[int, int]:
    """The lines a decided test never runs, (0, 0) when there are none."""
    if test.context == "while":
        return test.body
    return test.orelse if result else test.body


def constant_switches(index: Index) -> list[Switch]:
    facts = index.facts
    production = [f for path, f in facts.items() if not is_test_path(path)]
    rebound: set[str] = set().union(*(f.rebound_attrs for f in production)) if production else set()
    dynamic_modules, dynamic_classes = _dynamic_namespaces(index)
    class_names = Counter(name.rsplit(".", 1)[-1] for f in facts.values() for name in f.bound if "." in name)
    class_names.update(b.name.rsplit(".", 1)[-1] for f in facts.values() for b in f.bindings if b.scope)
    uses: dict[tuple[str, str], list[tuple[str, Test]]] = {}
    for path, f in facts.items():
        for test in f.tests:
            target = index.locate(test.ref, index.bindings)
            if target is not None:
                uses.setdefault(target, []).append((path, test))
    switches = []
    for (path, name), tests in sorted(uses.items()):
        binding = index.bindings[(path, name)]
        simple = name.rsplit(".", 1)[-1]
        if simple in rebound or path in dynamic_modules or (path, binding.scope) in dynamic_classes \
                or (binding.scope and class_names[simple] > 1):
            continue
        value = ast.literal_eval(binding.value)
        # Only a test that leaves code unreachable counts: an always-true `if` with no else kills nothing.
        decided = tuple((p, t, o) for p, t in tests if (o := outcome(t, value)) is not None and dead_lines(t, o)[0])
        if decided:
            switches.append(Switch(path, binding, index.qualified(path, name), value, decided))
    return switches


class _Flow:
    """Follows a parsed namespace through variables, parameters and returns; any doubt means it escapes."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.seen: set[tuple[str, str]] = set()
        self.files: set[str] = set()  # where the namespace was followed to
        self.opaque = False  # stored somewhere the flow does not follow (a container, an attribute)
        self.callers: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self.unassigned: dict[tuple[str, str], int] = Counter()
        for path, f in index.facts.items():
            for callee, key in f.call_results:
                found = index.locate(callee, index.functions)
                if found is not None:
                    self.callers.setdefault(found, []).append((path, key))
            for callee in f.unassigned_calls:
                found = index.locate(callee, index.functions)
                if found is not None:
                    self.unassigned[found] += 1

    def reset(self) -> None:
        self.seen, self.files, self.opaque = set(), set(), False

    def escapes_from_factory(self, function: tuple[str, str]) -> bool:
        if self.unassigned[function]:
            return True
        return any(self.escapes(path, key) for path, key in self.callers.get(function, []))

    def escapes(self, path: str, key: str) -> bool:
        if (path, key) in self.seen:
            return False
        if len(self.seen) > 500:
            return True
        self.seen.add((path, key))
        self.files.add(path)
        facts = self.index.facts[path]
        usage = facts.usages.get(key)
        if usage is None:
            return False
        if usage.escapes or (usage.stored and facts.dynamic):
            return True
        self.opaque = self.opaque or usage.stored
        scope = key.split("|", 1)[0]
        if usage.returned and (not scope or self.escapes_from_factory((path, scope))):
            return True
        return any(self._passed(callee, where, path) for callee, where in usage.passes)

    def _passed(self, callee: str, where: str, caller: str) -> bool:
        if callee.startswith("?"):
            return callee.rsplit(".", 1)[-1] not in _BENIGN_CALLS
        found = self.index.locate_from(caller, callee, self.index.functions)
        offset = 0
        if found is None:
            found = self.index.locate_from(caller, callee + ".__init__", self.index.functions)
            offset = 1
        if found is None:
            return True  # handed to code outside the repository
        path, function = found
        params = self.index.functions[found]
        owner = function.rpartition(".")[0]
        if offset == 0 and owner and owner in self.index.facts[path].plain_classes | _class_scopes(self.index, path):
            offset = 1
        if where.startswith("kw:"):
            name = where[3:]
            if name not in params:
                return True
        else:
            position = int(where) + offset
            if position >= len(params):
                return True
            name = params[position]
        return self.escapes(path, f"{function}|{name}")


def _class_scopes(index: Index, path: str) -> set[str]:
    return {function.rpartition(".")[0] for (p, function) in index.functions if p == path and "." in function}


def unread_options(index: Index, files: Mapping[str, Any]) -> list[UnreadOption]:
    facts = index.facts
    flow = _Flow(index)
    neighbours: dict[str, set[str]] | None = None
    env = set().union(*(f.env_reads for f in facts.values())) if facts else set()
    reads: dict[str, set[str] | None] = {}  # parser -> attribute names read where its namespace goes
    found = []
    for path, f in sorted(facts.items()):
        for option in f.options:
            if option.framework == "argparse":
                if not option.parser or option.dest.upper() in env:
                    continue  # launcher compatibility: the value arrives in the environment (LOCAL_RANK)
                if option.parser not in reads:
                    flow.reset()
                    if not _parser_is_followed(index, flow, option.parser):
                        reads[option.parser] = None
                    else:
                        where = flow.files | {path}
                        if flow.opaque:
                            neighbours = neighbours if neighbours is not None else _reach.import_neighbours(index)
                            where = _reach.connected(neighbours, where)
                        reads[option.parser] = set().union(*(facts[p].read_attrs for p in where))
                read = reads[option.parser]
                if read is None or option.dest in read:
                    continue
            elif not option.unread_in_function:
                continue
            found.append(UnreadOption(path, option, _passed_by(option, files)))
    return found


def _parser_is_followed(index: Index, flow: _Flow, parser: str) -> bool:
    """True when every parse of this parser lands in variables whose every use can be seen."""
    sites: list[tuple[str, str]] = []
    factories: list[tuple[str, str]] = []
    for f in index.facts.values():
        for function, key in f.parser_factories.items():
            if key == parser:
                located = index.locate(function, index.functions)
                if located is not None:
                    factories.append(located)
    for path, f in index.facts.items():
        for key, usage in f.parse_sites:
            if key == parser or (key.startswith("call:") and index.locate(key[5:], index.functions) in factories):
                sites.append((path, usage))
    if not sites:
        return False
    flow.files.update(path for path, _ in (*sites, *factories))
    for path, usage in sites:
        if usage.startswith("return:"):
            if flow.escapes_from_factory((path, usage[7:])):
                return False
        elif not usage or flow.escapes(path, usage):
            return False
    return True


def _passed_by(option: Option, files: Mapping[str, Any]) -> tuple[str, ...]:
    longs = [flag for flag in option.flags if flag.startswith("--")]
    if not longs:
        return ()
    pattern = re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(flag) for flag in longs) + r")(?![\w-])")
    return tuple(path for path, file in sorted(files.items()) if not file.is_python
                 and (path.endswith(_SCRIPT_SUFFIXES) or path.rsplit("/", 1)[-1] in _SCRIPT_NAMES)
                 and pattern.search(file.text))[:5]


def file_facts(raw: Mapping[str, Any]) -> dict[str, FileFacts]:
    return {path: value for path, value in raw.items() if isinstance(value, FileFacts)}
