"""PD104's facts and judgment: config files loaded with a literal path, and every key their loads read.

A load proves something only when it is assigned to a plain name and every use of that name is a chain of
literal subscripts or ``.get("key")`` calls; anything else (the name passed on, returned, iterated, ``**cfg``,
``cfg[name]``, a sub-mapping handed elsewhere) is an escape and the load proves nothing.
"""

from __future__ import annotations

import json
import posixpath
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import libcst as cst

from ..cst import ParsedFile, dotted_name, string_value
from ..finding import Problem
from ..snapshot import YAMLTooExpanded, load_yaml
from ._keylines import MAX_CONFIG_KEYS, key_lines
from ._model import ConfigLoad, FileFacts

CONFIG_SUFFIXES = (".yaml", ".yml", ".json", ".toml")
_HYDRA = frozenset({"hydra", "omegaconf"})
# Loader functions (qualified through imports) -> format; the ``s`` variants take text.
_LOADERS = {
    "yaml.safe_load": "yaml", "yaml.full_load": "yaml", "yaml.load": "yaml",
    "json.load": "json", "json.loads": "json",
    "tomllib.load": "toml", "tomllib.loads": "toml", "tomli.load": "toml", "tomli.loads": "toml",
    "toml.load": "toml", "toml.loads": "toml",
}
_LOADER_LAST = frozenset(name.rsplit(".", 1)[-1] for name in _LOADERS)
_FORMAT_SUFFIXES = {"yaml": (".yaml", ".yml"), "json": (".json",), "toml": (".toml",)}
# Files that tools other than the repository's code read: their keys are never "unread".
_TOOL_FILES = frozenset({
    "pyproject.toml", "package.json", "package-lock.json", "tsconfig.json", "params.yaml", "dvc.yaml",
    "environment.yml", "environment.yaml", "conda.yaml", "conda.yml", "mkdocs.yml", "mkdocs.yaml",
    ".pre-commit-config.yaml", "mlproject", "chart.yaml", "values.yaml", "codecov.yml", ".readthedocs.yaml",
    ".readthedocs.yml", "docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml",
    "cloudbuild.yaml", "app.yaml", "serverless.yml", "netlify.toml", "ruff.toml", ".ruff.toml", "mypy.toml",
    "poetry.lock", "pixi.toml", "cargo.toml", ".paydown.toml", "bentofile.yaml", "kustomization.yaml",
})
_SCRIPT_SUFFIXES = (".sh", ".bash", ".yml", ".yaml", ".cfg", ".ini", ".toml", ".txt")
_SCRIPT_NAMES = ("Makefile", "Dockerfile")


def _literal_path(node: cst.BaseExpression) -> tuple[str, str] | None:
    """(literal path, 'any' | 'file') for ``"x.yaml"``, ``Path("x.yaml")``, ``Path(__file__).parent / "x"``."""
    value = string_value(node)
    if value is not None:
        return value, "any"
    if isinstance(node, cst.Call) and dotted_name(node.func) in ("Path", "pathlib.Path") and len(node.args) == 1 \
            and not node.args[0].keyword and not node.args[0].star:
        value = string_value(node.args[0].value)
        return (value, "any") if value is not None else None
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Divide):
        right = string_value(node.right)
        left = node.left
        if right is None:
            return None
        if isinstance(left, cst.Call) and not left.args and isinstance(left.func, cst.Attribute) \
                and left.func.attr.value in ("resolve", "absolute"):
            left = left.func.value
        if isinstance(left, cst.Attribute) and left.attr.value == "parent":
            inner = left.value
            if isinstance(inner, cst.Call) and not inner.args and isinstance(inner.func, cst.Attribute) \
                    and inner.func.attr.value in ("resolve", "absolute"):
                inner = inner.func.value
            if isinstance(inner, cst.Call) and dotted_name(inner.func) in ("Path", "pathlib.Path") \
                    and len(inner.args) == 1 and dotted_name(inner.args[0].value) == "__file__":
                return right, "file"
    return None


def _opened(node: cst.BaseExpression, text: bool, withs: Mapping[tuple[str, str], tuple[str, str] | None],
            scope: str) -> tuple[str, str] | None:
    """The literal path a loader's argument opens: ``open(p)``, ``Path(p).open()``, a ``with ... as f`` name,
    ``Path(p).read_text()`` / ``open(p).read()`` for the text loaders."""
    if isinstance(node, cst.Name) and not text:
        return withs.get((scope, node.value))
    if not isinstance(node, cst.Call):
        return None
    func = node.func
    if text:
        if isinstance(func, cst.Attribute) and func.attr.value in ("read_text", "read") and not node.args:
            inner = func.value
            if func.attr.value == "read":
                return _opened(inner, False, {}, scope) if isinstance(inner, cst.Call) else None
            return _literal_path(inner)
        return None
    if dotted_name(func) in ("open", "io.open", "codecs.open") and node.args and not node.args[0].keyword:
        return _literal_path(node.args[0].value)
    if isinstance(func, cst.Attribute) and func.attr.value == "open":
        return _literal_path(func.value)
    return None


def _is_safe_call(call: cst.Call, qualified: str) -> bool:
    if qualified != "yaml.load":
        return True
    return any(a.keyword is not None and a.keyword.value == "Loader" and dotted_name(a.value).endswith("Loader")
               for a in call.args) or (len(call.args) == 2 and dotted_name(call.args[1].value).endswith("Loader"))


class ConfigCollector:
    """Collects loader calls and config-file mentions during the shared walk; judges uses afterwards."""

    def __init__(self, parsed: ParsedFile) -> None:
        self.parsed = parsed
        self.calls: list[tuple[cst.Call, cst.CSTNode | None, str]] = []
        self.strings: list[tuple[cst.SimpleString, str]] = []

    def visit_call(self, node: cst.Call, parent: cst.CSTNode | None, scope: str) -> None:
        func = node.func
        last = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) \
            else ""
        if last in _LOADER_LAST:
            self.calls.append((node, parent, scope))

    def visit_string(self, node: cst.SimpleString) -> None:
        raw = node.value
        if any(suffix in raw for suffix in CONFIG_SUFFIXES):
            value = string_value(node)
            if value is not None and value.lower().endswith(CONFIG_SUFFIXES):
                self.strings.append((node, value))

    def facts(self, imports: Mapping[str, str]) -> dict[str, Any]:
        hydra = any(target.split(".")[0] in _HYDRA for target in imports.values())
        loads: list[ConfigLoad] = []
        used_strings: set[int] = set()
        candidates = []
        for call, parent, scope in self.calls:
            dotted = dotted_name(call.func)
            head, _, rest = dotted.partition(".")
            target = imports.get(head, head if head in ("yaml", "json", "tomllib", "tomli", "toml") else "")
            qualified = f"{target}.{rest}" if rest else target
            fmt = _LOADERS.get(qualified)
            if fmt is None or not call.args or call.args[0].keyword or call.args[0].star:
                continue
            candidates.append((call, parent, scope, qualified, fmt))
        if not candidates:
            return {"config_loads": (), "config_mentions": frozenset(v.rsplit("/", 1)[-1].lower()
                                                                      for _, v in self.strings),
                    "uses_hydra": hydra}
        nodes = self.parsed.nodes()
        parents: dict[int, cst.CSTNode | None] = {}
        names: dict[str, list[tuple[cst.Name, str]]] = {}
        for node, parent, _scope in nodes:
            parents[id(node)] = parent
            if type(node) is cst.Name:
                names.setdefault(node.value, []).append((node, _scope))  # type: ignore[arg-type]
        unknown: set[str] = set()
        for call, parent, scope, qualified, fmt in candidates:
            arg = call.args[0].value
            withs = _enclosing_with(call, arg, parents, scope)
            if qualified.endswith("loads"):
                found = _opened(arg, True, withs, scope)
            else:
                found = _opened(arg, False, withs, scope)
                if found is None and fmt == "yaml":
                    found = _opened(arg, True, withs, scope)
                if found is None and qualified == "toml.load":
                    found = _literal_path(arg)
            if found is None:
                if _may_read_a_file(arg, qualified):
                    unknown.add(fmt)  # some file of this format is loaded from a path that cannot be followed
                continue
            literal, relative = found
            if not literal.lower().endswith(_FORMAT_SUFFIXES[fmt]):
                continue
            for sub in _descendants(arg, nodes) if not isinstance(arg, cst.Name) else ():
                used_strings.add(id(sub))
            if isinstance(arg, cst.Name):
                used_strings.update(id(s) for s, v in self.strings if v == literal)
            var, module_level, uses = self._uses(call, parent, scope, parents, names)
            if not _is_safe_call(call, qualified):
                var, uses = "", ((),)  # yaml.load without a known Loader: a load, but not one to trust
            loads.append(ConfigLoad(path=literal, relative=relative, fmt=fmt, loader=qualified, var=var,
                                    module_level=module_level, line=self.parsed.span(call)[0], uses=uses))
        mentions = frozenset(v.rsplit("/", 1)[-1].lower() for s, v in self.strings if id(s) not in used_strings)
        return {"config_loads": tuple(loads), "config_mentions": mentions, "uses_hydra": hydra,
                "config_unknown": frozenset(unknown)}

    def _uses(self, call: cst.Call, parent: cst.CSTNode | None, scope: str, parents: Mapping[int, Any],
              names: Mapping[str, list[tuple[cst.Name, str]]]) -> tuple[str, bool, tuple[tuple[str, ...], ...]]:
        """The variable a load is assigned to and the key path of each of its uses; ``()`` is an escape."""
        target: cst.CSTNode | None = None
        if isinstance(parent, cst.Assign) and parent.value is call and len(parent.targets) == 1:
            target = parent.targets[0].target
        elif isinstance(parent, cst.AnnAssign) and parent.value is call:
            target = parent.target
        if not isinstance(target, cst.Name):
            return "", False, ((),)
        var = target.value
        uses: list[tuple[str, ...]] = []
        for name, name_scope in names.get(var, ()):
            if name is target:
                continue
            if scope and not (name_scope == scope or name_scope.startswith(scope + ".")):
                continue
            owner = parents.get(id(name))
            if _is_binding_name(name, owner):
                continue
            uses.append(_chain(name, parents))
        return var, not scope, tuple(uses)


def _may_read_a_file(arg: cst.BaseExpression, qualified: str) -> bool:
    """A loader argument that may be a file opened from a computed path (streams, names, ``x.read()``)."""
    if not qualified.endswith("loads") and not qualified.startswith("yaml."):
        return True  # json.load / tomllib.load / toml.load take a stream or a path
    if isinstance(arg, cst.Name):
        return True
    if isinstance(arg, cst.Call):
        func = arg.func
        if dotted_name(func) in ("open", "io.open", "codecs.open"):
            return True
        return isinstance(func, cst.Attribute) and func.attr.value in ("read", "read_text", "read_bytes", "open")
    return False


def _enclosing_with(call: cst.Call, arg: cst.BaseExpression, parents: Mapping[int, Any],
                    scope: str) -> dict[tuple[str, str], tuple[str, str] | None]:
    """For ``with open(p) as f: yaml.safe_load(f)``: {(scope, 'f'): p} from the innermost ``with`` binding f."""
    if not isinstance(arg, cst.Name):
        return {}
    node: Any = parents.get(id(call))
    while node is not None and not isinstance(node, (cst.FunctionDef, cst.ClassDef)):
        if isinstance(node, cst.With):
            for item in node.items:
                if item.asname is not None and isinstance(item.asname.name, cst.Name) \
                        and item.asname.name.value == arg.value:
                    return {(scope, arg.value): _opened(item.item, False, {}, scope)}
        node = parents.get(id(node))
    return {}


def _descendants(node: cst.CSTNode, nodes: list[Any]) -> list[cst.CSTNode]:
    found = []
    stack = [node]
    while stack:
        item = stack.pop()
        found.append(item)
        stack.extend(item.children)
    return found


def _is_binding_name(name: cst.Name, owner: Any) -> bool:
    """Names that are not reads of the variable: attribute names, keywords, parameters, new bindings."""
    if isinstance(owner, cst.Attribute) and owner.attr is name:
        return True
    if isinstance(owner, (cst.Arg, cst.Param)) and (getattr(owner, "keyword", None) is name or
                                                    getattr(owner, "name", None) is name):
        return True
    if isinstance(owner, (cst.AssignTarget, cst.FunctionDef, cst.ClassDef, cst.ImportAlias, cst.NameItem,
                          cst.AsName)):
        return True
    return isinstance(owner, cst.AnnAssign) and owner.target is name


def _chain(name: cst.Name, parents: Mapping[int, Any]) -> tuple[str, ...]:
    """The literal key path read from ``name``: ``cfg["a"].get("b")`` -> ("a", "b"); bare uses -> ()."""
    keys: list[str] = []
    current: cst.CSTNode = name
    while True:
        owner = parents.get(id(current))
        if isinstance(owner, cst.Subscript) and owner.value is current and len(owner.slice) == 1 \
                and isinstance(owner.slice[0].slice, cst.Index):
            key = string_value(owner.slice[0].slice.value)
            if key is None:
                break
            keys.append(key)
            current = owner
            continue
        if isinstance(owner, cst.Attribute) and owner.value is current and owner.attr.value == "get":
            call = parents.get(id(owner))
            if isinstance(call, cst.Call) and call.func is owner and call.args and not call.args[0].keyword:
                key = string_value(call.args[0].value)
                if key is not None:
                    keys.append(key)
                    current = call
                    continue
        break
    return tuple(keys)


# judgment ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnreadKey:
    config: str  # the config file's path
    keys: tuple[str, ...]
    line: int
    loads: tuple[tuple[str, int, str, str], ...]  # (python path, line, loader, variable)


def _resolve(load: ConfigLoad, reader: str, exists: Any) -> str | None:
    literal = load.path
    if literal.startswith(("/", "~")) or "\\" in literal or "$" in literal or "{" in literal:
        return None
    folder = posixpath.dirname(reader)
    options = [posixpath.normpath(posixpath.join(folder, literal))]
    if load.relative == "any":
        options.append(posixpath.normpath(literal))
    found = {o for o in options if not o.startswith("..") and exists(o)}
    return found.pop() if len(found) == 1 else None


def _parse(text: str, fmt: str, path: str = "", problems: list[Problem] | None = None) -> Any:
    try:
        if fmt == "yaml":
            return load_yaml(text)
        if fmt == "json":
            return json.loads(text)
        return tomllib.loads(text)
    except YAMLTooExpanded as err:  # an alias bomb is named; a broken config proves nothing
        if problems is not None:
            problems.append(Problem(path, "too-large", f"YAML not read: {err}"))
        return None
    except Exception:
        return None


def _key_paths(data: Mapping[Any, Any], prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = []
    for key, value in data.items():
        if not isinstance(key, str):
            continue
        path = (*prefix, key)
        found.append((path, value))
        if isinstance(value, Mapping):
            found.extend(_key_paths(value, path))
    return found


def _value_at(data: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data


def _key_line(text: str, fmt: str, keys: tuple[str, ...]) -> int:
    """The line that defines a key path in the config text, 1 when it cannot be found."""
    lines = text.splitlines()
    start, parent_indent = 0, -1
    if fmt == "toml":
        for depth in range(len(keys) - 1, -1, -1):
            table, leaf = keys[:depth], keys[depth:]
            begin = 0
            if table:
                header = re.compile(r"^\s*\[+\s*" + r"\s*\.\s*".join(re.escape(k) for k in table) + r"\s*\]+\s*$")
                begin = next((i + 1 for i, line in enumerate(lines) if header.match(line)), -1)
                if begin < 0:
                    continue
            if len(leaf) == 1:
                pattern = re.compile(r"^\s*[\"']?" + re.escape(leaf[0]) + r"[\"']?\s*=")
                for i in range(begin, len(lines)):
                    if table and lines[i].lstrip().startswith("["):
                        break
                    if not table and lines[i].lstrip().startswith("["):
                        break
                    if pattern.match(lines[i]):
                        return i + 1
            header = re.compile(r"^\s*\[+\s*" + r"\s*\.\s*".join(re.escape(k) for k in keys) + r"\s*\]+\s*$")
            for i, line in enumerate(lines):
                if header.match(line):
                    return i + 1
        return 1
    line_no = 0
    depths = _json_depths(lines) if fmt == "json" else []
    for level_index, key in enumerate(keys):
        if fmt == "json":
            pattern = re.compile(r"^\s*\"" + re.escape(json.dumps(key)[1:-1]) + r"\"\s*:")
            hit = next((i for i in range(start, len(lines)) if depths[i] == level_index + 1
                        and pattern.match(lines[i])), None)
        else:
            pattern = re.compile(r"^\s*[\"']?" + re.escape(key) + r"[\"']?\s*:(\s|$)")
            hit, level = None, None
            for i in range(start, len(lines)):
                stripped = lines[i].strip()
                if not stripped or stripped.startswith(("#", "---", "%")):
                    continue
                indent = len(lines[i]) - len(lines[i].lstrip())
                if indent <= parent_indent:
                    break
                level = indent if level is None else level
                if indent == level and pattern.match(lines[i]):
                    hit, parent_indent = i, indent
                    break
        if hit is None:
            return 1
        line_no, start = hit + 1, hit + 1
    return line_no or 1


def _json_depths(lines: list[str]) -> list[int]:
    """The bracket depth at the start of each line, strings skipped."""
    depths, depth, in_string, escaped = [], 0, False, False
    for line in lines:
        depths.append(depth)
        for char in line:
            if in_string:
                escaped, in_string = (not escaped and char == "\\"), in_string and (escaped or char != '"')
            elif char == '"':
                in_string = True
            elif char in "{[":
                depth += 1
            elif char in "}]":
                depth -= 1
    return depths


def _config_text(snapshot: Any, path: str) -> str | None:
    file = snapshot.files.get(path)
    return file.text if file is not None else None


def _exists(snapshot: Any, path: str) -> bool:
    return path in snapshot.files


def _exported(path: str, load: ConfigLoad, facts: Mapping[str, FileFacts], canonical: Mapping[str, str]) -> bool:
    """A module-level config variable that another module imports or reads as ``module.var``."""
    modules = {canonical.get(path, ""), facts[path].raw_module} - {""}
    for other, f in facts.items():
        if other == path:
            continue
        for target in f.imports.values():
            if any(target == f"{m}.{load.var}" for m in modules):
                return True
            if target in modules and load.var in f.read_attrs:
                return True
        if any(target.endswith("." + load.var) for target in f.imports.values()):
            return True
    return False


def _mentioned(snapshot: Any, config: str, facts: Mapping[str, FileFacts]) -> bool:
    """The config's file name appears somewhere other than a followed load: it may be loaded another way."""
    base = config.rsplit("/", 1)[-1].lower()
    if any(base in f.config_mentions for f in facts.values()):
        return True
    for path, file in snapshot.files.items():
        if path == config or file.is_python:
            continue
        if (path.endswith(_SCRIPT_SUFFIXES) or path.rsplit("/", 1)[-1] in _SCRIPT_NAMES) and \
                base in file.text.lower():
            return True
    return False


def unread_keys(snapshot: Any, facts: Mapping[str, FileFacts], canonical: Mapping[str, str],
                problems: list[Problem] | None = None) -> list[UnreadKey]:
    if any(f.uses_hydra for f in facts.values()):
        return []
    unknown = set().union(*(f.config_unknown for f in facts.values()))
    by_config: dict[str, list[tuple[str, ConfigLoad]]] = {}
    for path, f in sorted(facts.items()):
        for load in f.config_loads:
            config = _resolve(load, path, lambda p: _exists(snapshot, p))
            if config is not None:
                by_config.setdefault(config, []).append((path, load))
    found: list[UnreadKey] = []
    for config, loads in sorted(by_config.items()):
        if config.rsplit("/", 1)[-1].lower() in _TOOL_FILES or config.startswith((".github/", ".gitlab")):
            continue
        formats = {load.fmt for _, load in loads}
        text = _config_text(snapshot, config)
        if len(formats) != 1 or text is None or formats & unknown:
            continue
        fmt = formats.pop()
        data = _parse(text, fmt, config, problems)
        if not isinstance(data, Mapping):
            continue
        reads: set[tuple[str, ...]] = set()
        escaped = False
        for path, load in loads:
            if not load.var or (load.module_level and _exported(path, load, facts, canonical)):
                escaped = True
                break
            for keys in load.uses:
                if not keys or isinstance(_value_at(data, keys), Mapping):
                    escaped = True
                    break
                reads.add(keys)
            if escaped:
                break
        if escaped or _mentioned(snapshot, config, facts):
            continue
        paths = _key_paths(data)
        if len(paths) > MAX_CONFIG_KEYS:
            if problems is not None:
                problems.append(_too_many_keys(config, len(paths)))
            continue
        read_prefixes = {r[:end] for r in reads for end in range(1, len(r) + 1)}
        unread = set()
        for keys, _value in paths:
            covered = any(keys[:end] in reads for end in range(1, len(keys) + 1))  # the key or a parent is read
            if not covered and keys not in read_prefixes:  # nor anything below it
                unread.add(keys)
        shown = tuple((p, load.line, load.loader, load.var) for p, load in loads)
        line_of = key_lines(text, fmt, _key_line)
        for keys in sorted(unread):
            if keys[:-1] in unread:
                continue  # its parent is reported already
            found.append(UnreadKey(config, keys, line_of(keys), shown))
    return found


def _too_many_keys(path: str, count: int) -> Problem:
    return Problem(path, "too-large", f"{count} config keys (PD104 reads at most {MAX_CONFIG_KEYS}): not judged")
