"""Where each key path of a config file is defined, found in one pass over the file (PD104's finding lines).

Looking each key up by scanning the text again cost a file's length per key: 20,000 keys took 66 s. YAML keys
come from the composed node tree (with its line marks, under load_yaml's alias caps), JSON keys from one walk
over the lines; TOML, whose tables may be split across the file, keeps the per-key search, bounded by
MAX_CONFIG_KEYS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import yaml

from ..snapshot import compose_yaml

Keys = tuple[str, ...]
# A config file with more key paths than this is not judged by PD104 (and is reported): hand-written
# configurations have hundreds at most.
MAX_CONFIG_KEYS = 5_000
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_JSON_KEY = re.compile(r'\s*"((?:[^"\\]|\\.)*)"\s*:')


def key_lines(text: str, fmt: str, fallback: Callable[[str, str, Keys], int]) -> Callable[[Keys], int]:
    """A lookup of the line defining a key path (1 when unknown); ``fallback(text, fmt, keys)`` for TOML."""
    if fmt == "yaml":
        index = _yaml_lines(text)
    elif fmt == "json":
        index = _json_lines(text)
    else:
        return lambda keys: fallback(text, fmt, keys)
    return lambda keys: index.get(keys, 1)


def _yaml_lines(text: str) -> dict[Keys, int]:
    try:
        root = compose_yaml(text)
    except (yaml.YAMLError, RecursionError):
        return {}
    found: dict[Keys, int] = {}
    stack: list[tuple[yaml.Node, Keys]] = [(root, ())]
    while stack:
        node, prefix = stack.pop()
        if not isinstance(node, yaml.MappingNode):
            continue
        merged: list[yaml.Node] = []
        for key, value in node.value:
            if key.tag == _MERGE:
                merged.extend(value.value if isinstance(value, yaml.SequenceNode) else [value])
                continue
            if not isinstance(key, yaml.ScalarNode) or key.tag != _STR:
                continue
            path = (*prefix, key.value)
            found.setdefault(path, key.start_mark.line + 1)
            stack.append((value, path))
        stack.extend((node, prefix) for node in merged)  # merged keys: the explicit ones keep their lines
    return found


def _json_lines(text: str) -> dict[Keys, int]:
    """Each key on a line of its own (`"key": ...`) at the nesting its line starts at, strings skipped."""
    found: dict[Keys, int] = {}
    path: list[str] = []
    depth, in_string, escaped = 0, False, False
    for number, line in enumerate(text.splitlines(), start=1):
        match = _JSON_KEY.match(line)
        if match and not in_string and depth >= 1:
            try:
                key = json.loads(f'"{match.group(1)}"')
            except ValueError:
                key = None
            if isinstance(key, str):
                del path[depth - 1:]
                path.extend([""] * (depth - 1 - len(path)))
                path.append(key)
                found.setdefault(tuple(path), number)
        for char in line:
            if in_string:
                escaped, in_string = (not escaped and char == "\\"), in_string and (escaped or char != '"')
            elif char == '"':
                in_string = True
            elif char in "{[":
                depth += 1
            elif char in "}]":
                depth -= 1
    return found
