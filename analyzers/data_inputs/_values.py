"""Path and query expressions evaluated as far as one file allows: literals, templates and symbolic refs.

A value is a tuple of parts: a ``str`` is literal text, ``("hole", text)`` is a part the file cannot know (a
parameter, a loop variable, an f-string field) and ``("imp", module, name)`` is an imported name that the
repository-wide resolver looks up later. Nothing here runs or imports the analyzed code.
"""

from __future__ import annotations

import posixpath
import re
import string
from collections.abc import Callable, Sequence

import libcst as cst

from ..cst import dotted_name, string_value

Part = str | tuple[str, ...]
Value = tuple[Part, ...]
Lookup = Callable[[str], Value | None]
Held = Callable[[str], cst.BaseExpression | None]
Returned = Callable[[str], str | None]

_IDENTITY_CALLS = frozenset({
    "str", "os.fspath", "os.path.abspath", "os.path.realpath", "os.path.normpath", "os.path.expanduser",
    "os.path.expandvars", "sqlalchemy.text", "sqlalchemy.sql.text", "text", "pathlib.Path.expanduser",
})
_IDENTITY_METHODS = frozenset({"resolve", "absolute", "expanduser", "strip", "as_posix"})
_JOIN_CALLS = frozenset({"os.path.join", "posixpath.join", "ntpath.join"})
_PATH_TYPES = frozenset({"pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath", "pathlib.PurePosixPath",
                         "upath.UPath", "cloudpathlib.CloudPath", "cloudpathlib.S3Path", "cloudpathlib.GSPath"})
_ENV_CALLS = frozenset({"os.getenv", "os.environ.get", "os.environ.__getitem__"})
_HOLE_TEXT_LIMIT = 40
_MAX_ITEMS = 8
_PLACEHOLDER = re.compile(r"(\{\{.*?\}\}|\{%.*?%\})")


def hole(text: str) -> Value:
    text = " ".join(text.split())
    return (("hole", text if len(text) <= _HOLE_TEXT_LIMIT else text[: _HOLE_TEXT_LIMIT - 3] + "..."),)


def is_literal(part: Part) -> bool:
    return isinstance(part, str)


def literal_text(value: Value) -> str | None:
    """The text of a value made only of literal parts, else None."""
    return "".join(value) if all(isinstance(p, str) for p in value) else None  # type: ignore[arg-type]


def join(left: Value, right: Value) -> Value:
    """``os.path.join`` and pathlib ``/`` on symbolic values: an absolute or URI right side wins."""
    first = right[0] if right else ""
    if isinstance(first, str) and (first.startswith("/") or "://" in first):
        return right
    if not left:
        return right
    last = left[-1]
    sep: Value = () if isinstance(last, str) and last.endswith("/") else ("/",)
    return (*left, *sep, *right)


def parent(value: Value) -> Value | None:
    """``os.path.dirname`` / ``Path.parent``: drop the last path component when it is literal."""
    text = literal_text(value)
    if text is not None:
        return (posixpath.dirname(posixpath.normpath(text)) or ".",)
    last = value[-1] if value else None
    if isinstance(last, str) and "/" in last:
        head = last.rsplit("/", 1)[0]
        return (*value[:-1], head) if head else value[:-1]
    return None


def fold(value: Value) -> Value:
    """Adjacent literal parts merged, so values compare and render simply."""
    out: list[Part] = []
    for part in value:
        if isinstance(part, str) and out and isinstance(out[-1], str):
            out[-1] = out[-1] + part
        elif part != "":
            out.append(part)
    return tuple(out)


class Evaluator:
    """Evaluates expressions of one file; ``lookup`` answers names and dotted names, ``canonical`` imports."""

    def __init__(self, parsed_code: Callable[[cst.CSTNode], str], lookup: Lookup,
                 canonical: Callable[[str], str], file_path: str, held: Held = lambda _: None,
                 function: Returned = lambda _: None) -> None:
        self.code = parsed_code
        self.lookup = lookup
        self.canonical = canonical
        self.file_path = file_path
        self.held = held  # the container literal a name is bound to (`data_files = {...}`), if any
        self.function = function  # `module.function` of a repository function a name may call, if any

    def values(self, node: cst.CSTNode | None) -> list[Value]:
        """Each value a container literal holds (dict values, list, tuple or set items), directly or through a
        name bound to it; any other expression is its one value."""
        if isinstance(node, cst.Name):
            node = self.held(node.value) or node
        if isinstance(node, cst.Dict):
            items = [e.value for e in node.elements if isinstance(e, cst.DictElement)]
        elif isinstance(node, (cst.List, cst.Tuple, cst.Set)):
            items = [e.value for e in node.elements if isinstance(e, cst.Element)]
        else:
            return [self.value(node)] if node is not None else []
        return [self.value(item) for item in items[:_MAX_ITEMS]]

    def value(self, node: cst.CSTNode | None, depth: int = 0) -> Value:
        if node is None:
            return ()
        if depth > 30:
            return hole("...")
        text = string_value(node)
        if text is not None:
            return _placeholders(text)
        if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
            return hole(self.code(node))  # bytes literal
        method = getattr(self, f"_{type(node).__name__}", None)
        found = method(node, depth + 1) if method else None
        return fold(found) if found is not None else hole(self.code(node))

    def _FormattedString(self, node: cst.FormattedString, depth: int) -> Value | None:
        parts: list[Part] = []
        for item in node.parts:
            if isinstance(item, cst.FormattedStringText):
                parts.append(item.value.replace("{{", "{").replace("}}", "}"))
            elif isinstance(item, cst.FormattedStringExpression):
                inner = self.value(item.expression, depth)
                parts.extend(inner if item.format_spec is None else hole(self.code(item.expression)))
        return tuple(parts)

    def _Name(self, node: cst.Name, depth: int) -> Value | None:
        if node.value == "__file__":
            return (self.file_path,)
        return self.lookup(node.value)

    def _Attribute(self, node: cst.Attribute, depth: int) -> Value | None:
        if node.attr.value == "parent":
            base = self.value(node.value, depth)
            return parent(base) if base and not _only_holes(base) else None
        name = dotted_name(node)
        return self.lookup(name) if name else None

    def _Subscript(self, node: cst.Subscript, depth: int) -> Value | None:
        if self.canonical(dotted_name(node.value)) == "os.environ" and len(node.slice) == 1:
            key = node.slice[0].slice
            variable = string_value(key.value) if isinstance(key, cst.Index) else None
            return hole(variable) if variable else None
        # Path(__file__).parents[2]
        if isinstance(node.value, cst.Attribute) and node.value.attr.value == "parents" and len(node.slice) == 1:
            index = node.slice[0].slice
            if isinstance(index, cst.Index) and isinstance(index.value, cst.Integer):
                found: Value | None = self.value(node.value.value, depth)
                for _ in range(int(index.value.value) + 1):
                    found = parent(found) if found else None
                return found
        return None

    def _BinaryOperation(self, node: cst.BinaryOperation, depth: int) -> Value | None:
        if isinstance(node.operator, cst.Add):
            return (*self.value(node.left, depth), *self.value(node.right, depth))
        if isinstance(node.operator, cst.Divide):
            left, right = self.value(node.left, depth), self.value(node.right, depth)
            if _only_holes(left) and _only_holes(right):
                return None
            return join(left, right)
        return None

    def _Call(self, node: cst.Call, depth: int) -> Value | None:
        name = self.canonical(dotted_name(node.func))
        args = [a.value for a in node.args if a.keyword is None and not a.star]
        if name in _ENV_CALLS:
            variable = string_value(args[0]) if args else None
            return hole(variable) if variable else None
        if name in _JOIN_CALLS or name in _PATH_TYPES:
            if not args:
                return None
            result = self.value(args[0], depth)
            for arg in args[1:]:
                result = join(result, self.value(arg, depth))
            return result
        if name in _IDENTITY_CALLS and len(args) == 1:
            return self.value(args[0], depth)
        if name == "os.path.dirname" and len(args) == 1:
            return parent(self.value(args[0], depth))
        callee = self.function(dotted_name(node.func)) if not node.args else None
        if callee is not None:
            # what a helper of the repository returns (`pd.read_csv(raw_path())`), looked up repository-wide
            module, _, function = callee.rpartition(".")
            return (("ret", module, function, self.code(node)),)
        if not isinstance(node.func, cst.Attribute):
            return None
        attr, receiver = node.func.attr.value, node.func.value
        if attr in _IDENTITY_METHODS and not args:
            return self.value(receiver, depth)
        if attr == "joinpath":
            result = self.value(receiver, depth)
            for arg in args:
                result = join(result, self.value(arg, depth))
            return result
        if attr == "format":
            template = string_value(receiver)
            return self._format(template, node, depth) if template is not None else None
        return None

    def _format(self, template: str, node: cst.Call, depth: int) -> Value | None:
        positional = [a.value for a in node.args if a.keyword is None and not a.star]
        keywords = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
        parts: list[Part] = []
        auto = 0
        try:
            pieces = list(string.Formatter().parse(template))
        except ValueError:
            return None
        for literal, field, spec, _ in pieces:
            parts.append(literal)
            if field is None:
                continue
            key = field.split(".", 1)[0].split("[", 1)[0]
            arg: cst.BaseExpression | None
            if key == "":
                arg = positional[auto] if auto < len(positional) else None
                auto += 1
            elif key.isdigit():
                arg = positional[int(key)] if int(key) < len(positional) else None
            else:
                arg = keywords.get(key)
            simple = key == field and not spec
            parts.extend(self.value(arg, depth) if arg is not None and simple else hole(field or "_"))
        return tuple(parts)


def _placeholders(text: str) -> Value:
    """A literal with template placeholders (`{{ cookiecutter.name }}`, `{% ... %}`) filled in when a project is
    generated: each placeholder is a hole, since the code never runs with that text."""
    if "{{" not in text and "{%" not in text:
        return (text,)
    parts: list[Part] = []
    for index, piece in enumerate(_PLACEHOLDER.split(text)):
        if index % 2:
            parts.extend(hole(piece.strip("{}% ")))
        elif piece:
            parts.append(piece)
    return tuple(parts)


def _only_holes(value: Sequence[Part]) -> bool:
    return not any(isinstance(p, str) and p for p in value)


def render(value: Value, hole_text: Callable[[str], str] = lambda text: "{" + text + "}") -> str:
    """The value as text: holes become ``{name}`` (or whatever ``hole_text`` makes of them)."""
    out = []
    for part in value:
        if isinstance(part, str):
            out.append(part)
        elif part[0] == "hole":
            out.append(hole_text(part[1]))
        else:
            out.append(hole_text(part[-1].rsplit(".", 1)[-1]))
    return "".join(out)
