"""Per-file command-line facts: argparse options and parsers, click/typer parameters, and namespace uses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import libcst as cst

from ..cst import ParsedFile, dotted_name, string_value
from ._model import Option, Usage

if TYPE_CHECKING:
    from ._extract import _Collector

_PARSE = frozenset({"parse_args", "parse_known_args", "parse_intermixed_args", "parse_known_intermixed_args"})
_GROUPS = frozenset({"add_argument_group", "add_mutually_exclusive_group", "add_subparsers", "add_parser"})
_NOT_PASSES = frozenset({"getattr", "hasattr", "setattr", "vars", "isinstance", "print", "id", "type", "repr",
                         "str", "len", "bool"})
_STORED_IN = (cst.Assign, cst.AnnAssign, cst.Element, cst.DictElement, cst.Yield, cst.NamedExpr, cst.StarredElement)


def argparse_dest(strings: list[str], dest: str | None) -> str:
    """The attribute name argparse gives an option, computed the way argparse does."""
    if dest:
        return dest
    if not strings[0].startswith("-"):
        return strings[0]
    long = [s for s in strings if s.startswith("--")]
    return (long[0] if long else strings[0]).lstrip("-").replace("-", "_")


def click_name(strings: list[str], argument: bool) -> str:
    """The Python parameter name click derives from an option's or argument's declarations."""
    for decl in strings:
        if decl.isidentifier():
            return decl
    if argument:
        return strings[0].replace("-", "_").lower()
    names = [part.strip() for decl in strings for part in decl.split("/")[:1]]
    names.sort(key=lambda s: len(s) - len(s.lstrip("-")), reverse=True)
    return names[0].lstrip("-").replace("-", "_").lower() if names else ""


def _kw(call: cst.Call, name: str) -> cst.BaseExpression | None:
    return next((a.value for a in call.args if a.keyword is not None and a.keyword.value == name), None)


def _literal_strings(node: cst.BaseExpression) -> list[str] | None:
    if isinstance(node, (cst.Tuple, cst.List, cst.Set)):
        values = [string_value(e.value) for e in node.elements]
        return None if any(v is None for v in values) else values  # type: ignore[return-value]
    return None


def _first_name(target: cst.BaseExpression) -> str | None:
    """The name a call's result (or, unpacked, its first item) lands in: ``args, rest = parse()`` -> args,
    since a factory returning ``parse_known_args()`` gives (namespace, leftovers)."""
    if isinstance(target, cst.Name):
        return target.value
    if isinstance(target, (cst.Tuple, cst.List)) and target.elements and \
            all(isinstance(e.value, cst.Name) for e in target.elements):
        return target.elements[0].value.value  # type: ignore[attr-defined]
    return None


class CliCollector:
    def __init__(self, parsed: ParsedFile, owner: _Collector) -> None:
        self.parsed = parsed
        self.owner = owner
        self.read: set[str] = set()
        self.env: set[str] = set()  # environment variables read with a literal name
        self.dynamic = False
        self.handled: set[int] = set()
        self.loops: dict[tuple[str, str], list[str]] = {}
        self.events: list[tuple[str, str, str, Any]] = []  # (scope, name, kind, detail)
        self.parsers: dict[tuple[str, str], str] = {}
        self.options: list[tuple[str, str, list[str], cst.CSTNode, str]] = []
        self.cli_params: list[tuple[str, str, list[str], cst.CSTNode, str]] = []
        self.watched: dict[str, set[str]] = {}
        self.loaded: dict[str, set[str]] = {}
        self.parse_sites: list[tuple[str, str, str]] = []  # (scope, parser key or call:dotted, usage name)
        self.returns: list[tuple[str, str]] = []  # (function scope, returned name)
        self.call_results: list[tuple[str, str, str]] = []  # (scope, callee dotted, var)
        self.unassigned: list[tuple[str, str]] = []
        self.params: dict[str, tuple[str, ...]] = {}

    # the one entry, called for every node ----------------------------------------------------------------
    def visit(self, node: cst.CSTNode, parent: cst.CSTNode | None, scope: str) -> None:
        if isinstance(node, cst.Attribute):
            self._attribute(node, parent, scope)
        elif isinstance(node, cst.Call):
            self._call(node, parent, scope)
        elif isinstance(node, cst.Subscript):
            self._subscript(node)
            if dotted_name(node.value).endswith("environ") and len(node.slice) == 1 \
                    and isinstance(node.slice[0].slice, cst.Index):
                self._env(node.slice[0].slice.value)
        elif isinstance(node, cst.Comparison) and len(node.comparisons) == 1 \
                and isinstance(node.comparisons[0].operator, (cst.In, cst.NotIn)) \
                and dotted_name(node.comparisons[0].comparator).endswith("environ"):
            self._env(node.left)
        elif isinstance(node, cst.Name):
            self._name(node, parent, scope)
        elif isinstance(node, cst.FunctionDef):
            self._function(node, scope)
        elif isinstance(node, cst.Return) and isinstance(node.value, cst.Name):
            self.events.append((scope, node.value.value, "returned", None))
            self.returns.append((scope, node.value.value))
        elif isinstance(node, cst.For):
            self._loop(node.target, node.iter, scope)
        elif isinstance(node, (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)):
            comp: cst.CompFor | None = node.for_in
            while comp is not None:
                self._loop(comp.target, comp.iter, scope)
                comp = comp.inner_for_in

    def _env(self, node: cst.BaseExpression) -> None:
        name = string_value(node)
        if name:
            self.env.add(name)

    def _loop(self, target: cst.BaseExpression, iterable: cst.BaseExpression, scope: str) -> None:
        strings = _literal_strings(iterable)
        if isinstance(target, cst.Name) and strings is not None:
            self.loops[(scope, target.value)] = strings

    def _attribute(self, node: cst.Attribute, parent: cst.CSTNode | None, scope: str) -> None:
        stored = (isinstance(parent, (cst.AssignTarget, cst.AnnAssign, cst.AugAssign)) and parent.target is node) \
            or isinstance(parent, cst.Del)
        if not stored:
            self.read.add(node.attr.value)
        if node.attr.value == "__dict__" and id(node) not in self.handled:
            self._escape(node.value, scope)

    def _escape(self, value: cst.BaseExpression, scope: str) -> None:
        self.dynamic = True
        if isinstance(value, cst.Name):
            self.events.append((scope, value.value, "escapes", None))

    def _keyed(self, holder: cst.BaseExpression, key: str | None) -> bool:
        """``vars(ns)`` or ``ns.__dict__`` read with a literal key: the key is read, nothing escapes."""
        if key is None:
            return False
        is_vars = isinstance(holder, cst.Call) and dotted_name(holder.func) == "vars"
        if is_vars or (isinstance(holder, cst.Attribute) and holder.attr.value == "__dict__"):
            self.handled.add(id(holder))
        else:
            return False
        self.read.add(key)
        return True

    def _subscript(self, node: cst.Subscript) -> None:
        if len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
            self._keyed(node.value, string_value(node.slice[0].slice.value))

    def _name(self, node: cst.Name, parent: cst.CSTNode | None, scope: str) -> None:
        if isinstance(parent, cst.Param) or (isinstance(parent, cst.Attribute) and parent.attr is node) or \
                (isinstance(parent, cst.Arg) and parent.keyword is node):
            return
        for function, names in self.watched.items():
            if node.value in names and (scope == function or scope.startswith(function + ".")):
                self.loaded.setdefault(function, set()).add(node.value)
        if isinstance(parent, _STORED_IN) and getattr(parent, "value", None) is node:
            self.events.append((scope, node.value, "stored", None))

    def _function(self, node: cst.FunctionDef, scope: str) -> None:
        qualified = f"{scope}.{node.name.value}" if scope else node.name.value
        params = node.params
        self.params[qualified] = tuple(p.name.value for p in (*params.posonly_params, *params.params))
        names = [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)]
        found = self._click_params(node, qualified) + self._typer_params(node, qualified)
        if found and not isinstance(params.star_kwarg, cst.Param):
            self.cli_params.extend(found)
            self.watched[qualified] = set(names)

    def _click_params(self, node: cst.FunctionDef, qualified: str) -> list[tuple[str, str, list[str], Any, str]]:
        found = []
        for decorator in node.decorators:
            call = decorator.decorator
            if not isinstance(call, cst.Call):
                continue
            func = dotted_name(call.func)
            kind = func.rsplit(".", 1)[-1]
            root = self.owner.imports.get(func.split(".")[0], "")
            if kind not in ("option", "argument") or not root.startswith("click"):
                continue
            if _kw(call, "expose_value") is not None or _kw(call, "callback") is not None:
                continue
            strings = [string_value(a.value) for a in call.args if a.keyword is None]
            if not strings or any(s is None for s in strings):
                continue
            name = click_name(strings, kind == "argument")  # type: ignore[arg-type]
            found.append((name, "click", strings, call, qualified))
        return found

    def _typer_params(self, node: cst.FunctionDef, qualified: str) -> list[tuple[str, str, list[str], Any, str]]:
        found = []
        for param in (*node.params.params, *node.params.kwonly_params):
            marker = param.default if isinstance(param.default, cst.Call) else None
            if marker is None and param.annotation is not None:
                ann = param.annotation.annotation
                if isinstance(ann, cst.Subscript) and dotted_name(ann.value).endswith("Annotated"):
                    marker = next((s.slice.value for s in ann.slice[1:] if isinstance(s.slice, cst.Index)
                                   and isinstance(s.slice.value, cst.Call)), None)  # type: ignore[assignment]
            if not isinstance(marker, cst.Call):
                continue
            func = dotted_name(marker.func)
            root = self.owner.imports.get(func.split(".")[0], "")
            if func.rsplit(".", 1)[-1] not in ("Option", "Argument") or not root.startswith("typer"):
                continue
            if _kw(marker, "callback") is not None or _kw(marker, "is_eager") is not None:
                continue
            strings = [s for a in marker.args if (s := string_value(a.value)) and s.startswith("-")]
            found.append((param.name.value, "typer", strings or [param.name.value], param, qualified))
        return found

    def _call(self, node: cst.Call, parent: cst.CSTNode | None, scope: str) -> None:
        func = dotted_name(node.func)
        last = func.rsplit(".", 1)[-1] if func else (
            node.func.attr.value if isinstance(node.func, cst.Attribute) else "")
        if last in ("get", "pop", "setdefault") and isinstance(node.func, cst.Attribute) and node.args:
            self._keyed(node.func.value, string_value(node.args[0].value))
            if dotted_name(node.func.value).endswith("environ"):
                self._env(node.args[0].value)
        elif last == "getenv" and node.args:
            self._env(node.args[0].value)
        if func == "vars" and len(node.args) == 1 and id(node) not in self.handled:
            self._escape(node.args[0].value, scope)
        elif func in ("getattr", "hasattr") and len(node.args) >= 2:
            self._getattr(node, scope)
        elif last == "add_argument" and isinstance(node.func, cst.Attribute):
            self._add_argument(node, scope)
        elif last in _PARSE and isinstance(node.func, cst.Attribute):
            self._parse(node, parent, scope)
        elif func.endswith("ArgumentParser") or (last in _GROUPS and isinstance(node.func, cst.Attribute)):
            self._parser(node, parent, scope, last)
        if last not in _NOT_PASSES:
            self._passes(node, func, scope)
        if func and not func.startswith(("self.", "cls.")) and last not in _NOT_PASSES:
            first = _first_name(parent.targets[0].target) if isinstance(parent, cst.Assign) and \
                len(parent.targets) == 1 else None
            if first is not None:
                self.call_results.append((scope, func, first))
            elif not isinstance(parent, (cst.Attribute, cst.Expr)):
                self.unassigned.append((scope, func))

    def _passes(self, node: cst.Call, func: str, scope: str) -> None:
        for index, arg in enumerate(node.args):
            if not isinstance(arg.value, cst.Name):
                continue
            if arg.star:
                self.events.append((scope, arg.value.value, "escapes", None))
                continue
            where = f"kw:{arg.keyword.value}" if arg.keyword is not None else str(index)
            self.events.append((scope, arg.value.value, "passes", (func or "?", where)))

    def _getattr(self, node: cst.Call, scope: str) -> None:
        name = node.args[1].value
        key = string_value(name)
        if key is not None:
            self.read.add(key)
            return
        if isinstance(name, cst.Name):
            loop = self.loops.get((scope, name.value))
            if loop is not None:
                self.read.update(loop)
                return
        self._escape(node.args[0].value, scope)

    def _receiver(self, node: cst.BaseExpression, scope: str) -> str:
        if isinstance(node, cst.Name):
            return self.parsers.get((scope, node.value)) or self.parsers.get(("", node.value), "")
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and \
                node.func.attr.value in _GROUPS:
            return self._receiver(node.func.value, scope)
        return ""

    def _parser(self, node: cst.Call, parent: cst.CSTNode | None, scope: str, last: str) -> None:
        if not (isinstance(parent, cst.Assign) and len(parent.targets) == 1
                and isinstance(parent.targets[0].target, cst.Name)):
            return
        var = parent.targets[0].target.value
        func = node.func
        grouped = last in _GROUPS and isinstance(func, cst.Attribute)
        key = self._receiver(func.value, scope) if grouped else f"{self.owner.raw}|{scope}|{var}"  # type: ignore
        if key:
            self.parsers[(scope, var)] = key

    def _add_argument(self, node: cst.Call, scope: str) -> None:
        strings = [string_value(a.value) for a in node.args if a.keyword is None]
        if not strings or any(s is None for s in strings) or any(a.star for a in node.args):
            return
        action = _kw(node, "action")
        if action is not None:
            name = string_value(action)
            if name in ("help", "version") or (name is None and not dotted_name(action).endswith(
                    "BooleanOptionalAction")):
                return
        dest_node = _kw(node, "dest")
        dest = string_value(dest_node) if dest_node is not None else None
        if dest_node is not None and dest is None:
            return
        name = argparse_dest(strings, dest)  # type: ignore[arg-type]
        if not name or "." in name or name == "help":
            return
        key = self._receiver(node.func.value, scope)  # type: ignore[attr-defined]
        self.options.append((name, "argparse", strings, node, key))  # type: ignore[arg-type]

    def _parse(self, node: cst.Call, parent: cst.CSTNode | None, scope: str) -> None:
        receiver = node.func.value  # type: ignore[attr-defined]
        if isinstance(receiver, cst.Call) and dotted_name(receiver.func):
            key = "call:" + dotted_name(receiver.func)
        else:
            key = self._receiver(receiver, scope)
        if not key or _kw(node, "namespace") is not None:
            return
        var = ""
        if isinstance(parent, cst.Assign) and len(parent.targets) == 1:
            target = parent.targets[0].target
            if isinstance(target, (cst.Tuple, cst.List)) and target.elements:
                target = target.elements[0].value
            var = target.value if isinstance(target, cst.Name) else ""
        elif isinstance(parent, cst.Return) and scope:
            var = "@return"
        self.parse_sites.append((scope, key, var))

    # the facts, with names resolved once the whole file is known -----------------------------------------
    def callee(self, dotted: str, scope: str) -> str:
        o = self.owner
        head, _, rest = dotted.partition(".")
        if head in ("self", "cls") and rest and "." not in rest:
            cls = o.enclosing_class(scope)
            return f"{o.raw}.{cls}.{rest}" if cls else "?" + dotted
        if o.is_local(head, scope):
            return "?" + dotted
        if head in o.imports:
            target = o.imports[head]
            return f"{target}.{rest}" if rest else target
        if head in o.functions or head in o.classes:
            return f"{o.raw}.{dotted}"
        return "?" + dotted

    def key(self, scope: str, name: str) -> str:
        return f"{scope}|{name}" if self.owner.is_local(name, scope) else f"|{name}"

    def facts(self) -> dict[str, Any]:
        o = self.owner
        usages: dict[str, dict[str, Any]] = {}
        for scope, name, kind, detail in self.events:
            entry = usages.setdefault(self.key(scope, name), {"passes": []})
            if kind == "passes":
                entry["passes"].append((self.callee(detail[0], scope), detail[1]))
            else:
                entry[kind] = True
        options = [Option(name, tuple(strings), self.parsed.span(node), framework, parser=key)
                   for name, framework, strings, node, key in self.options]
        options += [Option(name, tuple(strings), self.parsed.span(node), framework, scope=function,
                           unread_in_function=name not in self.loaded.get(function, ()))
                    for name, framework, strings, node, function in self.cli_params]
        returned_parsers = {f"{o.raw}.{scope}": self.parsers[(scope, var)] for scope, var in self.returns
                            if (scope, var) in self.parsers}
        sites = [(k if not k.startswith("call:") else "call:" + self.callee(k[5:], scope),
                  ("return:" + scope if var == "@return" else self.key(scope, var)) if var else "")
                 for scope, k, var in self.parse_sites]
        return {
            "read_attrs": frozenset(self.read), "dynamic": self.dynamic, "env_reads": frozenset(self.env),
            "options": tuple(options),
            "parse_sites": tuple(sites), "parser_factories": returned_parsers,
            "usages": {k: Usage(v.get("escapes", False), v.get("stored", False), v.get("returned", False),
                                tuple(v["passes"])) for k, v in usages.items()},
            "call_results": tuple((self.callee(func, scope), self.key(scope, var))
                                  for scope, func, var in self.call_results),
            "unassigned_calls": frozenset(self.callee(func, scope) for scope, func in self.unassigned),
            "functions": {f"{o.raw}.{q}": p for q, p in self.params.items()},
        }
