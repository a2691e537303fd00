"""Per-file facts for options declared as dataclass fields or pydantic settings fields.

A dataclass handed to ``HfArgumentParser`` (or trl's ``TrlParser``, its subclass), ``tyro.cli``,
``simple_parsing.parse`` or ``jsonargparse.CLI``/``auto_cli`` turns each field into a command-line option; a
``BaseSettings`` class turns each field into an environment setting. This records the classes (their fields and
bases) and the places their parsed instances land, so the judge can follow each instance the way it follows an
argparse namespace. Whatever cannot be followed is recorded with no variable, which the judge reads as unknown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import libcst as cst

from ..cst import dotted_name
from ._model import ArgClass

if TYPE_CHECKING:
    from ._extract import _Collector

# Parsers whose parse methods return one instance per dataclass given to the constructor, in that order.
_MULTI_PARSERS = frozenset({"transformers.HfArgumentParser", "transformers.hf_argparser.HfArgumentParser",
                            "trl.TrlParser", "trl.scripts.utils.TrlParser"})
_MULTI_PARSES = frozenset({"parse_args_into_dataclasses", "parse_json_file", "parse_yaml_file", "parse_dict",
                           "parse_args_and_config"})
# Calls that build and return one instance of the dataclass given first.
_SINGLE = frozenset({"tyro.cli", "simple_parsing.parse", "jsonargparse.CLI", "jsonargparse.auto_cli"})
_SETTINGS_BASES = frozenset({"pydantic.BaseSettings", "pydantic_settings.BaseSettings"})
_NOT_FIELDS = frozenset({"ClassVar", "InitVar", "Final"})


def _classes(node: cst.BaseExpression) -> list[str] | None:
    """The dotted class names of ``(A, B)``, ``[A, B]`` or ``A``; None when they are not written out."""
    items = [e.value for e in node.elements] if isinstance(node, (cst.Tuple, cst.List)) else [node]
    names = [dotted_name(item) for item in items]
    return None if not names or not all(names) else names


def _targets(parent: cst.CSTNode | None) -> list[str] | None:
    """The plain names an assignment unpacks a call's result into, in order; None for any other use."""
    if not (isinstance(parent, cst.Assign) and len(parent.targets) == 1):
        return None
    target = parent.targets[0].target
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)) and \
            all(isinstance(e, cst.Element) and isinstance(e.value, cst.Name) for e in target.elements):
        return [e.value.value for e in target.elements]  # type: ignore[attr-defined]
    return None


def _is_field(statement: cst.BaseSmallStatement) -> bool:
    if not isinstance(statement, cst.AnnAssign) or not isinstance(statement.target, cst.Name):
        return False
    name = statement.target.value
    annotation = statement.annotation.annotation
    head = annotation.value if isinstance(annotation, cst.Subscript) else annotation
    if name.startswith("_") or name == "model_config" or dotted_name(head).rsplit(".", 1)[-1] in _NOT_FIELDS:
        return False
    value = statement.value
    # field(init=False) is computed, not set by anyone: not an option.
    return not (isinstance(value, cst.Call) and any(
        a.keyword is not None and a.keyword.value == "init" and dotted_name(a.value) == "False" for a in value.args))


class ArgsCollector:
    def __init__(self, owner: _Collector) -> None:
        self.owner = owner
        self.classes: list[tuple[str, list[str], bool, list[tuple[str, cst.CSTNode]]]] = []
        self.parsers: dict[tuple[str, str], list[str] | None] = {}  # (scope, var) -> class names
        self.sites: list[tuple[str, str, str, str]] = []  # (framework, class dotted, scope, var or '')

    def _full(self, dotted: str) -> str:
        head, _, rest = dotted.partition(".")
        target = self.owner.imports.get(head, head)
        return f"{target}.{rest}" if rest else target

    def visit(self, node: cst.CSTNode, parent: cst.CSTNode | None, scope: str) -> None:
        if isinstance(node, cst.ClassDef):
            self._class(node, scope)
        elif isinstance(node, cst.Call):
            self._call(node, parent, scope)

    def _class(self, node: cst.ClassDef, scope: str) -> None:
        decorators = {dotted_name(d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator)
                      for d in node.decorators}
        dataclass = any(d.rsplit(".", 1)[-1] == "dataclass" for d in decorators)
        bases = [dotted_name(b.value) or "?" for b in node.bases]
        settings = any(self._full(b) in _SETTINGS_BASES for b in bases)
        if not dataclass and not settings:
            return
        if node.keywords and not settings:
            bases.append("?")  # a metaclass or class keywords: behaviour the analyzer cannot see
        fields = [(s.target.value, s) for line in node.body.body if isinstance(line, cst.SimpleStatementLine)
                  for s in line.body if _is_field(s)]  # type: ignore[attr-defined]
        qualified = f"{scope}.{node.name.value}" if scope else node.name.value
        self.classes.append((qualified, [b for b in bases if self._full(b) not in _SETTINGS_BASES], settings, fields))

    def _call(self, node: cst.Call, parent: cst.CSTNode | None, scope: str) -> None:
        func = dotted_name(node.func)
        full = self._full(func) if func else ""
        if full in _MULTI_PARSERS:
            self._parser(node, parent, scope)
        elif full in _SINGLE and node.args and node.args[0].keyword is None:
            names = _classes(node.args[0].value)
            if names and len(names) == 1:
                targets = _targets(parent)
                self.sites.append((full, names[0], scope, targets[0] if targets and len(targets) == 1 else ""))
        elif isinstance(node.func, cst.Attribute) and node.func.attr.value in _MULTI_PARSES:
            self._parse(node, parent, scope)

    def _parser(self, node: cst.Call, parent: cst.CSTNode | None, scope: str) -> None:
        given = next((a.value for a in node.args if a.keyword is None or a.keyword.value == "dataclass_types"), None)
        names = _classes(given) if given is not None else None
        targets = _targets(parent)
        if targets and len(targets) == 1:
            self.parsers[(scope, targets[0])] = names
        elif names:
            # A parser that is not kept in a plain name (passed on, inline parse): its instances are not followed.
            self.sites.extend(("HfArgumentParser", name, scope, "") for name in names)

    def _parse(self, node: cst.Call, parent: cst.CSTNode | None, scope: str) -> None:
        receiver = node.func.value  # type: ignore[attr-defined]
        if not isinstance(receiver, cst.Name):
            return
        key = (scope, receiver.value) if (scope, receiver.value) in self.parsers else ("", receiver.value)
        if key not in self.parsers:
            return
        names = self.parsers[key]
        if names is None:
            return
        targets = _targets(parent)
        if targets is None or len(targets) < len(names):
            targets = [""] * len(names)  # a tuple kept whole, or returned: its parts are not followed
        self.sites.extend(("HfArgumentParser", name, scope, var) for name, var in zip(names, targets, strict=False))

    def facts(self, span: Any) -> dict[str, Any]:
        cli = self.owner.cli
        return {
            "arg_classes": tuple(ArgClass(name, tuple(cli.callee(b, name.rpartition(".")[0]) for b in bases),
                                          "settings" if settings else "dataclass",
                                          tuple((field, span(node)) for field, node in fields))
                                 for name, bases, settings, fields in self.classes),
            "arg_sites": tuple((framework, cli.callee(name, scope), cli.key(scope, var) if var else "")
                               for framework, name, scope, var in self.sites),
        }
