"""Per-file facts for the flag rules: literal bindings, rebindings, imports and control-flow tests."""

from __future__ import annotations

import re
import sys

import libcst as cst

from ..cst import ParsedFile, dotted_name, string_value
from ._args import ArgsCollector
from ._cli import CliCollector
from ._config import ConfigCollector
from ._dynamic import DynamicCollector
from ._hydra import HydraCollector
from ._model import Binding, FileFacts, Test

# Names that look like switches but are the language's or the type checker's own.
NOT_FLAGS = frozenset({"TYPE_CHECKING", "__debug__", "__name__", "__file__", "__doc__", "__all__", "__version__"})
_STDLIB = frozenset(sys.stdlib_module_names)
_LITERALS = (cst.Name, cst.Integer, cst.Float, cst.SimpleString, cst.ConcatenatedString)
_CMP = {cst.Equal: "==", cst.NotEqual: "!=", cst.Is: "is", cst.IsNot: "is not", cst.In: "in", cst.NotIn: "not in",
        cst.LessThan: "<", cst.LessThanEqual: "<=", cst.GreaterThan: ">", cst.GreaterThanEqual: ">="}
_PATCHERS = frozenset({"setattr", "patch", "object", "setitem", "delattr"})
# A Colab form field: `x = 'a'  #@param {type:"string"}` is a value a person sets in the form, not a constant.
_FORM_FIELD = re.compile(r"#\s*@(?:param|markdown)\b")
# A string a template engine fills in before the code runs (cookiecutter, Jinja, copier): `"{{ cookiecutter.x }}"`.
_TEMPLATED = re.compile(r"\{\{.*\}\}|\{%.*%\}")


def _is_form_field(line: cst.CSTNode | None) -> bool:
    if not isinstance(line, cst.SimpleStatementLine):
        return False
    comment = line.trailing_whitespace.comment
    return comment is not None and bool(_FORM_FIELD.match(comment.value))


def module_parts(path: str) -> tuple[tuple[str, ...], bool]:
    stem = path.rsplit(".", 1)[0] if path.endswith((".py", ".pyi", ".ipynb")) else path
    parts = tuple(p for p in stem.split("/") if p)
    if parts and parts[-1] == "__init__":
        return parts[:-1], True
    return parts, False


def literal_code(node: cst.BaseExpression) -> str | None:
    """The code of a bool/None/number/string literal (a leading minus allowed), else None."""
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = literal_code(node.expression)
        return None if inner is None or not isinstance(node.expression, (cst.Integer, cst.Float)) else "-" + inner
    if isinstance(node, cst.Name):
        return node.value if node.value in ("True", "False", "None") else None
    if isinstance(node, (cst.Integer, cst.Float)):
        return node.value
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        value = string_value(node)
        return None if value is None else repr(value)
    if isinstance(node, (cst.Tuple, cst.List, cst.Set)):
        items = [literal_code(e.value) for e in node.elements if isinstance(e, cst.Element)]
        if len(items) != len(node.elements) or any(i is None for i in items):
            return None
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"  # type: ignore[arg-type]
    return None


def _target_names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [n for e in target.elements for n in _target_names(e.value)]
    if isinstance(target, cst.StarredElement):
        return _target_names(target.value)
    return []


def _absolute(parts: tuple[str, ...], is_package: bool, node: cst.ImportFrom) -> str:
    base = dotted_name(node.module) if node.module is not None else ""
    level = len(node.relative)
    if not level:
        return base
    package = parts if is_package else parts[:-1]
    keep = package[: len(package) - (level - 1)] if level > 1 else package
    return ".".join([*keep, base] if base else keep)


class _Collector:
    def __init__(self, parsed: ParsedFile) -> None:
        self.parsed = parsed
        self.parts, self.is_package = module_parts(parsed.path)
        self.raw = ".".join(self.parts)
        self.imports: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self.literals: dict[str, tuple[str, cst.CSTNode, str]] = {}
        self.classes: dict[str, bool] = {}
        self.functions: set[str] = set()
        self.locals: dict[str, set[str]] = {}
        self.raw_tests: list[tuple[cst.BaseExpression, str, str, cst.CSTNode]] = []
        self.rebound: set[str] = set()
        self.cli = CliCollector(parsed, self)
        self.dynamic = DynamicCollector(self)
        self.args = ArgsCollector(self)

    # bindings --------------------------------------------------------------------------------------------
    def bind(self, scope: str, name: str, value: cst.BaseExpression | None, node: cst.CSTNode) -> None:
        if scope and scope not in self.classes:
            self.locals.setdefault(scope, set()).add(name)
            return
        key = f"{scope}.{name}" if scope else name
        self.counts[key] = self.counts.get(key, 0) + 1
        code = literal_code(value) if value is not None else None
        if code is not None and not code.startswith("(") and not _TEMPLATED.search(code):
            self.literals[key] = (code, node, scope)

    def on_assign(self, node: cst.CSTNode, scope: str, form_field: bool = False) -> None:
        if isinstance(node, cst.Assign):
            targets = [t.target for t in node.targets]
            value: cst.BaseExpression | None = node.value if len(targets) == 1 and not form_field else None
        elif isinstance(node, cst.AnnAssign):
            targets, value = [node.target], None if form_field else node.value
        else:
            assert isinstance(node, cst.AugAssign)
            targets, value = [node.target], None
        for target in targets:
            if isinstance(target, cst.Attribute):
                self.rebound.add(target.attr.value)
            self.dynamic.on_assign_target(target, value if len(targets) == 1 else None, scope)
            for name in _target_names(target):
                single = value if isinstance(target, cst.Name) else None
                self.bind(scope, name, single, node)
                if isinstance(node, cst.AugAssign):
                    self.bind(scope, name, None, node)

    def on_import(self, node: cst.Import | cst.ImportFrom, scope: str) -> None:
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = dotted_name(alias.name)
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    local = alias.asname.name.value
                    self.imports[local] = full
                else:
                    local = full.split(".")[0]
                    self.imports.setdefault(local, local)
                self.bind(scope, local, None, node)
            return
        base = _absolute(self.parts, self.is_package, node)
        if isinstance(node.names, cst.ImportStar):
            self.dynamic.on_star_import(base, self.parsed.span(node)[0], scope)
            return
        for alias in node.names:
            name = dotted_name(alias.name)
            local = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else name
            self.imports[local] = f"{base}.{name}" if base else name
            self.bind(scope, local, None, node)

    # calls that rebind ------------------------------------------------------------------------------------
    def on_call(self, node: cst.Call, scope: str) -> None:
        func = dotted_name(node.func)
        last = func.rsplit(".", 1)[-1]
        if last in _PATCHERS or func.endswith("patch.object"):
            strings = [string_value(a.value) for a in node.args[:2]]
            if strings and strings[0] and "." in strings[0]:
                self.rebound.add(strings[0].rsplit(".", 1)[-1])
            if len(strings) > 1 and strings[1]:
                self.rebound.add(strings[1])
        self.dynamic.on_call(node, func, scope)

    # control flow ----------------------------------------------------------------------------------------
    def on_test(self, test: cst.BaseExpression, context: str, scope: str, owner: cst.CSTNode) -> None:
        self.raw_tests.append((test, context, scope, owner))

    def resolve(self, dotted: str, scope: str) -> str:
        """The qualified name a reference denotes, or '' when it is local, builtin or unknown."""
        head, _, rest = dotted.partition(".")
        if head in NOT_FLAGS or (rest and rest.rsplit(".", 1)[-1] in NOT_FLAGS):
            return ""
        if head in ("self", "cls") and rest and "." not in rest:
            cls = self.enclosing_class(scope)
            return f"{self.raw}.{cls}.{rest}" if cls else ""
        if self.is_local(head, scope) or head not in self.counts:
            return ""
        if self.imports.get(head, "").split(".")[0] in _STDLIB:
            return ""
        return f"{self.raw}.{dotted}"

    def is_local(self, name: str, scope: str) -> bool:
        while scope:
            if scope not in self.classes and name in self.locals.get(scope, ()):
                return True
            scope = scope.rpartition(".")[0]
        return False

    def enclosing_class(self, scope: str) -> str:
        parent = scope.rpartition(".")[0]
        return parent if parent in self.classes else ""

    def forms(self, test: cst.BaseExpression, joined: str = "") -> list[tuple[cst.BaseExpression, dict[str, str]]]:
        if isinstance(test, (cst.Name, cst.Attribute)):
            return [(test, {"form": "truth", "joined": joined})]
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not) and \
                isinstance(test.expression, (cst.Name, cst.Attribute)):
            return [(test.expression, {"form": "not", "joined": joined})]
        if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
            comparison = test.comparisons[0]
            op = _CMP.get(type(comparison.operator))
            left, right = test.left, comparison.comparator
            if op is None:
                return []
            if isinstance(left, (cst.Name, cst.Attribute)) and literal_code(right) is not None \
                    and not (isinstance(left, cst.Name) and left.value in ("True", "False", "None")):
                return [(left, {"form": "cmp", "op": op, "other": literal_code(right) or "", "joined": joined})]
            if isinstance(right, (cst.Name, cst.Attribute)) and literal_code(left) is not None \
                    and not (isinstance(right, cst.Name) and right.value in ("True", "False", "None")):
                return [(right, {"form": "cmp", "op": op, "other": literal_code(left) or "", "left": "",
                                 "joined": joined})]
            return []
        if isinstance(test, cst.BooleanOperation) and not joined:
            kind = "and" if isinstance(test.operator, cst.And) else "or"
            operands: list[cst.BaseExpression] = []
            stack: list[cst.BaseExpression] = [test]
            while stack:
                item = stack.pop()
                if isinstance(item, cst.BooleanOperation) and not item.lpar and \
                        isinstance(item.operator, cst.And if kind == "and" else cst.Or):
                    stack.extend((item.right, item.left))
                else:
                    operands.append(item)
            return [found for operand in operands for found in self.forms(operand, kind)]
        return []

    def tests(self) -> tuple[Test, ...]:
        found: list[Test] = []
        for test, context, scope, owner in self.raw_tests:
            for expr, form in self.forms(test):
                dotted = dotted_name(expr)
                if not dotted or dotted in ("True", "False", "None"):
                    continue
                ref = self.resolve(dotted, scope)
                if not ref:
                    continue
                found.append(Test(ref=ref, span=self.parsed.span(test), context=context, form=form["form"],
                                  joined=form.get("joined", ""), op=form.get("op", ""), other=form.get("other", ""),
                                  flag_left="left" not in form, body=self._lines(owner, "body"),
                                  orelse=self._lines(owner, "orelse"), scope=scope))
        return tuple(found)

    def _lines(self, owner: cst.CSTNode, part: str) -> tuple[int, int]:
        node = getattr(owner, part, None)
        if isinstance(node, cst.Else):
            node = node.body
        if not isinstance(node, cst.CSTNode):
            return (0, 0)
        line, _, end, _ = self.parsed.span(node)
        return (line, end)


def _on_def(c: _Collector, node: cst.FunctionDef | cst.ClassDef, scope: str) -> None:
    qualified = f"{scope}.{node.name.value}" if scope else node.name.value
    if isinstance(node, cst.ClassDef):
        c.classes[qualified] = not node.bases and not node.keywords and not node.decorators
    else:
        c.functions.add(qualified)
        params = node.params
        extras = [extra for extra in (params.star_arg, params.star_kwarg) if isinstance(extra, cst.Param)]
        every = [*params.posonly_params, *params.params, *params.kwonly_params, *extras]
        c.locals.setdefault(qualified, set()).update(p.name.value for p in every)
    c.bind(scope, node.name.value, None, node)


# Node types the main loop acts on besides calls (exact types: libcst nodes are final classes).
_BINDING_OR_TEST = frozenset({
    cst.Assign, cst.AnnAssign, cst.AugAssign, cst.FunctionDef, cst.ClassDef, cst.Import, cst.ImportFrom,
    cst.Global, cst.Nonlocal, cst.If, cst.IfExp, cst.While, cst.For, cst.CompFor, cst.AsName, cst.NamedExpr,
    cst.Del, cst.Lambda,
})


def extract_flag_facts(parsed: ParsedFile) -> FileFacts:
    """Everything the repository-level judge needs from one file; reads the tree once."""
    c = _Collector(parsed)
    configs = ConfigCollector(parsed)
    for node, parent, scope in parsed.nodes():
        c.cli.visit(node, parent, scope)
        node_type = type(node)
        if node_type is cst.Call or node_type is cst.ClassDef:
            c.args.visit(node, parent, scope)
        if node_type is cst.Call:
            c.on_call(node, scope)  # type: ignore[arg-type]
            configs.visit_call(node, parent, scope)  # type: ignore[arg-type]
            continue
        if node_type is cst.SimpleString:
            configs.visit_string(node)  # type: ignore[arg-type]
            continue
        if node_type not in _BINDING_OR_TEST:
            continue  # most nodes (names, literals, operators) bind nothing and test nothing
        if isinstance(node, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
            c.on_assign(node, scope, _is_form_field(parent))
        elif isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            _on_def(c, node, scope)
        elif isinstance(node, (cst.Import, cst.ImportFrom)):
            c.on_import(node, scope)
        elif isinstance(node, (cst.Global, cst.Nonlocal)):
            c.rebound.update(item.name.value for item in node.names)
            for item in node.names:
                c.bind("", item.name.value, None, node)
        elif isinstance(node, cst.If):
            c.on_test(node.test, "if", scope, node)
        elif isinstance(node, cst.IfExp):
            c.on_test(node.test, "ternary", scope, node)
        elif isinstance(node, cst.While):
            c.on_test(node.test, "while", scope, node)
        elif isinstance(node, (cst.For, cst.CompFor)):
            for name in _target_names(node.target):
                c.bind(scope, name, None, node)
        elif isinstance(node, cst.AsName) and isinstance(parent, (cst.WithItem, cst.ExceptHandler)):
            for name in _target_names(node.name):  # type: ignore[arg-type]
                c.bind(scope, name, None, node)
        elif isinstance(node, (cst.NamedExpr, cst.Del)):
            for name in _target_names(node.target):
                c.bind(scope, name, None, node)
        elif isinstance(node, cst.Lambda):
            c.locals.setdefault(scope, set()).update(p.name.value for p in node.params.params)
    dynamic = c.dynamic.facts()
    star_line = dynamic.pop("star_line")
    bindings = tuple(
        Binding(name, code, span, scope)
        for name, (code, node, scope) in c.literals.items()
        if c.counts.get(name) == 1 and name.rsplit(".", 1)[-1] not in NOT_FLAGS
        and (not scope or c.classes.get(scope, False))
        and (span := parsed.span(node))[0] > star_line  # a later `from x import *` may replace it
    )
    bound = frozenset(name for name, count in c.counts.items() if count > 1 or name not in c.literals)
    cli = c.cli.facts()
    hydra = HydraCollector(parsed, c).facts() if any(
        target.split(".")[0] in ("hydra", "omegaconf") for target in c.imports.values()) else {}
    return FileFacts(
        parts=c.parts, is_package=c.is_package, imports=c.imports, bindings=bindings, bound=bound,
        plain_classes=frozenset(k for k, plain in c.classes.items() if plain), tests=c.tests(),
        rebound_attrs=frozenset(c.rebound | dynamic.pop("namespace_names")), **dynamic, **cli,
        **configs.facts(c.imports), **c.args.facts(parsed.span), **hydra,
    )
