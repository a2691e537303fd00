"""Per-file evidence that names can change at run time, recorded against the namespace they live in.

A module's or class's literal is a constant switch only when nothing can rebind it. This collects what can:
``exec``/``execfile`` into the module's namespace (a configurator that takes any ``--name=value`` or config file),
writes through ``globals()``, ``vars()``, ``locals()`` (module or class body), ``sys.modules[...]`` and
``obj.__dict__`` (``[k] = v``, ``.update``, ``.setdefault``), ``setattr``/``delattr`` with a computed name,
``importlib.reload``, and a star import that comes after the names it may replace.

Each write names its namespace: ``HERE`` (this module), a dotted reference resolved through the file's imports
(another module, or a class), or ``UNKNOWN`` (an object that cannot be named, which the file's own module is
assumed to be, since it may be).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import libcst as cst

from ..cst import dotted_name, string_value

if TYPE_CHECKING:
    from ._extract import _Collector

HERE, UNKNOWN = "", "?"
_STDLIB = frozenset(sys.stdlib_module_names)
_WRITE_METHODS = frozenset({"update", "__setitem__", "setdefault"})
_EXEC = frozenset({"exec", "execfile"})


class DynamicCollector:
    """Collects namespace writes during the shared walk; resolves what they name once the file is known."""

    def __init__(self, owner: _Collector) -> None:
        self.owner = owner
        self.writes: list[tuple[cst.BaseExpression, str, bool]] = []  # (namespace expression, scope, is object)
        self.execs: list[tuple[cst.Call, str]] = []
        self.aliases: dict[tuple[str, str], cst.BaseExpression] = {}  # g = globals()
        self.keyed: list[tuple[cst.BaseExpression, str, str]] = []  # globals()["X"] = ...: (mapping, scope, X)
        self.reloads: list[tuple[cst.Call, str, str]] = []
        self.star_line = 0

    # during the walk -----------------------------------------------------------------------------------------
    def on_assign_target(self, target: cst.BaseExpression, value: cst.BaseExpression | None, scope: str) -> None:
        if isinstance(target, cst.Name) and value is not None and _maybe_namespace(value):
            self.aliases[(scope, target.value)] = value
        if not isinstance(target, cst.Subscript):
            return
        if not _maybe_namespace(target.value) and not isinstance(target.value, cst.Name):
            return
        key = _literal_key(target)
        if key is not None:
            self.keyed.append((target.value, scope, key))
        else:
            self.writes.append((target.value, scope, False))

    def on_call(self, node: cst.Call, func: str, scope: str) -> None:
        if func in ("setattr", "delattr") and len(node.args) >= 2 and string_value(node.args[1].value) is None:
            self.writes.append((node.args[0].value, scope, True))
        elif func in _EXEC:
            self.execs.append((node, scope))
        elif func in ("reload", "importlib.reload", "imp.reload") and node.args:
            self.reloads.append((node, func, scope))
        elif isinstance(node.func, cst.Attribute) and node.func.attr.value in _WRITE_METHODS:
            receiver = node.func.value
            if _maybe_namespace(receiver) or isinstance(receiver, cst.Name):
                self.writes.append((receiver, scope, False))

    def on_star_import(self, module: str, line: int, scope: str) -> None:
        if not scope and module.split(".")[0] not in _STDLIB:
            self.star_line = max(self.star_line, line)

    # once the file is known --------------------------------------------------------------------------------
    def facts(self) -> dict[str, Any]:
        written: set[str] = set()
        for node, scope, is_object in self.writes:
            target = self._object(node, scope) if is_object else self._namespace(node, scope)
            if target is not None:
                written.add(target)
        for call, func, scope in self.reloads:
            head = func.split(".")[0]
            if self.owner.imports.get(head, "") in ("importlib", "imp", "importlib.reload", "imp.reload"):
                written.add(self._object(call.args[0].value, scope))
        # A literal key is the same as rebinding that one name, judged like `module.X = ...`.
        names = frozenset(key for node, scope, key in self.keyed if self._namespace(node, scope) is not None)
        for call, scope in self.execs:
            target = self._exec_target(call, scope)
            if target is not None:
                written.add(target)
        here = HERE in written or UNKNOWN in written
        return {"writes_globals": here, "dynamic_targets": frozenset(written - {HERE, UNKNOWN}),
                "star_line": self.star_line, "namespace_names": names}

    def _exec_target(self, call: cst.Call, scope: str) -> str | None:
        func = dotted_name(call.func)
        if func in self.owner.counts or func in self.owner.imports:
            return None  # a function of the same name, not the builtin
        given = next((a.value for a in call.args if a.keyword is not None and a.keyword.value == "globals"), None)
        positional = [a.value for a in call.args if a.keyword is None and not a.star]
        if given is None and len(positional) >= 2:
            given = positional[1]
        if given is None:
            # Code exec'd without a namespace runs in this module's globals (its `globals()[k] = v` writes them).
            return HERE
        return self._namespace(given, scope)

    def _namespace(self, node: cst.BaseExpression, scope: str, depth: int = 0) -> str | None:
        """Whose names a write into the mapping ``node`` rebinds; None when it is not a namespace."""
        if isinstance(node, cst.Name) and depth < 4:
            alias = self.aliases.get((scope, node.value)) or self.aliases.get(("", node.value))
            return self._namespace(alias, scope, depth + 1) if alias is not None else None
        if isinstance(node, cst.Call):
            func = dotted_name(node.func)
            if func == "globals" and not node.args:
                return HERE
            if func in ("vars", "locals") and not node.args:
                # In a function these are its locals; in a module or class body they are its namespace.
                return HERE if not scope or scope in self.owner.classes else None
            if func == "vars" and len(node.args) == 1:
                return self._object(node.args[0].value, scope)
            return None
        if isinstance(node, cst.Attribute) and node.attr.value == "__dict__":
            return self._object(node.value, scope)
        return None

    def _object(self, node: cst.BaseExpression, scope: str) -> str:
        """The module or class an object expression names: HERE, a dotted reference, or UNKNOWN."""
        if isinstance(node, cst.Subscript) and dotted_name(node.value) == "sys.modules" and len(node.slice) == 1 \
                and isinstance(node.slice[0].slice, cst.Index):
            key = node.slice[0].slice.value
            if dotted_name(key) == "__name__":
                return HERE
            return string_value(key) or UNKNOWN
        dotted = dotted_name(node)
        if not dotted:
            return UNKNOWN
        o = self.owner
        head, _, rest = dotted.partition(".")
        if head in ("self", "cls") and not rest:
            cls = o.enclosing_class(scope) or (scope if scope in o.classes else "")
            return f"{o.raw}.{cls}" if cls else UNKNOWN
        if o.is_local(head, scope):
            return UNKNOWN
        if head in o.imports:
            target = o.imports[head]
            return f"{target}.{rest}" if rest else target
        if head in o.classes:
            return f"{o.raw}.{dotted}"
        return UNKNOWN


def _maybe_namespace(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.Call):
        return dotted_name(node.func) in ("globals", "vars", "locals")
    return isinstance(node, cst.Attribute) and node.attr.value == "__dict__"


def _literal_key(target: cst.Subscript) -> str | None:
    if len(target.slice) == 1 and isinstance(target.slice[0].slice, cst.Index):
        return string_value(target.slice[0].slice.value)
    return None
