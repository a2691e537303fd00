"""Run every registered analyzer over a repository snapshot and gather one report."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import ALL_RULES, ANALYZERS
from .base import Analyzer
from .config import Config
from .finding import Finding, Location, Problem
from .notebook import salvage_notebooks
from .snapshot import RepoSnapshot, SourceFile, take_snapshot
from .suppress import SUPPRESSION_MARK, ScanWarning, comment_lines, suppressed, suppression_warnings
from .workers import FILE_TIMEOUT_SECONDS, FactCache, default_cache_dir, extract_facts

REPORT_VERSION = "1"


@dataclass(slots=True)
class Report:
    root: str
    findings: list[Finding] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    warnings: list[ScanWarning] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "root": self.root,
            "findings": [f.to_dict() for f in self.findings],
            "errors": [e.to_dict() for e in self.errors],
            "stats": self.stats,
            "warnings": [w.to_dict() for w in self.warnings],
        }


def analyzers_version(analyzers: tuple[Analyzer, ...] = ANALYZERS) -> str:
    """A hash of the analyzers' versions and of their source: any change invalidates every cached fact, so facts
    of an older layout are never read back (a version number someone forgot to raise cannot break a scan)."""
    text = ";".join(f"{a.name}={a.version}" for a in analyzers) + ";" + source_digest(Path(__file__).parent)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@functools.cache
def source_digest(folder: Path) -> str:
    """A hash of every Python file below `folder`, by path and content."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _notebook_location(location: Location, file: SourceFile) -> Location:
    """A notebook location said as Jupyter shows it: cell and line in the cell, and the .ipynb lines holding it."""
    start = file.cell_position(location.line)
    if start is None or location.cell is not None:
        return location
    cell, line = start
    end_cell, end_line = file.cell_position(location.end_line) or start
    last = location.end_line if end_cell == cell else location.line
    return dataclasses.replace(location, line=line, end_line=end_line if end_cell == cell else line, cell=cell,
                               file_line=file.file_line(location.line), file_end_line=file.file_line(last))


def _number_repeats(findings: list[Finding]) -> list[Finding]:
    """Identical anchors in the same scope get an occurrence index, in source order."""
    seen: Counter[str] = Counter()
    numbered = []
    for finding in sorted(findings, key=lambda f: (f.location.path, f.location.line, f.location.column)):
        seen[finding.fingerprint] += 1
        if seen[finding.fingerprint] > 1:
            digest = hashlib.sha256(f"{finding.fingerprint}#{seen[finding.fingerprint]}".encode()).hexdigest()
            finding = dataclasses.replace(finding, fingerprint=digest[:32])
        numbered.append(finding)
    return numbered


class _Suppressions:
    """Which findings a `# paydown: ignore` hides, splitting only files carrying one, once each; remembers the
    lines that hid something, for the warnings about the ones that did not."""

    def __init__(self, snapshot: RepoSnapshot) -> None:
        self.snapshot = snapshot
        self.rules = {rule.id: rule for rule in ALL_RULES}
        self.lines_by_path: dict[str, dict[int, str]] = {}
        self.used: dict[str, set[int]] = {}

    def lines_of(self, file: SourceFile) -> dict[int, str]:
        lines = self.lines_by_path.get(file.path)
        if lines is None:
            lines = {}
            if SUPPRESSION_MARK in file.text.lower():
                lines = {n: text for n, text in enumerate(file.text.splitlines(), start=1)
                         if SUPPRESSION_MARK in text.lower()}
            # A notebook's magic lines are blanked in its text; their comments still count.
            lines.update((n, text) for n, text in file.magics if SUPPRESSION_MARK in text.lower())
            self.lines_by_path[file.path] = lines
        return lines

    def __call__(self, finding: Finding) -> bool:
        file = self.snapshot.files.get(finding.location.path)
        rule = self.rules.get(finding.rule_id)
        if file is None or rule is None:
            return False
        marked = self.lines_of(file)
        for line in sorted({finding.location.line, finding.location.end_line}):
            if suppressed(finding, rule, marked.get(line, "")):
                self.used.setdefault(file.path, set()).add(line)
                return True
        return False

    def warnings(self, config: Config) -> list[ScanWarning]:
        """Unknown names and unused suppressions in every file that carries a suppression comment."""
        enabled = [rule for rule in ALL_RULES if config.enabled(rule)]
        warnings: list[ScanWarning] = []
        for path, file in self.snapshot.files.items():
            marked = self.lines_of(file)
            if not marked:
                continue
            comments = comment_lines(path, file.text)
            if comments is not None:  # a Python file: only real comments, never a suppression quoted in a string
                marked = {n: text for n, text in marked.items() if n in comments}
            for warning in suppression_warnings(path, marked, self.used.get(path, set()), ALL_RULES, enabled):
                position = file.cell_position(warning.line)
                warnings.append(warning if position is None else
                                dataclasses.replace(warning, cell=position[0], line=position[1]))
        return sorted(warnings, key=lambda w: (w.path, w.cell or 0, w.line, w.reason))


def analyze(snapshot: RepoSnapshot, config: Config, *, jobs: int | None = None, cache_dir: Path | None = None,
            use_cache: bool = True, timeout: float = FILE_TIMEOUT_SECONDS,
            progress: Callable[[int, int], None] | None = None) -> Report:
    """Extract facts (in workers, cached), run each analyzer's judgment, suppress, and number repeats."""
    started = time.perf_counter()
    extractors = [(a.name, a.extract) for a in ANALYZERS if a.extract is not None]
    cache = FactCache((cache_dir or default_cache_dir()) if use_cache else None, analyzers_version())
    sources = [(f.path, f.text) for f in snapshot.python_files()]
    facts, parse_problems, parse_stats = extract_facts(sources, extractors, cache, jobs or os.cpu_count() or 1,
                                                       timeout, progress)
    parse_problems = salvage_notebooks(snapshot, facts, parse_problems, extractors, cache,
                                       jobs or os.cpu_count() or 1, timeout)
    snapshot.facts = facts
    parsed_at = time.perf_counter()
    # A configuration file that was not read is often also a file the snapshot refused: list it once.
    refused = {(p.path, p.reason) for p in config.problems}
    report = Report(str(snapshot.root), errors=[
        *config.problems, *(p for p in [*snapshot.problems, *parse_problems] if (p.path, p.reason) not in refused)])
    findings: list[Finding] = []
    for analyzer in ANALYZERS:
        if not any(config.enabled(rule) for rule in analyzer.rules):
            continue
        result = analyzer.find(snapshot, config)
        enabled = {rule.id for rule in analyzer.rules if config.enabled(rule)}
        findings.extend(f for f in result.findings if f.rule_id in enabled)
        report.errors.extend(result.problems)
        report.stats[analyzer.name] = result.stats
    is_suppressed = _Suppressions(snapshot)
    kept = [f for f in findings if not is_suppressed(f)]
    report.warnings = is_suppressed.warnings(config)
    kept = [
        dataclasses.replace(f, location=_notebook_location(f.location, snapshot.files[f.location.path]),
                            related=tuple(_notebook_location(r, snapshot.files[r.path]) if r.path in snapshot.files
                                          else r for r in f.related))
        if f.location.path in snapshot.files else f
        for f in kept
    ]
    report.findings = _number_repeats(kept)
    report.errors.sort(key=lambda p: (p.path, p.reason))
    report.stats.update({
        "files": len(snapshot.files),
        "python_files": len(sources),
        "lines": sum(f.text.count("\n") for f in snapshot.files.values() if f.is_python),
        "suppressed": len(findings) - len(kept),
        **parse_stats,
        "seconds": {"parse": round(parsed_at - started, 3), "judge": round(time.perf_counter() - parsed_at, 3)},
    })
    return report


def scan(root: Path, config: Config, **options: Any) -> Report:
    """Snapshot ``root`` honouring the configuration's excludes, then analyze it."""
    snapshot = take_snapshot(root, config.exclude)
    return analyze(snapshot, config, **options)
