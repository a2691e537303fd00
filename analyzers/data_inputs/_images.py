"""What a container build puts next to the code it ships: files a Dockerfile copies in or unpacks from an archive.

A module a Dockerfile copies into an image reads, at a relative path, a file the same Dockerfile provides (a
`COPY model/model.bin .`, or anything unpacked by `RUN tar -xzf model.tar.gz`): an artifact the build ships
with the code, not upstream data.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Iterable

from ..snapshot import is_container_build_file

ANY = "*"
_CONTINUATION = re.compile(r"\\\r?\n")
_UNPACK = re.compile(r"\b(?:tar\s+(?:-\w*x|x)\w*|unzip|gunzip)\b")


class ShippedFiles:
    """For each Python module a container build copies in, the file names the build provides beside it."""

    def __init__(self, builds: Iterable[tuple[str, str]]) -> None:
        self.modules: list[tuple[str, set[str]]] = []  # (module path or folder prefix, provided names)
        for path, text in builds:
            self._read(path, text)

    def _read(self, path: str, text: str) -> None:
        context = posixpath.dirname(path)
        shipped: list[str] = []
        provided: set[str] = set()
        for line in _CONTINUATION.sub(" ", text).splitlines():
            instruction, _, rest = line.strip().partition(" ")
            instruction = instruction.upper()
            if instruction == "RUN" and _UNPACK.search(rest):
                provided.add(ANY)
            if instruction not in ("COPY", "ADD"):
                continue
            try:
                words = [w for w in shlex.split(rest) if not w.startswith("--")]
            except ValueError:
                continue
            if "--from" in rest or len(words) < 2:
                continue  # a file from another stage or image: not the build context
            for source in words[:-1]:
                local = posixpath.normpath(posixpath.join(context, source))
                if local.endswith(".py") or "." not in posixpath.basename(local):
                    shipped.append("" if local == "." else local)  # a module, or a folder of them
                else:
                    provided.add(posixpath.basename(local))
        if provided:
            self.modules.extend((module, provided) for module in shipped)

    def provides(self, reader: str, uri: str) -> bool:
        """The build that ships ``reader`` provides the relative file ``uri`` beside it."""
        if "://" in uri or uri.startswith(("/", "~")):
            return False
        name = posixpath.basename(uri.rstrip("/"))
        for module, provided in self.modules:
            ships = reader == module or not module or reader.startswith(module + "/")
            if ships and (ANY in provided or name in provided):
                return True
        return False


def shipped_files(files: Iterable[tuple[str, str]]) -> ShippedFiles:
    """Read every container build file among (path, text) pairs."""
    return ShippedFiles((path, text) for path, text in files if is_container_build_file(posixpath.basename(path)))
