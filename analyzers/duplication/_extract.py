"""Per-file facts: candidate blocks as normalised statement sequences, with feature-logic and role evidence.

A block is a function or method body, or a run of module-level statements (notebook-exported scripts keep
their preprocessing at the top level). Each statement becomes ``(line, end_line, shape, exact, tokens,
evidence)``: ``shape`` hashes the statement with identifiers and literals folded (Type-2 clones match on
it), ``exact`` keeps literals, attribute and called names (two copies that differ in it have diverged).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import NamedTuple

import libcst as cst

from ..cst import ParsedFile, dotted_name
from . import _evidence, _roles, _template
from ._normalise import KEYWORDS, TOKEN, canonical_string, normalise
from ._template import Template

# Runs of module-level statements below this floor are never kept; the configurable thresholds apply above it.
FLOOR_STATEMENTS = 3
_SELF_ASSIGNMENT = re.compile(r"^self\.\w+(?:\s*,\s*self\.\w+)*\s*(?::[^=]+)?=[^=]")
# Methods that set state up rather than compute features.
_SET_UP_METHODS = frozenset({"__init__", "__post_init__", "__new__", "__setstate__", "__init_subclass__"})


# A superset of what can make a statement evidence: when none of it is in the file, it has no candidate block,
# and the file's position pass (a third of a parse) is skipped.
_DATA_IMPORT = re.compile(r"^[ \t]*(?:import|from)[ \t][^\n]*\b(?:" + "|".join(sorted(_evidence.DATA_LIBRARIES))
                          + r"|torch|tensorflow|transformers|keras|datasets)\b", re.MULTILINE)
_COPIED = re.compile(r"#\s*Copied from\b")
# Bare expressions that only show or log something: dropped, so copies differing in them stay copies.
_OUTPUT_ONLY = re.compile(
    r"^(?:(?:print|pprint|display|logger\.\w+|logging\.\w+|log\.\w+|warnings\.warn|wandb\.log|mlflow\.log_\w+"
    r"|(?:print|show|display|plot|log)_\w+)\s*\("
    r"|[\w.\[\]'\"]+\.(?:head|tail|describe|info|shape|dtypes|columns|mean|std|sum|min|max|count|nunique|unique|"
    r"value_counts|plot|hist|show)\b[^=]*$|[\w.\[\]'\"]+$)")
# Names a statement binds: assignment targets, loop and comprehension targets, `as` names.
_BOUND = re.compile(r"^\s*([\w\s,()\[\]*]+?)\s*(?::[^=]+)?(?<![=!<>])=(?!=)|^\s*(\w+)\s*[-+*/%@&|^]+="
                    r"|\bfor\s+([\w\s,()]+?)\s+in\b|\bas\s+(\w+)|\blambda\s+([\w\s,*=]*?):")
_NAME = re.compile(r"[^\W\d]\w*")
_ASSIGNED = re.compile(r"^\s*([\w\s,.()\[\]'\"*]+?)\s*(?::[^=]+)?(?<![=!<>])=(?!=)")
_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]+)|import[ \t]+([^\n#;]+))",
                     re.MULTILINE)


class Statement(NamedTuple):
    line: int
    end_line: int
    shape: int
    exact: int
    tokens: int
    evidence: bool  # feature logic: input data -> model inputs, or model outputs -> predictions
    plumbing: bool  # training/evaluation loop, set-up, loss, metric, plot, logging, parsing, model loading


class Block(NamedTuple):
    qualname: str
    line: int
    end_line: int
    copied: bool
    statements: tuple[Statement, ...]
    whole: int = 0  # a function's body with its locals renamed in order: equal for identical copies, else 0
    role: str | None = None  # the role a function has as an entry point itself (a route, a fit call)


class FileFacts(NamedTuple):
    role: str
    skipped: str | None
    blocks: tuple[Block, ...]
    entry: str | None = None  # the role the file's own entry points give it
    standalone: bool = False  # a notebook or a script that runs when started
    modules: tuple[str, ...] = ()  # dotted names of the modules it imports (relative ones without their dots)
    templates: tuple[Template, ...] = ()  # prompt and input templates built by hand


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


class _Source:
    """Node text sliced from the source by position: one position pass instead of code generation per node."""

    def __init__(self, parsed: ParsedFile) -> None:
        self.parsed = parsed
        self.lines = parsed.source.splitlines(keepends=True)

    def code(self, node: cst.CSTNode) -> str:
        line, col, end_line, end_col = self.parsed.span(node)
        if not 0 < line <= end_line <= len(self.lines):
            return self.parsed.code(node)
        if line == end_line:
            return self.lines[line - 1][col - 1:end_col - 1]
        return "".join([self.lines[line - 1][col - 1:], *self.lines[line:end_line - 1],
                        self.lines[end_line - 1][:end_col - 1]])


def _header(node: cst.CSTNode, parsed: _Source) -> str | None:
    """The text that stands for a compound statement's header, or None for statements kept whole."""
    if isinstance(node, cst.If):
        return "if " + parsed.code(node.test)
    if isinstance(node, (cst.For,)):
        return f"for {parsed.code(node.target)} in {parsed.code(node.iter)}"
    if isinstance(node, cst.While):
        return "while " + parsed.code(node.test)
    if isinstance(node, cst.With):
        return "with " + ", ".join(parsed.code(item.item) for item in node.items)
    if isinstance(node, (cst.Try, cst.TryStar)):
        return "try"
    if isinstance(node, cst.ExceptHandler | cst.ExceptStarHandler):
        return "except " + (parsed.code(node.type) if node.type is not None else "")
    if isinstance(node, cst.Else):
        return "else"
    if isinstance(node, cst.Finally):
        return "finally"
    return None


def _inner_blocks(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The suites under a compound statement, in source order (elif/else/except/finally included)."""
    parts: list[cst.CSTNode] = []
    body = getattr(node, "body", None)
    if isinstance(body, cst.BaseSuite):
        parts.extend(_suite(body))
    for name in ("handlers", "orelse", "finalbody"):
        value = getattr(node, name, None)
        if isinstance(value, Sequence) and not isinstance(value, str):
            parts.extend(value)
        elif isinstance(value, cst.CSTNode):
            parts.append(value)
    return parts


def _suite(suite: cst.BaseSuite) -> list[cst.CSTNode]:
    if isinstance(suite, cst.IndentedBlock):
        return list(suite.body)
    return [suite] if isinstance(suite, cst.SimpleStatementSuite) else []


def _is_docstring(small: cst.BaseSmallStatement) -> bool:
    return isinstance(small, cst.Expr) and isinstance(small.value, (cst.SimpleString, cst.ConcatenatedString,
                                                                    cst.Ellipsis))


class _Raw(NamedTuple):
    name: str
    start: int
    end: int
    copied: bool
    body: list[tuple[int, int, str]]
    params: tuple[str, ...] | None = None  # a function's parameters (None: a run of module-level statements)
    role: str | None = None


def _params(parameters: cst.Parameters) -> tuple[str, ...]:
    every = [*parameters.posonly_params, *parameters.params, *parameters.kwonly_params]
    every += [p for p in (parameters.star_arg, parameters.star_kwarg) if isinstance(p, cst.Param)]
    return tuple(p.name.value for p in every if isinstance(p, cst.Param))


class _Collector:
    """Walks statement lists (never expressions) and gathers blocks, nested ones included."""

    def __init__(self, parsed: ParsedFile) -> None:
        self.parsed = parsed
        self.source = _Source(parsed)
        self.imports: set[str] = set()
        self.aliases: dict[str, str] = {}
        self.raw: list[_Raw] = []
        self.found_templates: list[tuple[str, int, int, str]] = []
        self.code_of: dict[str, list[str]] = {}

    def note_import(self, node: cst.Import | cst.ImportFrom) -> None:
        if isinstance(node, cst.Import):
            for alias in node.names:
                module = dotted_name(alias.name)
                self.imports.add(module.split(".")[0])
                local = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) \
                    else module.split(".")[0]
                self.aliases[local] = module if alias.asname else module.split(".")[0]
            return
        module = dotted_name(node.module) if node.module is not None else ""
        self.imports.add(module.split(".")[0])
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            name = dotted_name(alias.name)
            local = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else name
            self.aliases[local] = f"{module}.{name}"

    def statements(self, nodes: Sequence[cst.CSTNode], scope: str, out: list[tuple[int, int, str]]) -> None:
        for node in nodes:
            if isinstance(node, cst.SimpleStatementLine | cst.SimpleStatementSuite):
                line, _, end, _ = self.parsed.span(node)
                for small in node.body:
                    if isinstance(small, cst.Import | cst.ImportFrom):
                        self.note_import(small)
                    elif not (isinstance(small, cst.Pass) or _is_docstring(small)):
                        code = self.source.code(small)
                        if not (isinstance(small, cst.Expr) and _OUTPUT_ONLY.match(code)):
                            out.append((line, end, code))
                            self.code_of.setdefault(scope, []).append(code)
                            self.found_templates.extend((scope, line, end, skeleton)
                                                        for skeleton in _template.templates(small, code))
                        self._lambda(small, scope, line, end)
            elif isinstance(node, cst.FunctionDef | cst.ClassDef):
                out.append((self.parsed.span(node)[0], self.parsed.span(node)[0], f"def {node.name.value}"))
                self.definition(node, scope, False)
            else:
                header = _header(node, self.source)
                if header is not None:
                    line = self.parsed.span(node)[0]
                    out.append((line, line, header))
                elif not isinstance(node, cst.BaseCompoundStatement):
                    continue
                else:  # match statements and anything newer: one opaque statement
                    line, _, end, _ = self.parsed.span(node)
                    out.append((line, end, self.source.code(node)))
                    continue
                self.statements(_inner_blocks(node), scope, out)

    def _lambda(self, small: cst.BaseSmallStatement, scope: str, line: int, end: int) -> None:
        """``encode = lambda s: ...`` is a one-expression function, comparable with ``def encode(s): return ...``."""
        if not (isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.value, cst.Lambda)
                and isinstance(small.targets[0].target, cst.Name)):
            return
        name = small.targets[0].target.value
        body = [(line, end, "return " + self.source.code(small.value.body))]
        self.raw.append(_Raw(f"{scope}.{name}" if scope else name, line, end, False, body,
                             _params(small.value.params)))

    def definition(self, node: cst.FunctionDef | cst.ClassDef, scope: str, copied: bool) -> None:
        name = f"{scope}.{node.name.value}" if scope else node.name.value
        copied = copied or any(line.comment is not None and _COPIED.search(line.comment.value)
                               for line in node.leading_lines)
        if isinstance(node, cst.ClassDef):
            bases = " ".join(self.source.code(arg.value) for arg in node.bases)
            if not _evidence.plumbing_definition(node.name.value, bases):
                self.module_level(_suite(node.body), name, copied, collect=False)
            return
        decorators = " ".join(self.source.code(d.decorator) for d in node.decorators)
        if node.name.value.startswith("test") or node.name.value in _SET_UP_METHODS or "fixture" in decorators \
                or _evidence.plumbing_definition(node.name.value, ""):
            return
        body: list[tuple[int, int, str]] = []
        self.statements(_suite(node.body), name, body)
        start, _, end, _ = self.parsed.span(node)
        header = f"def {node.name.value}({self.source.code(node.params)})"
        role = _roles.function_entry_role(decorators, header, "\n".join(code for _, _, code in body))
        self.raw.append(_Raw(name, start, end, copied, body, _params(node.params), role))

    def module_level(self, nodes: Sequence[cst.CSTNode], scope: str, copied: bool, collect: bool = True) -> None:
        """Definitions anywhere at this level (also under if/try), and runs of other statements as blocks."""
        run: list[tuple[int, int, str]] = []
        for node in nodes:
            if isinstance(node, cst.FunctionDef | cst.ClassDef):
                self.definition(node, scope, copied)
                self._flush(run, scope or "<module>", collect)
                run = []
            elif isinstance(node, cst.If | cst.Try | cst.TryStar) and _defines(node):
                self._flush(run, scope or "<module>", collect)
                run = []
                self.module_level(_inner_blocks(node), scope, copied, collect)
            else:
                self.statements([node], scope, run)
        self._flush(run, scope or "<module>", collect)

    def _flush(self, run: list[tuple[int, int, str]], scope: str, collect: bool) -> None:
        if collect and len(run) >= FLOOR_STATEMENTS:
            self.raw.append(_Raw(scope, run[0][0], run[-1][1], False, list(run)))


def _defines(node: cst.CSTNode) -> bool:
    return any(isinstance(child, cst.FunctionDef | cst.ClassDef) for child in _inner_blocks(node))


def _renamed(body: Sequence[tuple[int, int, str]], params: tuple[str, ...]) -> str:
    """The body with its parameters and local names renamed in order of first use; free names, attributes,
    called names and literals kept: two copies differing only in local names give the same text."""
    local = set(params)
    for _, _, code in body:
        for found in _BOUND.finditer(code):
            local.update(_NAME.findall(next(g for g in found.groups() if g is not None)))
    local -= KEYWORDS
    order: dict[str, str] = {}
    out: list[str] = []
    for _, _, code in body:
        previous = ""
        for found in TOKEN.finditer(code):
            kind, text = found.lastgroup, found.group()
            if kind == "comment":
                continue
            if kind == "name" and text in local and previous != ".":
                text = order.setdefault(text, f"L{len(order)}")
            elif kind == "string":
                text = canonical_string(text)
            out.append(text)
            previous = text
        out.append(";")
    return " ".join(out)


def _whole_key(raw: _Raw, statements: Sequence[Statement]) -> int:
    """A key for whole-function copies: two statements and up with feature evidence, or a one-expression
    tokeniser (``lambda s: [stoi[c] for c in s]``); 0 for anything else."""
    if raw.params is None:
        return 0
    if len(statements) == 1:
        if not _evidence.TOKENIZER_EXPRESSION.search(raw.body[0][2]) or statements[0].plumbing:
            return 0
    else:
        feature = sum(s.evidence for s in statements)
        if feature < max(1, len(statements) / 6) or feature < 2 * sum(s.plumbing for s in statements):
            return 0
    return _digest(_renamed(raw.body, raw.params))


def _targets(code: str) -> set[str]:
    """The names a statement assigns to (``a``, ``a.columns``, ``a["x"]`` and ``a, b`` give their base names)."""
    found = _ASSIGNED.match(code)
    if found is None or re.search(r"\w\s*\(", found.group(1)):
        return set()  # a call's keyword argument, not an assignment
    return {part.strip().split(".")[0].split("[")[0].strip("()* ") for part in found.group(1).split(",")} - {""}


def _finish(collector: _Collector) -> tuple[Block, ...]:
    pattern = _evidence.data_alias_pattern(collector.aliases)
    data_aliases = frozenset(collector.aliases)
    blocks = []
    for raw in collector.raw:
        if not raw.body or (raw.params is None and len(raw.body) < FLOOR_STATEMENTS):
            continue
        if sum(bool(_SELF_ASSIGNMENT.match(code)) for _, _, code in raw.body) * 2 > len(raw.body):
            continue  # an __init__-style assignment list is state, not feature logic
        statements = []
        reports: set[str] = set()  # names holding a report (a summary, metric or plot) and what derives from it
        for line, end_line, code in raw.body:
            shape, exact, tokens = normalise(code, data_aliases)
            report = _evidence.is_report(code) or not reports.isdisjoint(_NAME.findall(code))
            if report:
                reports.update(_targets(code))
            statements.append(Statement(line, end_line, _digest(shape), _digest(exact), tokens,
                                        not report and _evidence.is_feature(code, pattern),
                                        report or _evidence.is_plumbing(code)))
        whole = _whole_key(raw, statements)
        if whole or sum(s.evidence for s in statements) >= 2:
            blocks.append(Block(raw.name, raw.start, raw.end, raw.copied, tuple(statements), whole, raw.role))
    return tuple(blocks)


def _imported_modules(source: str) -> tuple[str, ...]:
    """Dotted names a file imports (``from a.b import c`` gives a.b and a.b.c; relative dots dropped)."""
    found: set[str] = set()
    for match in _IMPORT.finditer(source):
        base, names, plain = match.group(1), match.group(2), match.group(3)
        if plain:
            found.update(n.split()[0] for n in plain.split(",") if n.strip())
            continue
        base = base.lstrip(".")
        found.add(base)
        for name in names.strip("() \\").split(","):
            if name.strip():
                found.add(f"{base}.{name.split()[0]}" if base else name.split()[0])
    return tuple(sorted(n for n in found if n))


def extract(parsed: ParsedFile) -> FileFacts:
    """The duplication facts of one file: its role and its candidate blocks of feature logic."""
    skipped = _roles.skipped_role(parsed.path, parsed.source)
    if skipped is not None:
        return FileFacts(skipped, skipped, ())
    entry = _roles.entry_role(parsed.source)
    standalone = _roles.runnable(parsed.path, parsed.source)
    if not (_DATA_IMPORT.search(parsed.source) or _evidence.mentions_feature(parsed.source)):
        return FileFacts(_roles.file_role(parsed.path, (), entry), None, (), entry, standalone,
                         _imported_modules(parsed.source))
    collector = _Collector(parsed)
    collector.module_level(list(parsed.module.body), "", False)
    generating = {scope: bool(_template.GENERATION.search("\n".join(code)))
                  for scope, code in collector.code_of.items()}
    templates = tuple(Template(scope or "<module>", line, end, skeleton, generating.get(scope, False))
                      for scope, line, end, skeleton in collector.found_templates)
    return FileFacts(_roles.file_role(parsed.path, collector.imports, entry), None, _finish(collector), entry,
                     standalone, _imported_modules(parsed.source), templates)
