"""Remove an unread command-line option (PD102): its `add_argument(...)` statement, or its click `@option`
decorator with the function parameter that received it. A libcst transform."""

from __future__ import annotations

from collections.abc import Sequence

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from paydown.analyzers.finding import Finding

from ._model import Leave, Workspace


def _called(node: cst.BaseExpression) -> str:
    func = node.func if isinstance(node, cst.Call) else None
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return func.value if isinstance(func, cst.Name) else ""


class _RemoveOption(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, line: int, dest: str) -> None:
        super().__init__()
        self.line, self.dest, self.removed = line, dest, ""

    def _starts_here(self, node: cst.CSTNode) -> bool:
        return self.get_metadata(PositionProvider, node).start.line == self.line

    def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine,
                                  updated_node: cst.SimpleStatementLine
                                  ) -> cst.SimpleStatementLine | cst.RemovalSentinel:
        small = original_node.body[0] if len(original_node.body) == 1 else None
        if isinstance(small, cst.Expr) and _called(small.value) == "add_argument" \
                and self._starts_here(small.value):
            self.removed = "its add_argument call"
            return cst.RemovalSentinel.REMOVE
        return updated_node

    def _without(self, params: Sequence[cst.Param]) -> list[cst.Param]:
        kept = [p for p in params if p.name.value != self.dest]
        if kept and len(kept) < len(params) and params[-1].name.value == self.dest:
            kept[-1] = kept[-1].with_changes(comma=params[-1].comma)  # `def f(a, b)` less b is `def f(a)`
        return kept

    def leave_FunctionDef(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef) -> cst.FunctionDef:
        kept = [d for o, d in zip(original_node.decorators, updated_node.decorators, strict=True)
                if not (_called(o.decorator) in ("option", "Option") and self._starts_here(o.decorator))]
        if len(kept) == len(updated_node.decorators):
            return updated_node
        self.removed = "its click option decorator"
        params = updated_node.params
        plain = self._without(params.params)
        keyword = self._without(params.kwonly_params)
        if len(plain) + len(keyword) < len(params.params) + len(params.kwonly_params):
            self.removed += f" and the parameter {self.dest}"
            params = params.with_changes(params=plain, kwonly_params=keyword)
        return updated_node.with_changes(decorators=kept, params=params)


def remove_unread_option(ws: Workspace, finding: Finding) -> str:
    path = finding.location.path
    if not path.endswith(".py") or finding.location.cell is not None:
        raise Leave(f"{path} is not a Python module paydown rewrites")
    transform = _RemoveOption(ws.line_now(path, finding.location.line), finding.symbol)
    code = MetadataWrapper(cst.parse_module(ws.read(path))).visit(transform).code
    if not transform.removed:
        raise Leave(f"no add_argument call or click option starts at {finding.location.cited} any more")
    ws.update(path, code)
    return f"removed the option {finding.symbol}: {transform.removed}"
