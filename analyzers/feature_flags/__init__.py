"""Finds feature flags and switches that no longer switch anything: constants that decide control flow but are
never rebound (with how long they have been dead, from git), command-line options nobody reads, and config
keys nobody reads: the "dead experimental codepaths" and configuration debt of Sculley et al.

Nothing in the analyzed repository is imported or run: facts come from each file's syntax tree, and the judge
resolves names across modules through imports and re-exports.
"""

from __future__ import annotations

import time

from ..base import Analyzer
from ..config import Config
from ..finding import AnalysisResult
from ..snapshot import RepoSnapshot
from . import _config, _extract, _fields, _history, _hydra, _judge, _report
from ._index import Index
from ._knobs import NotebookKnobs
from ._rules import DEAD_CONFIG_SWITCH, RULES, STALE_FEATURE_FLAG, UNREAD_CONFIG_KEY, UNREAD_OPTION


def find_flag_debt(snapshot: RepoSnapshot, config: Config) -> AnalysisResult:
    """Judge every file's flag facts together: constant switches, unread options, stale switches."""
    started = time.perf_counter()
    index = Index(_judge.file_facts(snapshot.facts_of(ANALYZER.name)))
    result = AnalysisResult()
    knobs = NotebookKnobs(snapshot.root, snapshot.files)
    switches = [s for s in _judge.constant_switches(index)
                if not knobs.documented(s.path, s.binding.name.rsplit(".", 1)[-1], s.binding.span[0])]
    ages = _switch_ages(snapshot, switches, config)
    limit = config.option(STALE_FEATURE_FLAG, "stale_days")
    result.findings.extend(_report.switch_finding(DEAD_CONFIG_SWITCH, s, snapshot.files, ages.get(i), limit)
                           for i, s in enumerate(switches))
    for unread in [*_judge.unread_options(index, snapshot.files), *_fields.unread_fields(index, snapshot.files)]:
        result.findings.append(_report.option_finding(UNREAD_OPTION, unread, index.canonical.get(unread.path, "")))
    if config.enabled(UNREAD_CONFIG_KEY):
        for key in _config.unread_keys(snapshot, index.facts, index.canonical, result.problems):
            result.findings.append(_report.config_key_finding(UNREAD_CONFIG_KEY, key, snapshot.files))
        for hydra_key in _hydra.unread_hydra_keys(snapshot, index, _judge.is_test_path,
                                                   result.problems):
            result.findings.append(_report.hydra_key_finding(UNREAD_CONFIG_KEY, hydra_key, snapshot.files))
    result.stats = {"files": len(index.facts), "switches": len(switches),
                    "seconds": round(time.perf_counter() - started, 3)}
    return result


def _switch_ages(snapshot: RepoSnapshot, switches: list[_judge.Switch], config: Config) -> dict[int, int]:
    """Days each switch's line has been unchanged in git, by position; PD103's settings (merged) govern this."""
    if not switches or not config.enabled(STALE_FEATURE_FLAG):
        return {}
    # git blames the file's own lines: for a notebook, the line of its JSON holding the flag.
    lines = [snapshot.files[s.path].file_line(s.binding.span[0]) if s.path in snapshot.files
             else s.binding.span[0] for s in switches]
    ages = _history.unchanged_days(snapshot.root, [(s.path, line) for s, line in zip(switches, lines, strict=True)])
    return {i: ages[(s.path, line)] for i, (s, line) in enumerate(zip(switches, lines, strict=True))
            if (s.path, line) in ages}


ANALYZER = Analyzer(name="feature_flags", version="9", rules=RULES, find=find_flag_debt,
                    extract=_extract.extract_flag_facts)
