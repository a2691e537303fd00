"""setup.py read statically: the requirement literals passed to `setup(...)`, never by running the file."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import libcst as cst

from ..cst import ParsedFile, dotted_name, string_value

_LIST_KEYWORDS = ("install_requires", "tests_require")
_REQUIREMENTS_NAME = re.compile(r"[\"']((?:[\w.-]+/)*[\w.-]*requirements[\w.-]*\.(?:txt|in))[\"']")
_MAX_NAME_HOPS = 8  # `A = B`, `B = [...]` chains; bounded so `A = A + [...]` cannot loop


def _strings(node: cst.BaseExpression | None, names: dict[str, cst.BaseExpression],
             hops: int = 0) -> Iterator[cst.BaseExpression]:
    """String literal nodes of a list/tuple/set, through module-level names and `+` concatenation."""
    if node is None or hops > _MAX_NAME_HOPS:
        return
    if isinstance(node, (cst.List, cst.Tuple, cst.Set)):
        for element in node.elements:
            if isinstance(element, cst.Element) and string_value(element.value) is not None:
                yield element.value
    elif isinstance(node, cst.Name):
        yield from _strings(names.get(node.value), names, hops + 1)
    elif isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        yield from _strings(node.left, names, hops + 1)
        yield from _strings(node.right, names, hops + 1)


def _extras(node: cst.BaseExpression | None, names: dict[str, cst.BaseExpression],
            hops: int = 0) -> Iterator[tuple[str, cst.BaseExpression]]:
    if isinstance(node, cst.Name) and hops <= _MAX_NAME_HOPS:
        yield from _extras(names.get(node.value), names, hops + 1)
    elif isinstance(node, cst.Dict):
        for element in node.elements:
            if isinstance(element, cst.DictElement):
                key = string_value(element.key)
                if key is not None:
                    yield key, element.value


def _module_names(node: cst.CSTNode, scope: str, names: dict[str, cst.BaseExpression]) -> None:
    if scope:
        return
    if isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
        names[node.targets[0].target.value] = node.value
    elif isinstance(node, cst.AnnAssign) and isinstance(node.target, cst.Name) and node.value is not None:
        names[node.target.value] = node.value


def extract_setup_requirements(parsed: ParsedFile) -> dict[str, Any] | None:
    """``{"requirements": [(section, requirement text, line), ...]}`` for a setup.py, None for other files."""
    if parsed.path.rsplit("/", 1)[-1] != "setup.py":
        return None
    names: dict[str, cst.BaseExpression] = {}
    calls: list[cst.Call] = []
    for node, _parent, scope in parsed.nodes():
        _module_names(node, scope, names)
        if isinstance(node, cst.Call) and dotted_name(node.func).rsplit(".", 1)[-1] == "setup":
            calls.append(node)
    entries: list[tuple[str, str, int]] = []

    def add(section: str, nodes: Iterator[cst.BaseExpression]) -> None:
        entries.extend((section, string_value(string) or "", parsed.span(string)[0]) for string in nodes)

    name = ""
    for call in calls:
        for arg in call.args:
            keyword = arg.keyword.value if arg.keyword is not None else ""
            if keyword == "name":
                name = string_value(arg.value) or name
            if keyword in _LIST_KEYWORDS:
                add(keyword, _strings(arg.value, names))
            elif keyword == "extras_require":
                for extra, value in _extras(arg.value, names):
                    add(f"extras:{extra}", _strings(value, names))
    # `install_requires=open("requirements.txt").read().splitlines()` and similar: the file is the install list
    code = parsed.code(parsed.module) if calls else ""
    files = sorted(set(_REQUIREMENTS_NAME.findall(code))) if "install_requires" in code else []
    return {"requirements": entries, "name": name, "install_files": files}
