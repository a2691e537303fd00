"""What an analyzer is: its rules, a per-file fact extractor, and a repository-level judgment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import Config
from .cst import ParsedFile
from .finding import AnalysisResult, Rule
from .snapshot import RepoSnapshot


@dataclass(frozen=True, slots=True)
class Analyzer:
    """Two phases: ``extract`` runs in a worker on each parsed Python file (its result is cached by content,
    so it must be picklable and depend only on the file), ``find`` judges the whole repository's facts."""

    name: str
    version: str
    rules: tuple[Rule, ...]
    find: Callable[[RepoSnapshot, Config], AnalysisResult]
    extract: Callable[[ParsedFile], Any] | None = None
