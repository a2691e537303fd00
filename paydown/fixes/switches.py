"""Remove a dead switch (PD101): inline its constant, keep the branch that runs, drop the one that never runs,
and delete the assignment once nothing reads it. A libcst transform; PD101 only reports switches with no sign of
run-time rebinding, and only a module-level constant is rewritten."""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from paydown.analyzers.finding import Finding, Location

from ._model import SKIPPED_DIRS, Leave, Workspace


def _branch(block: cst.BaseSuite) -> list[cst.BaseStatement]:
    if isinstance(block, cst.IndentedBlock):
        return list(block.body)
    assert isinstance(block, cst.SimpleStatementSuite)
    return [cst.SimpleStatementLine(body=block.body)]  # `if x: a; b` on one line


_TERMINAL = (cst.Return, cst.Raise, cst.Continue, cst.Break)


class _Inline(cst.CSTTransformer):
    """Replaces each read of the switch on the given lines with the constant; an `if` or conditional expression
    testing the read directly (or its `not`) keeps only the branch that runs. PD101 places a read at the start
    of the test holding it, so reads are matched by line and by what they name, never by column alone."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, name: str, lines: set[int], value: object) -> None:
        super().__init__()
        self.name, self.lines, self.value, self.done = name, lines, value, set[int]()
        self._elifs: set[int] = set()
        self._terminal: set[int] = set()
        self._not_reads: set[int] = set()  # attribute names, keywords, parameters: the same word, not a read
        self._importing = 0
        self.in_expressions: set[int] = set()  # reads inside a larger expression, where only the value is inlined
        self._tests: set[int] = set()  # the whole test (or the operand of its `not`) of an `if` or a ternary
        self.through: set[str] = set()  # modules the reads went through (`settings` in settings.USE_X)

    def _read_line(self, node: cst.CSTNode) -> int | None:
        if isinstance(node, cst.Name):
            names = node.value == self.name and id(node) not in self._not_reads and not self._importing
        else:
            names = (isinstance(node, cst.Attribute) and node.attr.value == self.name
                     and isinstance(node.value, cst.Name))
        line = self.get_metadata(PositionProvider, node).start.line if names else None
        return line if line in self.lines else None

    def _truth(self, test: cst.BaseExpression) -> bool | None:
        negated = isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not)
        inner = test.expression if isinstance(test, cst.UnaryOperation) and negated else test
        line = self._read_line(inner)
        if line is None:
            return None
        self._note(inner)
        self.done.add(line)
        return (not self.value) if negated else bool(self.value)

    def _note(self, read: cst.CSTNode) -> None:
        if isinstance(read, cst.Attribute) and isinstance(read.value, cst.Name):
            self.through.add(read.value.value)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._not_reads.add(id(node.attr))

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self._not_reads.add(id(node.keyword))

    def visit_Param(self, node: cst.Param) -> None:
        self._not_reads.add(id(node.name))

    def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
        self._importing += 1

    def leave_ImportAlias(self, original_node: cst.ImportAlias, updated_node: cst.ImportAlias) -> cst.ImportAlias:
        self._importing -= 1
        return updated_node

    def _test(self, test: cst.BaseExpression) -> None:
        negated = isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not)
        self._tests.add(id(test.expression if isinstance(test, cst.UnaryOperation) and negated else test))

    def visit_If(self, node: cst.If) -> None:
        if isinstance(node.orelse, cst.If):
            self._elifs.add(id(node.orelse))  # an `elif` testing the switch is left: its test is not a plain if's
        if id(node) not in self._elifs:
            self._test(node.test)

    def visit_IfExp(self, node: cst.IfExp) -> None:
        self._test(node.test)

    def leave_If(self, original_node: cst.If, updated_node: cst.If
                 ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement] | cst.RemovalSentinel:
        if id(original_node) in self._elifs:
            return updated_node  # an `elif` keeps its place; its test is inlined below
        runs = self._truth(original_node.test)
        if runs is None:
            return updated_node
        if runs:
            kept = _branch(updated_node.body)
        elif isinstance(updated_node.orelse, cst.If):
            kept = [updated_node.orelse]
        elif isinstance(updated_node.orelse, cst.Else):
            kept = _branch(updated_node.orelse.body)
        else:
            kept = []
        if not kept:
            return cst.RemovalSentinel.REMOVE
        first = kept[0]
        if isinstance(first, cst.SimpleStatementLine | cst.BaseCompoundStatement) and hasattr(first, "leading_lines"):
            kept[0] = first.with_changes(leading_lines=(*updated_node.leading_lines, *first.leading_lines))
        last = kept[-1]
        if isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[-1], _TERMINAL):
            self._terminal.add(id(last))  # the kept branch returns: what followed the `if` never runs either
        return cst.FlattenSentinel(kept)

    def leave_IfExp(self, original_node: cst.IfExp, updated_node: cst.IfExp) -> cst.BaseExpression:
        runs = self._truth(original_node.test)
        if runs is None:
            return updated_node
        kept = updated_node.body if runs else updated_node.orelse
        return kept.with_changes(lpar=updated_node.lpar, rpar=updated_node.rpar) if updated_node.lpar else kept

    def _constant(self, original: cst.BaseExpression, updated: cst.BaseExpression) -> cst.BaseExpression:
        line = self._read_line(original)
        if line is None:
            return updated
        self._note(original)
        self.done.add(line)
        if id(original) not in self._tests:
            self.in_expressions.add(line)
        return cst.parse_expression(repr(self.value)).with_changes(lpar=updated.lpar, rpar=updated.rpar)

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.BaseExpression:
        return self._constant(original_node, updated_node)

    def leave_Name(self, original_node: cst.Name, updated_node: cst.Name) -> cst.BaseExpression:
        return self._constant(original_node, updated_node)

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock
                            ) -> cst.IndentedBlock:
        if original_node.body and not updated_node.body:  # the block held only the branch that never runs
            return updated_node.with_changes(body=[cst.SimpleStatementLine([cst.Pass()])])
        ends = next((n for n, statement in enumerate(updated_node.body) if id(statement) in self._terminal), None)
        if ends is not None:
            return updated_node.with_changes(body=updated_node.body[:ends + 1])
        return updated_node


def _without_assignment(module: cst.Module, name: str) -> cst.Module:
    """``module`` without its module-level `name = constant` statement (and the comment lines above it)."""
    def assigns(statement: cst.BaseStatement) -> bool:
        if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
            return False
        small = statement.body[0]
        targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else (
            [small.target] if isinstance(small, cst.AnnAssign) else [])
        return len(targets) == 1 and isinstance(targets[0], cst.Name) and targets[0].value == name

    body: list[cst.BaseStatement] = []
    blank: tuple[cst.EmptyLine, ...] = ()  # the blank lines above it move to the next statement when it has none
    for statement in module.body:
        if assigns(statement):
            blank = tuple(line for line in statement.leading_lines if line.comment is None)[:1]
            continue
        if blank and not statement.leading_lines:
            statement = statement.with_changes(leading_lines=blank)
        blank = ()
        body.append(statement)
    return module.with_changes(body=body)


def _assigned(module: cst.Module, name: str, line: int) -> object:
    """The literal value of the module-level `name = ...` at ``line``; Leave when it is anything else."""
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    for statement in wrapper.module.body:
        if not isinstance(statement, cst.SimpleStatementLine) or positions[statement].start.line != line:
            continue
        small = statement.body[0] if len(statement.body) == 1 else None
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            target, value = small.targets[0].target, small.value
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            target, value = small.target, small.value
        else:
            break
        if isinstance(target, cst.Name) and target.value == name:
            try:
                return ast.literal_eval(module.code_for_node(value))
            except (ValueError, SyntaxError):
                raise Leave(f"`{name}` is not assigned a literal constant") from None
    raise Leave(f"`{name}` is not a module-level `{name} = constant` on line {line}; only those are rewritten")


def _tidy_top(before: cst.Module, after: cst.Module) -> cst.Module:
    """When the fix deleted a module's first statement, the new first one does not start with blank lines."""
    if not after.body or not before.body or after.body[0] is before.body[0]:
        return after
    first = after.body[0]
    lines = list(first.leading_lines)
    while lines and lines[0].comment is None:
        lines.pop(0)
    return after.with_changes(body=[first.with_changes(leading_lines=lines), *after.body[1:]])


def _without_unused_import(module: cst.Module, alias: str) -> cst.Module:
    """``module`` without `import alias` when the fix took away its last use (a plain one-name import only)."""
    def imports_alias(statement: cst.BaseStatement) -> bool:
        small = statement.body[0] if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1 \
            else None
        if not isinstance(small, cst.Import) or len(small.names) != 1:
            return False
        name = small.names[0]
        bound = name.asname.name if name.asname else name.name
        return isinstance(bound, cst.Name) and bound.value == alias

    code = module.code
    if len(re.findall(rf"\b{re.escape(alias)}\b", code)) != 1:
        return module
    return module.with_changes(body=[statement for statement in module.body if not imports_alias(statement)])


def _without_unused_names(module: cst.Module, name: str) -> cst.Module:
    """``module`` without ``name`` in its `from x import ...` statements when nothing else in it names it."""
    if len(re.findall(rf"\b{re.escape(name)}\b", module.code)) != 1:
        return module

    def keep(alias: cst.ImportAlias) -> bool:
        bound = alias.asname.name if alias.asname else alias.name
        return not (isinstance(bound, cst.Name) and bound.value == name)

    body: list[cst.BaseStatement] = []
    for statement in module.body:
        small = statement.body[0] if isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1 \
            else None
        if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
            kept = [alias for alias in small.names if keep(alias)]
            if not kept:
                continue
            if len(kept) < len(small.names):
                kept[-1] = kept[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                statement = statement.with_changes(body=[small.with_changes(names=kept)])
        body.append(statement)
    return module.with_changes(body=body)


def _without_orphans(ws: Workspace, path: str, before: str, module: cst.Module) -> cst.Module:
    """``module`` without its private module-level functions (`_name`) that only the removed branch called:
    named in ``before`` beyond their definition, named nowhere now, in this file or any other."""
    def orphan(statement: cst.BaseStatement) -> bool:
        if not isinstance(statement, cst.FunctionDef) or not statement.name.value.startswith("_"):
            return False
        word = re.compile(rf"\b{re.escape(statement.name.value)}\b")
        return (len(word.findall(before)) > 1 and len(word.findall(module.code)) == 1
                and not _still_read(ws, statement.name.value, path, skip=path))

    return module.with_changes(body=[statement for statement in module.body if not orphan(statement)])


def _inline_reads(ws: Workspace, reads: Sequence[Location], name: str, value: object) -> int:
    by_path: dict[str, set[int]] = {}
    scanned: dict[tuple[str, int], int] = {}  # a read's line now -> its line as scanned, for the messages
    for read in reads:
        if not read.path.endswith(".py") or read.cell is not None:
            raise Leave(f"it is read at {read.cited}, which is not a Python module paydown rewrites")
        now = ws.line_now(read.path, read.line)
        by_path.setdefault(read.path, set()).add(now)
        scanned[read.path, now] = read.line
    inlined = 0
    for path, positions in sorted(by_path.items()):
        transform = _Inline(name, positions, value)
        module = MetadataWrapper(cst.parse_module(ws.read(path))).visit(transform)
        inlined_module = module
        for alias in transform.through:
            module = _without_unused_import(module, alias)
        module = _tidy_top(inlined_module, _without_unused_names(module, name))
        module = _without_orphans(ws, path, ws.read(path), module)
        code = module.code
        missing = positions - transform.done
        if missing:
            raise Leave(f"cannot find its read on {path}:{scanned[path, min(missing)]} any more")
        if transform.in_expressions:  # `if kind == "cuda" and 1 > 1:` would keep a dead branch in a new form
            line = scanned[path, min(transform.in_expressions)]
            raise Leave(f"it is read in an `elif` or inside a larger expression on {path}:{line}; which branch "
                        "runs there is for a person to decide")
        ws.update(path, code)
        inlined += len(positions)
    return inlined


def _still_read(ws: Workspace, name: str, definition: str, *, skip: str = "") -> str:
    """A Python file that still names ``name`` (other than its definition's own line; ``skip`` not read), or ""."""
    word = re.compile(rf"\b{re.escape(name)}\b")
    for file in sorted(ws.root.rglob("*.py")):
        relative = file.relative_to(ws.root).as_posix()
        if relative == skip or SKIPPED_DIRS.intersection(relative.split("/")):
            continue
        try:
            text = ws.read(relative)
        except Leave:
            return relative  # a file paydown cannot read may name it: keep the assignment
        if len(word.findall(text)) > (1 if relative == definition else 0):
            return relative
    return ""


def remove_dead_switch(ws: Workspace, finding: Finding) -> str:
    path, line = finding.location.path, finding.location.line
    name = finding.symbol.rsplit(".", 1)[-1]
    if not path.endswith(".py") or finding.location.cell is not None:
        raise Leave(f"the switch is defined in {path}, not a Python module; remove it there by hand")
    value = _assigned(cst.parse_module(ws.read(path)), name, ws.line_now(path, line))
    reads = [loc for loc in finding.related if (loc.path, loc.line) != (path, line)]
    inlined = _inline_reads(ws, reads, name, value)
    reader = _still_read(ws, name, path)
    if reader:
        return f"inlined {name} = {value!r} at {inlined} read(s); kept its assignment, still named in {reader}"
    ws.update(path, _without_assignment(cst.parse_module(ws.read(path)), name).code)
    return f"inlined {name} = {value!r} at {inlined} read(s), kept the branch that runs and deleted the assignment"
