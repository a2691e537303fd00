"""A package index read through the PEP 691 JSON simple API: the newest release a specifier allows."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

DEFAULT_INDEX_URL = "https://pypi.org/simple/"
INDEX_URL_VARIABLE = "PAYDOWN_INDEX_URL"
_ACCEPT = "application/vnd.pypi.simple.v1+json"
_MAX_BYTES = 64 * 1024 * 1024  # a project page with every file of every release (numpy's is tens of MB)
_TIMEOUT_SECONDS = 20.0
_PYTHONS = tuple(Version(f"3.{minor}") for minor in range(0, 20))


class IndexUnavailable(Exception):
    """The index did not answer for a project, or answered with something that is not a PEP 691 page."""


def index_url(given: str | None) -> str:
    url = given or os.environ.get(INDEX_URL_VARIABLE) or DEFAULT_INDEX_URL
    return url if url.endswith("/") else f"{url}/"


def _version_of(filename: str) -> Version | None:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def lowest_python(requires_python: str) -> Version | None:
    """The oldest Python 3 a project's ``requires-python`` admits: every pin must install there too."""
    try:
        spec = SpecifierSet(requires_python)
    except InvalidSpecifier:
        return None
    return next((python for python in _PYTHONS if spec.contains(python)), None)


def _supports(file: dict[str, Any], python: Version | None) -> bool:
    wanted = file.get("requires-python")
    if python is None or not isinstance(wanted, str) or not wanted.strip():
        return True
    try:
        return SpecifierSet(wanted).contains(python, prereleases=True)
    except InvalidSpecifier:
        return False


def _names_prerelease(spec: SpecifierSet) -> bool:
    for item in spec:
        try:
            if Version(item.version.removesuffix(".*")).is_prerelease:
                return True
        except InvalidVersion:
            continue
    return False


def newest_allowed(files: Iterable[dict[str, Any]], spec: SpecifierSet, python: Version | None) -> Version | None:
    """The newest version with a file that is not yanked, installs on ``python`` and satisfies ``spec``;
    pre-releases only when the specifier names one."""
    prereleases = _names_prerelease(spec)
    usable: set[Version] = set()
    for file in files:
        if not isinstance(file, dict) or not isinstance(file.get("filename"), str):
            continue
        if file.get("yanked") not in (None, False) or not _supports(file, python):
            continue
        version = _version_of(file["filename"])
        if version is not None and (prereleases or not version.is_prerelease) \
                and spec.contains(version, prereleases=prereleases):
            usable.add(version)
    return max(usable, default=None)


@dataclass(slots=True)
class PackageIndex:
    """One index, each project page read once per run."""

    url: str
    _pages: dict[str, list[dict[str, Any]] | IndexUnavailable] = field(default_factory=dict)

    def files(self, name: str) -> list[dict[str, Any]]:
        key = canonicalize_name(name)
        if key not in self._pages:
            try:
                self._pages[key] = self._fetch(key)
            except IndexUnavailable as err:
                self._pages[key] = err
        page = self._pages[key]
        if isinstance(page, IndexUnavailable):
            raise page
        return page

    def _fetch(self, key: str) -> list[dict[str, Any]]:
        request = urllib.request.Request(f"{self.url}{key}/", headers={"Accept": _ACCEPT})
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:
                body = response.read(_MAX_BYTES + 1)
                kind = response.headers.get_content_type()
        except urllib.error.HTTPError as err:
            err.close()  # it holds the response open
            raise IndexUnavailable(f"{self.url} answered {err.code} for {key}") from None
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise IndexUnavailable(f"{self.url} did not answer for {key}: {getattr(err, 'reason', err)}") from None
        if len(body) > _MAX_BYTES:
            raise IndexUnavailable(f"{self.url} sent more than {_MAX_BYTES // 2**20} MB for {key}")
        if kind != _ACCEPT and kind != "application/json":
            raise IndexUnavailable(f"{self.url} answered {kind} for {key}, not the PEP 691 JSON simple API")
        try:
            data = json.loads(body)
        except ValueError:
            raise IndexUnavailable(f"{self.url} sent invalid JSON for {key}") from None
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, list):
            raise IndexUnavailable(f"{self.url} sent no file list for {key}")
        return files
