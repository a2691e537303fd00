"""PD104 for Hydra projects: keys of the config tree under a ``@hydra.main`` config directory that no code reads.

Facts: for each function of a file that imports hydra or omegaconf, what each parameter's value is used for, as
key paths: ``cfg.a.b``, ``cfg["a"]["b"]``, ``cfg.get("a")`` and ``OmegaConf.select(cfg, "a.b")`` read a path;
``x = cfg.a`` makes ``x`` an alias; a path passed to a function of the repository is followed into it. Anything
else a path is used for (handed to ``instantiate`` or other outside code, ``**`` expanded, iterated, a method
called on it, ``cfg.get(name)``, stored, returned) reads the whole subtree: those are the escapes, and an
escaping node is never reported.

Judgment: the config files of the directory are mounted where Hydra composes them (``group/option.yaml`` at
``group``, ``# @package`` honoured), ``${a.b}`` interpolations count as reads, and a key is reported only when
no read touches it while its parent is read (the topmost unread key, once). Nothing is reported for a directory
whose root config escapes, whose defaults re-mount groups (``group@pkg``), whose file mounts are not read at
all, or in a repository that also composes or loads configs another way (``compose``, ``OmegaConf.load``,
``ConfigStore``): when in doubt, say nothing.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import libcst as cst

from ..cst import ParsedFile, dotted_name, string_value
from ..finding import Problem
from ._config import _is_binding_name, _key_line, _key_paths, _parse, _too_many_keys
from ._keylines import MAX_CONFIG_KEYS, key_lines

if TYPE_CHECKING:
    from ._extract import _Collector
    from ._index import Index

Path_ = tuple[str, ...]
_OTHER_ENTRIES = frozenset({"compose", "initialize", "initialize_config_dir", "initialize_config_module", "load",
                            "store", "create", "merge", "structured"})
_INTERPOLATION = re.compile(r"\$\{([^{}]*)\}")
_TOKEN = re.compile(r"(?<![\w.])[A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*")
_PACKAGE = re.compile(r"^#\s*@package\s+(\S+)")


class HydraCollector:
    """Runs once per file that imports hydra or omegaconf, after the shared walk."""

    def __init__(self, parsed: ParsedFile, owner: _Collector) -> None:
        self.parsed = parsed
        self.owner = owner

    def _hydra_ref(self, dotted: str) -> str:
        head, _, rest = dotted.partition(".")
        target = self.owner.imports.get(head, "")
        return f"{target}.{rest}" if rest and target else target

    def facts(self) -> dict[str, Any]:
        nodes = self.parsed.nodes()
        parents = {id(node): parent for node, parent, _ in nodes}
        mains: list[tuple[str, str, str, str, int]] = []
        other = False
        params: dict[str, set[str]] = {}
        for node, _parent, scope in nodes:
            if isinstance(node, cst.FunctionDef):
                qualified = f"{scope}.{node.name.value}" if scope else node.name.value
                every = (*node.params.posonly_params, *node.params.params, *node.params.kwonly_params)
                params[qualified] = {p.name.value for p in every}
                main = self._main(node, qualified)
                if main is not None:
                    mains.append(main)
            elif isinstance(node, cst.Call):
                ref = self._hydra_ref(dotted_name(node.func))
                if ref.split(".")[0] in ("hydra", "omegaconf") and ref.rsplit(".", 1)[-1] in _OTHER_ENTRIES:
                    other = True
        by_function: dict[str, list[tuple[cst.Name, Any, str]]] = {}
        for node, parent, scope in nodes:
            if type(node) is cst.Name:
                parts = scope.split(".") if scope else []
                for end in range(len(parts), 0, -1):  # the name belongs to every function enclosing it
                    within = ".".join(parts[:end])
                    if within in params:
                        by_function.setdefault(within, []).append((node, parent, scope))  # type: ignore[arg-type]
        return {"hydra_mains": tuple(mains), "hydra_other": other,
                "hydra_uses": {f"{self.owner.raw}.{function}": uses for function, names in params.items()
                               if (uses := self._uses(names, by_function.get(function, []), parents))}}

    def _main(self, node: cst.FunctionDef, qualified: str) -> tuple[str, str, str, str, int] | None:
        for decorator in node.decorators:
            call = decorator.decorator
            if not isinstance(call, cst.Call) or self._hydra_ref(dotted_name(call.func)) != "hydra.main":
                continue
            given = {a.keyword.value: string_value(a.value) for a in call.args if a.keyword is not None}
            first = node.params.params[0].name.value if node.params.params else ""
            folder = posixpath.dirname(self.parsed.path)
            if not given.get("config_path") or not given.get("config_name") or not first:
                return None
            directory = posixpath.normpath(posixpath.join(folder, given["config_path"]))  # type: ignore[arg-type]
            return (f"{self.owner.raw}.{qualified}", first, directory, given["config_name"] or "",
                    self.parsed.span(node)[0])
        return None

    def _uses(self, names: set[str], inside: list[tuple[cst.Name, Any, str]], parents: Mapping[int, Any]
              ) -> tuple[tuple[str, str, Path_, str, str], ...]:
        """(parameter, 'read' | 'pass', path, callee, slot) for every use of each parameter in the function."""
        tracked: dict[str, tuple[str, Path_]] = {name: (name, ()) for name in names}
        found: list[tuple[str, str, Path_, str, str]] = []
        for node, parent, scope in inside:
            if node.value not in tracked or _is_binding_name(node, parent):
                continue
            root, prefix = tracked[node.value]
            path, top, stopped = _chain(node, parents)
            path = (*prefix, *path)
            owner = parents.get(id(top))
            if stopped or not self._follow(owner, top, root, path, tracked, parents, scope, found):
                found.append((root, "read", path, "", ""))
        return tuple(found)

    def _follow(self, owner: Any, top: cst.CSTNode, root: str, path: Path_, tracked: dict[str, tuple[str, Path_]],
                parents: Mapping[int, Any], scope: str, found: list[tuple[str, str, Path_, str, str]]) -> bool:
        """Record a pass or an alias; False when the use reads the whole subtree at ``path``."""
        if isinstance(owner, cst.Assign) and owner.value is top and len(owner.targets) == 1 \
                and isinstance(owner.targets[0].target, cst.Name):
            tracked[owner.targets[0].target.value] = (root, path)
            return True
        if not (isinstance(owner, cst.Arg) and owner.value is top and not owner.star):
            return False
        call = parents.get(id(owner))
        if not isinstance(call, cst.Call):
            return False
        func = dotted_name(call.func)
        if self._hydra_ref(func).endswith("OmegaConf.select") and call.args[0] is owner and len(call.args) > 1:
            key = string_value(call.args[1].value)
            if key is None:
                return False
            found.append((root, "read", (*path, *key.split(".")), "", ""))
            return True
        if not func:
            return False
        slot = f"kw:{owner.keyword.value}" if owner.keyword is not None else str(call.args.index(owner))
        found.append((root, "pass", path, self.owner.cli.callee(func, scope), slot))
        return True


def _chain(name: cst.Name, parents: Mapping[int, Any]) -> tuple[Path_, cst.CSTNode, bool]:
    """The literal key path read from ``name``, the outermost node of that access, and whether the access
    stopped at something that reads the whole subtree (a computed key, a method call)."""
    keys: list[str] = []
    current: cst.CSTNode = name
    while True:
        owner = parents.get(id(current))
        if isinstance(owner, cst.Subscript) and owner.value is current:
            index = owner.slice[0].slice if len(owner.slice) == 1 else None
            key = string_value(index.value) if isinstance(index, cst.Index) else None
            if key is None:
                return tuple(keys), current, True
            keys.append(key)
            current = owner
            continue
        if isinstance(owner, cst.Attribute) and owner.value is current:
            call = parents.get(id(owner))
            if isinstance(call, cst.Call) and call.func is owner:
                key = string_value(call.args[0].value) if owner.attr.value == "get" and call.args else None
                if key is None:
                    return tuple(keys), current, True  # a method: items(), get(name), to_container ...
                keys.append(key)
                current = call
                continue
            keys.append(owner.attr.value)
            current = owner
            continue
        return tuple(keys), current, False


# judgment --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnreadHydraKey:
    config: str
    keys: Path_  # in the composed config
    line: int
    mains: tuple[tuple[str, int, str], ...]  # (python path, line, parameter)


def _reads(index: Index, path: str, function: str, param: str) -> set[Path_]:
    """Every key path read from a parameter's value, following it into the repository's functions."""
    reads: set[Path_] = set()
    stack = [(path, function, param, ())]
    seen: set[tuple[str, str, str, Path_]] = set()
    while stack:
        item = stack.pop()
        if item in seen or len(seen) > 2000:
            reads.add(item[3])
            continue
        seen.add(item)
        here, fn, name, prefix = item
        facts = index.facts[here]
        for root, kind, keys, callee, slot in facts.hydra_uses.get(f"{facts.raw_module}.{fn}" if
                                                                  facts.raw_module else fn, ()):
            if root != name:
                continue
            full = (*prefix, *keys)
            target = _callee(index, here, callee, slot) if kind == "pass" else None
            if target is not None and not index.facts[target[0]].uses_hydra:
                target = None  # a file that imports neither hydra nor omegaconf is not analysed: all read
            if target is None:
                reads.add(full)
            else:
                stack.append((*target, full))
    return reads


def _callee(index: Index, caller: str, callee: str, slot: str) -> tuple[str, str, str] | None:
    if callee.startswith("?"):
        return None
    found = index.locate_from(caller, callee, index.functions)
    if found is None:
        return None
    params = index.functions[found]
    if slot.startswith("kw:"):
        name = slot[3:]
        return (*found, name) if name in params else None
    position = int(slot) + (1 if params and params[0] in ("self", "cls") else 0)
    return (*found, params[position]) if position < len(params) else None


class _Reads:
    """The read key paths, and every prefix of them, as sets: a key is looked up in time of its depth."""

    def __init__(self, reads: set[Path_]) -> None:
        self.reads = reads
        self.prefixes = {r[:end] for r in reads for end in range(len(r) + 1)}

    def covers(self, keys: Path_) -> bool:
        """A read of the key, of one of its parents, or of something below it."""
        return keys in self.prefixes or any(keys[:end] in self.reads for end in range(len(keys) + 1))


def _mount(relative: str, text: str) -> Path_ | None:
    group = tuple(relative.split("/")[:-1])
    for line in text.splitlines()[:5]:
        match = _PACKAGE.match(line.strip())
        if match:
            package = match.group(1)
            if package == "_global_":
                return ()
            if package == "_group_":
                return group
            if "_name_" in package or "@" in package:
                return None
            return tuple(p for p in package.replace("_group_", ".".join(group)).split(".") if p)
    return group


def _interpolated(text: str, mount: Path_, reads: set[Path_]) -> None:
    for body in _INTERPOLATION.findall(text):
        if body.lstrip().startswith("."):
            reads.add(mount)  # relative interpolation: this file's keys read one another
        reads.update(tuple(token.split(".")) for token in _TOKEN.findall(body))


def unread_hydra_keys(snapshot: Any, index: Index, is_test: Any,
                      problems: list[Problem] | None = None) -> list[UnreadHydraKey]:
    facts = index.facts
    if any(f.hydra_other for path, f in facts.items() if not is_test(path)):
        return []
    mains: dict[str, list[tuple[str, str, str, int]]] = {}
    for path, f in facts.items():
        for function, param, directory, _name, line in f.hydra_mains:
            rest = function[len(f.raw_module) + 1:] if f.raw_module else function
            mains.setdefault(directory, []).append((path, rest, param, line))
    found: list[UnreadHydraKey] = []
    for directory, entries in sorted(mains.items()):
        reads = set().union(*(_reads(index, path, fn, param) for path, fn, param, _ in entries))
        found.extend(_directory(snapshot, directory, reads, entries, problems))
    return found


def _directory(snapshot: Any, directory: str, reads: set[Path_], entries: list[tuple[str, str, str, int]],
               problems: list[Problem] | None = None) -> list[UnreadHydraKey]:
    if () in reads:
        return []
    prefix = directory.rstrip("/") + "/" if directory not in ("", ".") else ""
    configs: list[tuple[str, Path_, str, Any]] = []
    for path in sorted(snapshot.files):
        if not path.startswith(prefix) or not path.endswith((".yaml", ".yml")):
            continue
        relative = path[len(prefix):]
        text = snapshot.files[path].text
        data = _parse(text, "yaml", path, problems)
        mount = _mount(relative, text)
        _interpolated(text, mount or (), reads)  # Hydra's own settings name keys too: `${task_name}`
        if relative.split("/")[0] == "hydra":
            continue  # Hydra's own settings
        if data is None and all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines()):
            data = {}  # an empty option (`none.yaml`) selects nothing
        if mount is None or not isinstance(data, Mapping):
            return []
        defaults = data.get("defaults", [])
        if any("@" in str(entry) for entry in (defaults if isinstance(defaults, list) else [defaults])):
            return []  # a group mounted elsewhere: where its keys land is not followed
        configs.append((path, mount, text, data))
    shown = tuple((path, line, param) for path, _fn, param, line in entries)
    found = []
    read = _Reads(reads)
    for path, mount, text, data in configs:
        if mount and not read.covers(mount):
            continue  # nothing reads where this file lands: it may be meant for another tool
        paths = _key_paths(data)
        if len(paths) > MAX_CONFIG_KEYS:
            if problems is not None:
                problems.append(_too_many_keys(path, len(paths)))
            continue
        line_of = key_lines(text, "yaml", _key_line)
        for keys, _value in paths:
            if keys[0] in ("defaults", "hydra") or any(k.startswith("_") for k in keys):
                continue
            full = (*mount, *keys)
            if read.covers(full) or not read.covers(full[:-1]):
                continue
            found.append(UnreadHydraKey(path, full, line_of(keys), shown))
    return found
