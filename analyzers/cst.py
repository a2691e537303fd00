"""libcst helpers shared by the analyzers' extractors: one cheap tree walk and positions on demand.

libcst's visitor machinery and its MetadataWrapper cost several times the parse itself, so extractors walk
the tree with ``walk`` (field access only, white space skipped) and ask for positions only of nodes they keep.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import libcst as cst
from libcst._nodes.internal import CodegenState

# Fields that hold only white space, punctuation or comments: never worth descending into.
_SKIPPED_FIELD_PARTS = ("whitespace", "comma", "lpar", "rpar", "semicolon", "colon", "equal", "dot", "header",
                        "footer", "leading_lines", "lines_after_decorators", "lbracket", "rbracket", "lbrace",
                        "rbrace", "newline", "asynchronous", "star", "operator")
_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(node_type: type) -> tuple[str, ...]:
    names = _FIELDS.get(node_type)
    if names is None:
        names = tuple(
            f.name for f in dataclasses.fields(node_type)
            if not any(part in f.name for part in _SKIPPED_FIELD_PARTS) or f.name == "operator"
        )
        _FIELDS[node_type] = names
    return names


_IS_NODE: dict[type, bool] = {}


def _is_node(value_type: type) -> bool:
    # isinstance against libcst's ABC-based node classes is slow; one issubclass per type is not.
    known = _IS_NODE.get(value_type)
    if known is None:
        known = _IS_NODE[value_type] = issubclass(value_type, cst.CSTNode)
    return known


def children(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    for name in _fields(type(node)):
        value = getattr(node, name)
        value_type = type(value)
        if value_type is tuple or value_type is list:
            yield from (item for item in value if _is_node(type(item)))
        elif _is_node(value_type):
            yield value


Visit = tuple[cst.CSTNode, "cst.CSTNode | None", str]


def walk(module: cst.Module) -> Iterator[Visit]:
    """Every node in source order with its parent and the dotted name of its enclosing class/function."""
    stack: list[Visit] = [(module, None, "")]
    pop, extend = stack.pop, stack.extend
    scoped = (cst.FunctionDef, cst.ClassDef)
    while stack:
        item = pop()
        yield item
        node, _parent, scope = item
        inner = scope
        if type(node) in scoped:
            name = node.name.value  # type: ignore[attr-defined]
            inner = f"{scope}.{name}" if scope else name
        kids = list(children(node))
        kids.reverse()
        extend((child, node, inner) for child in kids)


class _PositionState(CodegenState):
    """Code generation that records where each node starts and ends (1-based lines, 0-based columns)."""

    def __init__(self, module: cst.Module) -> None:
        super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
        self.line = 1
        self.column = 0
        self.starts: list[tuple[int, int]] = []
        self.spans: dict[cst.CSTNode, tuple[int, int, int, int]] = {}

    def add_indent_tokens(self) -> None:
        for token in self.indent_tokens:
            self.add_token(token)

    def add_token(self, value: str) -> None:
        newlines = value.count("\n")
        if newlines:
            self.line += newlines
            self.column = len(value) - value.rfind("\n") - 1
        else:
            self.column += len(value)

    def before_codegen(self, node: cst.CSTNode) -> None:
        self.starts.append((self.line, self.column))

    def after_codegen(self, node: cst.CSTNode) -> None:
        start = self.starts.pop()
        if node not in self.spans:
            self.spans[node] = (*start, self.line, self.column)

    def record_syntactic_position(self, node: cst.CSTNode, *, start_node: cst.CSTNode | None = None,
                                  end_node: cst.CSTNode | None = None) -> _SyntacticSpan:
        return _SyntacticSpan(self, node, start_node, end_node)


class _SyntacticSpan:
    """libcst's syntactic-position context, as a plain object: a generator-based one costs a tenth of a parse."""

    __slots__ = ("end_node", "node", "start", "start_node", "state")

    def __init__(self, state: _PositionState, node: cst.CSTNode, start_node: cst.CSTNode | None,
                 end_node: cst.CSTNode | None) -> None:
        self.state, self.node, self.start_node, self.end_node = state, node, start_node, end_node
        self.start = (state.line, state.column)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> None:
        state = self.state
        start, end = self.start, (state.line, state.column)
        if self.start_node is not None and self.start_node in state.spans:
            start = state.spans[self.start_node][:2]
        if self.end_node is not None and self.end_node in state.spans:
            end = state.spans[self.end_node][2:]
        state.spans[self.node] = (*start, *end)


@dataclasses.dataclass(slots=True)
class ParsedFile:
    """A Python file parsed once, handed to every analyzer's extractor."""

    path: str
    source: str
    module: cst.Module
    _spans: dict[cst.CSTNode, tuple[int, int, int, int]] | None = None
    _nodes: list[Visit] | None = None

    def nodes(self) -> list[Visit]:
        """``walk(module)`` done once per file and shared by every analyzer's extractor."""
        if self._nodes is None:
            self._nodes = list(walk(self.module))
        return self._nodes

    def span(self, node: cst.CSTNode) -> tuple[int, int, int, int]:
        """(line, column, end line, end column) of a node, lines and columns 1-based."""
        if self._spans is None:
            state = _PositionState(self.module)
            self.module._codegen(state)
            self._spans = state.spans
        line, col, end_line, end_col = self._spans.get(node, (1, 0, 1, 0))
        return line, col + 1, end_line, end_col + 1

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)


def dotted_name(node: cst.BaseExpression | None) -> str:
    """``a.b.c`` for a Name/Attribute chain, else an empty string."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
        return ".".join(reversed(parts))
    return ""


def string_value(node: Any) -> str | None:
    """The value of a plain (or implicitly concatenated) string literal, else None."""
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    if isinstance(node, cst.ConcatenatedString):
        left, right = string_value(node.left), string_value(node.right)
        return None if left is None or right is None else left + right
    return None
