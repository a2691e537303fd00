"""Repository-level judgment of options declared as fields: a dataclass parsed by HfArgumentParser, tyro,
simple_parsing or jsonargparse, or a pydantic ``BaseSettings`` class, whose field no code reads.

Each parsed instance is followed like an argparse namespace (``_judge._Flow``): into the repository's own
functions, through module-level names imported elsewhere, and any escape (handed whole to outside code,
``asdict``/``vars``/``dataclasses.replace``, a computed ``getattr``) counts as reading every field. A class is
judged only when everything that could read its fields by name is in view: no base outside the repository
(a library base such as ``TrainingArguments`` reads the fields it declares, and a subclass may redeclare them),
no subclass, and every instance followed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import _reach
from ._index import Index
from ._judge import UnreadOption, _Flow, _passed_by
from ._model import ArgClass, Option

_Key = tuple[str, str]
# Methods that read every field at once (pydantic, dataclass and transformers dumps), matched by name: anywhere
# the instance may be read for the distinctive ones, and where it was followed to for the common words (`.json()`
# or `.copy()` on an unrelated object there also silences the class: precision first).
_READS_ALL = frozenset({"model_dump", "model_dump_json", "to_dict", "to_json_string", "to_sanitized_dict", "_asdict",
                        "__dict__", "__dataclass_fields__", "model_fields", "__fields__"})
_READS_ALL_NEARBY = _READS_ALL | {"dict", "json", "copy", "model_copy"}


def _judgeable(classes: Mapping[_Key, ArgClass], index: Index) -> set[_Key]:
    """Classes whose every base is another such class of the repository and which no class extends."""
    extended: set[_Key] = set()
    unknown: set[_Key] = set()
    for key, cls in classes.items():
        for base in cls.bases:
            found = None if base.startswith("?") else index.locate(base, classes)
            if found is None:
                unknown.add(key)
            else:
                extended.add(found)
    return set(classes) - unknown - extended


def _sites(index: Index, classes: Mapping[_Key, ArgClass]) -> dict[_Key, list[tuple[str, str, str]]]:
    """Where each class's parsed instances land: (file, usage key or '' when not followed, parser)."""
    sites: dict[_Key, list[tuple[str, str, str]]] = {}
    for path, f in index.facts.items():
        for parser, ref, key in f.arg_sites:
            found = index.locate_from(path, ref, classes)
            if found is not None and classes[found].kind == "dataclass":
                sites.setdefault(found, []).append((path, key, parser))
        for ref, key in f.call_results:
            found = index.locate_from(path, ref, classes)
            if found is not None and classes[found].kind == "settings":
                sites.setdefault(found, []).append((path, key, "pydantic BaseSettings"))
        for ref in f.unassigned_calls:
            found = index.locate_from(path, ref, classes)
            if found is not None and classes[found].kind == "settings":
                sites.setdefault(found, []).append((path, "", "pydantic BaseSettings"))
    return sites


def _importers(index: Index, path: str, name: str) -> tuple[list[_Key], bool]:
    """Files that import ``name`` from the module at ``path`` (with the local name), and whether some file
    reaches it as ``module.name``, which the flow cannot follow."""
    target = {(path, name): True}
    found: list[_Key] = []
    dotted = False
    module = index.canonical.get(path, "")
    for other, f in index.facts.items():
        for local, ref in f.imports.items():
            if index.locate_from(other, ref, target) == (path, name):
                found.append((other, f"|{local}"))
            elif other != path and ref in (module, index.facts[path].raw_module) and name in f.read_attrs:
                dotted = True
    return found, dotted


def _followed(index: Index, flow: _Flow, sites: list[tuple[str, str, str]], named: set[str]) -> bool:
    """Follow every instance; False as soon as one escapes or cannot be followed. Records the files reached."""
    for path, key, _ in sites:
        if not key or flow.escapes(path, key):
            return False
        flow.files.add(path)
        scope, _, name = key.partition("|")
        if scope:
            continue
        importers, dotted = _importers(index, path, name)
        if dotted or any(flow.escapes(other, local) for other, local in importers):
            return False
        named.update(other for other, _ in importers)
    return True


def _class_named(index: Index, key: _Key, cls: ArgClass) -> tuple[set[str], bool]:
    """Files that name the class (they may build and read instances), and whether a settings class is itself
    handed on (``Depends(Settings)``, a factory registry) where its instances cannot be followed."""
    path, name = key
    importers, dotted = _importers(index, path, name)
    usages = [(path, f"|{name}"), *importers]
    handed = cls.kind == "settings" and (dotted or any(
        (u := index.facts[p].usages.get(local)) is not None and (u.escapes or u.stored or u.returned or u.passes)
        for p, local in usages))
    return {path, *(p for p, _ in importers)}, handed


def unread_fields(index: Index, files: Mapping[str, Any]) -> list[UnreadOption]:
    classes = {(path, cls.name): cls for path, f in index.facts.items() for cls in f.arg_classes}
    if not classes:
        return []
    judgeable = _judgeable(classes, index)
    sites = _sites(index, classes)
    flow = _Flow(index)
    neighbours: dict[str, set[str]] | None = None
    found = []
    for key in sorted(judgeable & set(sites)):
        cls = classes[key]
        where, handed = _class_named(index, key, cls)
        flow.reset()
        if handed or not _followed(index, flow, sites[key], where):
            continue
        where |= flow.files
        if set().union(*(index.facts[p].read_attrs for p in where)) & _READS_ALL_NEARBY:
            continue
        if flow.opaque:
            neighbours = neighbours if neighbours is not None else _reach.import_neighbours(index)
            where = _reach.connected(neighbours, where)
        read = set().union(*(index.facts[p].read_attrs for p in where))
        if read & _READS_ALL:
            continue
        parser = sites[key][0][2]
        for field, span in cls.fields:
            if field in read:
                continue
            flags = (field.upper(),) if cls.kind == "settings" else (f"--{field}",)
            option = Option(field, flags, span, parser, scope=cls.name)
            found.append(UnreadOption(key[0], option, _passed_by(option, files)))
    return found
