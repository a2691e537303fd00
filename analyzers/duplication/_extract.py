"""Per-file facts: candidate blocks as normalised statement sequences, with feature-logic and role evidence.

A block is a function or method body, or a run of module-level statements (notebook-exported scripts keep
their preprocessing at the top level). Each statement becomes ``(line, end_line, shape, exact, tokens,
evidence)``: ``shape`` hashes the statement with identifiers and literals folded (Type-2 clones match on
it), ``exact`` keeps literals, attribute and called names (two copies that differ in it have diverged).
"""

from __future__ import annotations

import hashlib
import keyword
import re
from collections.abc import Sequence
from typing import NamedTuple

import libcst as cst

from ..cst import ParsedFile, dotted_name
from . import _roles

# Blocks below this floor are never kept; the configurable thresholds apply above it.
FLOOR_STATEMENTS = 3

_TOKEN = re.compile(
    r"(?P<comment>#[^\n]*)"
    r"|(?P<string>[rRbBuUfF]{0,2}(?:'''[\s\S]*?'''|\"\"\"[\s\S]*?\"\"\"|'(?:\\.|[^'\\\n])*'|\"(?:\\.|[^\"\\\n])*\"))"
    r"|(?P<number>(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][+-]?\d+)?[jJ]?)"
    r"|(?P<name>[^\W\d]\w*)"
    r"|(?P<op>\*\*=?|//=?|->|:=|[-+*/%@&|^<>=!]=|<<=?|>>=?|[^\s\w])"
)
_OPENERS = frozenset("([{")
_CLOSERS = frozenset(")]}")
_UNARY_AFTER = frozenset({None, "(", "[", "{", ",", "=", ":", "return", "**", "*", "/", "+", "-", "==", "<", ">"})
_KEYWORDS = frozenset(keyword.kwlist)

# Libraries whose calls compute values from data; their aliases come from the file's imports.
_DATA_LIBRARIES = frozenset({"pandas", "numpy", "polars", "torch", "tensorflow", "sklearn", "scipy", "transformers",
                             "tokenizers", "torchvision", "keras", "cv2", "pyspark", "xgboost", "lightgbm"})
# Module prefixes of those libraries that are infrastructure, not feature computation.
_INFRA_MODULES = ("torch.nn", "torch.cuda", "torch.distributed", "torch.utils", "torch.backends",
                  "torch.multiprocessing", "torch.jit", "torch.optim", "tensorflow.keras.layers", "torch.testing")
_INFRA_ATTRS = re.compile(
    r"\b(?:cuda|distributed|backends|device|load|save|manual_seed|set_\w+|no_grad|inference_mode|jit|compile|utils|"
    r"nn|optim|testing|is_\w+|get_\w+|random\.seed|hub|_\w+|__version__|dtype|float\d*|int\d*|bool|long|Size|"
    r"Tensor|typing|errors|config)\b")
# DataFrame and preprocessing methods that are feature logic whoever the receiver is.
_DATA_METHODS = re.compile(
    r"\.(?:fillna|astype|get_dummies|groupby|pivot_table|melt|dropna|drop_duplicates|fit_transform|"
    r"inverse_transform|to_datetime|to_numeric|value_counts|reset_index|set_index|isna|isnull|notna|iloc|loc|"
    r"with_columns|select_dtypes|qcut|encode_plus|batch_encode_plus|pad_sequences|apply_chat_template)\b")
# Methods that are feature logic only in a file that imports a data library (`str.replace` is not).
_WEAK_METHODS = re.compile(
    r"\.(?:merge|agg|aggregate|pivot|clip|log1p|expm1|one_hot|rolling|resample|cumsum|quantile|replace|"
    r"str\.\w+|dt\.\w+|cut|interpolate|bfill|ffill|standardize|normalize|tokenize|apply|map|transform|"
    r"reshape|mean|std)\s*\(")
# Arithmetic over named columns: df["a"] / df["b"].
_COLUMN_ARITHMETIC = re.compile(
    r"\w\[\s*[rbuf]?['\"][^'\"]+['\"]\s*\]\s*(?:[-+*/%]|\*\*)(?!=)|(?:[-+*/%]|\*\*)\s*\w+\[\s*[rbuf]?['\"][^'\"]+['\"]\s*\]")
# A superset of what can make a statement evidence: when none of it is in the file, it has no candidate block,
# and the file's position pass (a third of a parse) is skipped.
_DATA_IMPORT = re.compile(r"^[ \t]*(?:import|from)[ \t][^\n]*\b(?:" + "|".join(sorted(_DATA_LIBRARIES)) + r")\b",
                          re.MULTILINE)
_TOKENIZER_CALL = re.compile(r"\btokenizer\w*\s*(?:\(|\.(?:encode|decode|batch_decode|__call__))")
_SELF_ASSIGNMENT = re.compile(r"^self\.\w+(?:\s*,\s*self\.\w+)*\s*(?::[^=]+)?=[^=]")
# Methods that set state up rather than compute features.
_SET_UP_METHODS = frozenset({"__init__", "__post_init__", "__new__", "__setstate__", "__init_subclass__"})
_BOILERPLATE = re.compile(r"\b(?:add_argument|add_argument_group|add_parser|basicConfig|getLogger|setLevel|"
                          r"addHandler|setFormatter|Column|mapped_column|relationship|field)\s*\(")
_COPIED = re.compile(r"#\s*Copied from\b")
# Bare expressions that only show or log something: dropped, so copies differing in them stay copies.
_OUTPUT_ONLY = re.compile(
    r"^(?:(?:print|pprint|display|logger\.\w+|logging\.\w+|log\.\w+|warnings\.warn|wandb\.log|mlflow\.log_\w+)\s*\("
    r"|[\w.\[\]'\"]+\.(?:head|tail|describe|info|shape|dtypes|columns|mean|std|sum|min|max|count|nunique|unique|"
    r"value_counts|plot|hist|show)\b[^=]*$|[\w.\[\]'\"]+$)")


class Statement(NamedTuple):
    line: int
    end_line: int
    shape: int
    exact: int
    tokens: int
    evidence: bool


class Block(NamedTuple):
    qualname: str
    line: int
    end_line: int
    copied: bool
    statements: tuple[Statement, ...]


class FileFacts(NamedTuple):
    role: str
    skipped: str | None
    blocks: tuple[Block, ...]


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")


def _canonical_string(text: str) -> str:
    """'a' and "a" are the same literal; other strings and numbers stay as written."""
    if len(text) >= 2 and text[0] in "'\"" and text[-1] == text[0] and not text.startswith(('"""', "'''")):
        body = text[1:-1]
        if not any(c in body for c in "'\"\\"):
            return f"'{body}'"
    return text


def normalise(code: str, aliases: frozenset[str]) -> tuple[str, str, int]:
    """(shape text, exact text, token count) of a statement's code; comments dropped."""
    shape: list[str] = []
    exact: list[str] = []
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(code) if m.lastgroup != "comment"]
    depth = 0
    previous: str | None = None
    negate = False
    for index, (kind, text) in enumerate(tokens):
        following = tokens[index + 1][1] if index + 1 < len(tokens) else ""
        if kind == "op" and text == "-" and previous in _UNARY_AFTER and index + 1 < len(tokens) \
                and tokens[index + 1][0] == "number":
            negate = True  # a negative literal is one literal: `-1.0` folds like `0.0`
            continue
        if kind in ("string", "number"):
            shape.append("S" if kind == "string" else "N")
            exact.append(("-" if negate else "") + _canonical_string(text))
        elif kind == "name" and text not in _KEYWORDS:
            keyword_arg = following == "=" and depth > 0
            shape.append(text if previous == "." or keyword_arg else "V")
            exact.append(text if previous == "." or keyword_arg or following == "(" or text in aliases else "V")
        else:
            depth += text in _OPENERS
            depth -= text in _CLOSERS
            shape.append(text)
            exact.append(text)
        previous = text
        negate = False
    return " ".join(shape), " ".join(exact), len(tokens)


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


class _Collector:
    """Walks statement lists (never expressions) and gathers blocks, nested ones included."""

    def __init__(self, parsed: ParsedFile) -> None:
        self.parsed = parsed
        self.source = _Source(parsed)
        self.imports: set[str] = set()
        self.aliases: dict[str, str] = {}
        self.raw: list[tuple[str, int, int, bool, list[tuple[int, int, str]]]] = []

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

    def definition(self, node: cst.FunctionDef | cst.ClassDef, scope: str, copied: bool) -> None:
        name = f"{scope}.{node.name.value}" if scope else node.name.value
        copied = copied or any(line.comment is not None and _COPIED.search(line.comment.value)
                               for line in node.leading_lines)
        if isinstance(node, cst.ClassDef):
            self.module_level(_suite(node.body), name, copied, collect=False)
            return
        decorators = " ".join(self.source.code(d.decorator) for d in node.decorators)
        if node.name.value.startswith("test") or node.name.value in _SET_UP_METHODS or "fixture" in decorators:
            return
        body: list[tuple[int, int, str]] = []
        self.statements(_suite(node.body), name, body)
        start, _, end, _ = self.parsed.span(node)
        self.raw.append((name, start, end, copied, body))

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
            self.raw.append((scope, run[0][0], run[-1][1], False, list(run)))


def _defines(node: cst.CSTNode) -> bool:
    return any(isinstance(child, cst.FunctionDef | cst.ClassDef) for child in _inner_blocks(node))


def _evidence_pattern(aliases: dict[str, str]) -> re.Pattern[str] | None:
    names = sorted(
        local for local, module in aliases.items()
        if module.split(".")[0] in _DATA_LIBRARIES and not module.startswith(_INFRA_MODULES)
    )
    if not names:
        return None
    return re.compile(r"(?<![\w.])(?:" + "|".join(map(re.escape, names)) + r")(?:\s*\(|\.(?!\s*(?:" +
                      _INFRA_ATTRS.pattern + r")))")


def _is_evidence(code: str, pattern: re.Pattern[str] | None) -> bool:
    if _SELF_ASSIGNMENT.match(code) or _BOILERPLATE.search(code):
        return False
    if _DATA_METHODS.search(code) or _TOKENIZER_CALL.search(code):
        return True
    return pattern is not None and bool(pattern.search(code) or _WEAK_METHODS.search(code)
                                        or _COLUMN_ARITHMETIC.search(code))


def _finish(collector: _Collector) -> tuple[Block, ...]:
    pattern = _evidence_pattern(collector.aliases)
    data_aliases = frozenset(collector.aliases)
    blocks = []
    for name, start, end, copied, body in collector.raw:
        if len(body) < FLOOR_STATEMENTS:
            continue
        if sum(bool(_SELF_ASSIGNMENT.match(code)) for _, _, code in body) * 2 > len(body):
            continue  # an __init__-style assignment list is state, not feature logic
        statements = []
        for line, end_line, code in body:
            shape, exact, tokens = normalise(code, data_aliases)
            statements.append(Statement(line, end_line, _digest(shape), _digest(exact), tokens,
                                        _is_evidence(code, pattern)))
        if sum(s.evidence for s in statements) >= 2:
            blocks.append(Block(name, start, end, copied, tuple(statements)))
    return tuple(blocks)


def extract(parsed: ParsedFile) -> FileFacts:
    """The duplication facts of one file: its role and its candidate blocks of feature logic."""
    skipped = _roles.skipped_role(parsed.path, parsed.source)
    if skipped is not None:
        return FileFacts(skipped, skipped, ())
    if not (_DATA_IMPORT.search(parsed.source) or _DATA_METHODS.search(parsed.source)
            or _TOKENIZER_CALL.search(parsed.source)):
        return FileFacts(_roles.file_role(parsed.path, ()), None, ())
    collector = _Collector(parsed)
    collector.module_level(list(parsed.module.body), "", False)
    return FileFacts(_roles.file_role(parsed.path, collector.imports), None, _finish(collector))
