"""Per-file facts: every data read and write with its source expression, plus the module's constants.

Runs in a worker process on one parsed file; the facts are plain picklable data and depend only on the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from ..cst import ParsedFile, dotted_name, string_value
from ._readers import Call, classify_call
from ._values import Evaluator, Value, hole

_MAIN_GUARD = "__main__"
# What makes a module a service, by evidence in its code rather than by a word in its path.
_SERVERS = frozenset({"flask.Flask", "fastapi.FastAPI", "fastapi.APIRouter", "starlette.applications.Starlette",
                      "sanic.Sanic", "bentoml.Service", "aiohttp.web.Application", "litserve.LitServer",
                      "kserve.ModelServer", "tornado.web.Application"})
_SERVING_DECORATORS = frozenset({"ray.serve.deployment", "bentoml.service", "bentoml.api", "modal.web_endpoint",
                                 "modal.asgi_app", "modal.fastapi_endpoint"})
_HANDLER_PARAMS = ("event", "context")


@dataclass(frozen=True, slots=True)
class Access:
    """One read or write: ``kind`` says how to read the value (path, sql, table, dataset, model, url)."""

    family: str
    kind: str
    value: Value
    line: int
    column: int
    end_line: int
    end_column: int
    scope: str
    module_level: bool = False
    pinned: bool = False  # a hub read with an explicit revision
    holds: str = ""  # the name the read is assigned to (`preds = pd.read_csv(...)`)


@dataclass(frozen=True, slots=True)
class Signature:
    """A module-level function's parameters in order, with the defaults that are values."""

    params: tuple[str, ...]
    defaults: dict[str, Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallSite:
    """A call to a function of the repository (``module.function``) with the values of its arguments."""

    callee: str
    args: tuple[Value, ...]
    keywords: dict[str, Value] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FileFacts:
    module: str
    reads: tuple[Access, ...] = ()
    writes: tuple[Access, ...] = ()
    constants: dict[str, Value] = field(default_factory=dict)
    instances: dict[str, str] = field(default_factory=dict)  # module-level `settings = Settings()`
    functions: dict[str, Signature] = field(default_factory=dict)
    calls: tuple[CallSite, ...] = ()
    returns: dict[str, Value] = field(default_factory=dict)  # a function's one returned value, when it has one
    serving: bool = False  # the module answers requests: a web app, a Lambda handler, a serving deployment


def module_name(path: str) -> str:
    parts = path.removesuffix(".pyi").removesuffix(".py").removesuffix(".ipynb").split("/")
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(module: str, is_package: bool, level: int, target: str) -> str:
    base = module.split(".") if module else []
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)] if level - 1 <= len(base) else []
    return ".".join([*base, target] if target else base)


class _File:
    """The two passes over one file: module-level names first, then reads and writes in source order."""

    def __init__(self, parsed: ParsedFile) -> None:
        self.parsed = parsed
        self.module = module_name(parsed.path)
        self.is_package = parsed.path.endswith(("__init__.py", "__init__.pyi"))
        self.aliases: dict[str, str] = {}  # local name -> dotted import target
        self.constants: dict[str, Value] = {}
        self.instances: dict[str, str] = {}
        self.classes: set[str] = set()
        self.functions: dict[str, Signature] = {}
        self.calls: list[CallSite] = []
        self.serving = False
        self.scopes: dict[str, dict[str, Value]] = {}
        self.containers: dict[str, dict[str, cst.BaseExpression]] = {}  # scope -> name -> dict/list literal
        self.scope = ""
        self.returns: dict[str, Value | None] = {}
        self.evaluator = Evaluator(parsed.code, self._lookup, self.canonical, parsed.path, self._held, self._callee)

    # --- names ---------------------------------------------------------------------------------------------
    def canonical(self, name: str) -> str:
        """``pd.read_csv`` -> ``pandas.read_csv`` through the file's imports."""
        if not name:
            return name
        head, _, rest = name.partition(".")
        target = self.aliases.get(head)
        if target is None:
            return name
        return f"{target}.{rest}" if rest else target

    def _lookup(self, name: str) -> Value | None:
        head, _, rest = name.partition(".")
        scope = self.scope
        while True:
            env = self.scopes.get(scope, {})
            if head in env and (scope or not rest):
                return env[head] if not rest else None  # a local's attribute: args.path, self.root
            if not scope:
                break  # a module-level instance's attribute (`settings.RAW`) is answered below
            scope = scope.rpartition(".")[0]
        if name in self.constants:
            return self.constants[name]
        if head in self.instances and rest:
            return self.constants.get(f"{self.instances[head]}.{rest}")
        target = self.aliases.get(head)
        if target is not None:
            module, _, attr = target.rpartition(".") if not rest else (target, "", "")
            dotted = ".".join(p for p in (attr, rest) if p)
            return (("imp", module, dotted),) if module and dotted else None
        return None

    def _held(self, name: str) -> cst.BaseExpression | None:
        scope = self.scope
        while True:
            if name in self.scopes.get(scope, {}) or name in self.containers.get(scope, {}):
                return self.containers.get(scope, {}).get(name)
            if not scope:
                return None
            scope = scope.rpartition(".")[0]

    def _callee(self, name: str) -> str | None:
        """``module.function`` for a call by name to a function of this file or an imported one."""
        if not name or name.split(".", 1)[0] in self.scopes.get(self.scope, {}):
            return None
        if name in self.functions:
            return f"{self.module}.{name}"
        head = name.split(".", 1)[0]
        return self.canonical(name) if head in self.aliases and "." in self.canonical(name) else None

    def _return(self, node: cst.Return, scope: str) -> None:
        """A module-level function's returned value, kept when every return gives the same literal-led value."""
        if not scope or "." in scope or scope not in self.functions or node.value is None:
            return
        value = self.evaluator.value(node.value)
        usable = bool(value) and isinstance(value[0], str) and not any(
            isinstance(part, tuple) and part[0] == "param" for part in value)
        known = self.returns.get(scope, value) if scope in self.returns else value
        self.returns[scope] = value if usable and known == value else None

    def _bind(self, scope: str, name: str, value: cst.BaseExpression | None) -> None:
        held = self.containers.setdefault(scope, {})
        if isinstance(value, (cst.Dict, cst.List, cst.Tuple, cst.Set)):
            held[name] = value
        else:
            held.pop(name, None)

    def _import(self, node: cst.Import | cst.ImportFrom) -> None:
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = dotted_name(alias.name)
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    self.aliases[alias.asname.name.value] = full
                else:
                    head = full.split(".", 1)[0]
                    self.aliases.setdefault(head, head)
            return
        module = dotted_name(node.module) if node.module is not None else ""
        if node.relative:
            module = _absolute(self.module, self.is_package, len(node.relative), module)
        if isinstance(node.names, cst.ImportStar) or not module:
            return
        for alias in node.names:
            name = dotted_name(alias.name)
            local = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else name
            self.aliases[local] = f"{module}.{name}"

    def _assign_targets(self, node: cst.CSTNode) -> list[tuple[str, cst.BaseExpression | None]]:
        if isinstance(node, cst.Assign):
            return [(dotted_name(t.target), node.value) for t in node.targets if dotted_name(t.target)]
        if isinstance(node, cst.AnnAssign) and dotted_name(node.target):
            return [(dotted_name(node.target), node.value)]
        return []

    def collect_module_names(self) -> None:
        for node, _parent, scope in self.parsed.nodes():
            if isinstance(node, (cst.Import, cst.ImportFrom)):
                self._import(node)
            elif isinstance(node, cst.ClassDef):
                self.classes.add(f"{scope}.{node.name.value}" if scope else node.name.value)
        for statement in self.parsed.module.body:
            self._module_statement(statement, "")

    def _module_statement(self, statement: cst.CSTNode, prefix: str) -> None:
        if isinstance(statement, cst.FunctionDef) and not prefix:
            self.functions[statement.name.value] = self._signature(statement.params)
            return
        if isinstance(statement, cst.ClassDef) and not prefix:
            body = statement.body.body if isinstance(statement.body, cst.IndentedBlock) else ()
            for inner in body:
                self._module_statement(inner, statement.name.value + ".")
            return
        if not isinstance(statement, cst.SimpleStatementLine):
            return
        for small in statement.body:
            for name, value in self._assign_targets(small):
                if "." in name or value is None:
                    continue
                if not prefix and isinstance(value, cst.Call) and dotted_name(value.func) in self.classes:
                    self.instances[name] = dotted_name(value.func)
                    continue
                self.constants[prefix + name] = self.evaluator.value(value)
                if not prefix:
                    self._bind("", name, value)

    # --- reads and writes ----------------------------------------------------------------------------------
    def collect_accesses(self) -> tuple[list[Access], list[Access]]:
        reads: list[Access] = []
        writes: list[Access] = []
        module = self.parsed.module
        top: cst.CSTNode | None = None
        guarded = False
        for node, parent, scope in self.parsed.nodes():
            self.scope = scope
            if parent is module:
                top = node
                guarded = _is_main_guard(node)
            if isinstance(node, cst.FunctionDef):
                self._enter_function(node, scope)
                self.serving = self.serving or (not scope and _is_handler(node))
            elif isinstance(node, cst.Decorator):
                target = node.decorator.func if isinstance(node.decorator, cst.Call) else node.decorator
                self.serving = self.serving or self.canonical(dotted_name(target)) in _SERVING_DECORATORS
            elif isinstance(node, (cst.Assign, cst.AnnAssign)):
                # module level too: a name bound inside `if __name__ == "__main__":` or `if not exists(...)`
                # is read a few lines later in source order, as a local is
                for name, value in self._assign_targets(node):
                    if "." not in name:
                        self.scopes.setdefault(scope, {})[name] = self.evaluator.value(value)
                        self._bind(scope, name, value)
            elif isinstance(node, cst.Return):
                self._return(node, scope)
            elif isinstance(node, (cst.For, cst.CompFor, cst.WithItem, cst.NamedExpr)):
                self._bind_unknown(node, scope)
            elif isinstance(node, cst.Call):
                self._call(node, parent, scope, reads, writes, top is not None and not scope and not guarded)
        return reads, writes

    def _signature(self, params: cst.Parameters) -> Signature:
        named = [*params.posonly_params, *params.params, *params.kwonly_params]
        defaults = {p.name.value: self.evaluator.value(p.default) for p in named if p.default is not None}
        return Signature(tuple(p.name.value for p in named), defaults)

    def _enter_function(self, node: cst.FunctionDef, scope: str) -> None:
        inner = f"{scope}.{node.name.value}" if scope else node.name.value
        params = node.params
        names = [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)]
        env = self.scopes.setdefault(inner, {})
        for name in names:
            # a module-level function's parameter is bound by its callers (or its default) across the repository
            env[name] = (("param", self.module, node.name.value, name),) if not scope else hole(name)
        for star in (params.star_arg, params.star_kwarg):
            if isinstance(star, cst.Param):
                env[star.name.value] = hole(star.name.value)

    def _bind_unknown(self, node: cst.CSTNode, scope: str) -> None:
        target = getattr(node, "target", None)
        if isinstance(node, cst.WithItem):
            target = node.asname.name if node.asname is not None else None
        names = [target] if isinstance(target, cst.Name) else [
            e.value for e in getattr(target, "elements", ()) if isinstance(getattr(e, "value", None), cst.Name)]
        env = self.scopes.setdefault(scope, {})
        for name in names:
            env[name.value] = hole(name.value)

    def _call(self, node: cst.Call, parent: cst.CSTNode | None, scope: str, reads: list[Access],
              writes: list[Access], module_level: bool) -> None:
        name = dotted_name(node.func)
        self._call_site(node, name)
        call = Call(node, self.canonical(name), self.evaluator, parent)
        self.serving = self.serving or call.name in _SERVERS
        holds = ""
        if isinstance(parent, (cst.Assign, cst.AnnAssign)) and parent.value is node:
            holds = " ".join(name for name, _ in self._assign_targets(parent))
        for access in classify_call(call):
            line, column, end_line, end_column = self.parsed.span(node)
            record = Access(access.family, access.kind, access.value, line, column, end_line, end_column, scope,
                            module_level and not access.write, access.pinned, holds)
            (writes if access.write else reads).append(record)


    def _call_site(self, node: cst.Call, name: str) -> None:
        """Remember a call to a function of this file or an imported one when an argument says something."""
        if not name:
            return
        if name in self.functions:
            callee = f"{self.module}.{name}"
        elif name.split(".", 1)[0] in self.aliases and name.split(".", 1)[0] not in self.scopes.get(self.scope, {}):
            callee = self.canonical(name)
        else:
            return
        args: list[Value] = []
        keywords: dict[str, Value] = {}
        for arg in node.args:
            if arg.star:
                break
            value = self.evaluator.value(arg.value)
            if arg.keyword is not None:
                keywords[arg.keyword.value] = value
            else:
                args.append(value)
        if any(not _only_holes(v) for v in (*args, *keywords.values())):
            self.calls.append(CallSite(callee, tuple(args), keywords))


def _is_handler(node: cst.FunctionDef) -> bool:
    """``def handler(event, context)``: the entry a function-as-a-service platform calls per request."""
    names = tuple(p.name.value for p in node.params.params[:2])
    return names == _HANDLER_PARAMS or node.name.value == "lambda_handler"


def _only_holes(value: Value) -> bool:
    return all(not isinstance(part, str) and part[0] == "hole" for part in value)


def _is_main_guard(node: cst.CSTNode) -> bool:
    if not isinstance(node, cst.If) or not isinstance(node.test, cst.Comparison):
        return False
    test = node.test
    sides = [test.left, *(c.comparator for c in test.comparisons)]
    return any(dotted_name(s) == "__name__" for s in sides) and any(string_value(s) == _MAIN_GUARD for s in sides)


def extract_accesses(parsed: ParsedFile) -> FileFacts:
    """The data reads and writes of one Python file, with its module-level constants for cross-module refs."""
    file = _File(parsed)
    file.collect_module_names()
    reads, writes = file.collect_accesses()
    returns = {name: value for name, value in file.returns.items() if value is not None}
    return FileFacts(file.module, tuple(reads), tuple(writes), file.constants, file.instances, file.functions,
                     tuple(file.calls), returns, file.serving)
