"""Finds feature logic written more than once (Type-2 and Type-3 clones) and ranks training/serving copies as skew.

This is the "glue code" and training/serving skew debt of Sculley et al.: the same preprocessing copied into
training and serving drifts apart, and the model silently sees different features in production.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from ..base import Analyzer
from ..config import Config
from ..finding import AnalysisResult, Case, Finding, Impact, Kind, Location, Risk, Rule, new_finding
from ..notebook import cite_line
from ..snapshot import RepoSnapshot
from . import _compare, _diverge, _roles
from ._extract import Block, FileFacts, Statement
from ._extract import extract as _extract_facts

_OPTIONS = {"min_statements": 5, "min_tokens": 50, "similarity": 0.8}

_TRAIN = '''import numpy as np
import pandas as pd


def build_features(df):
    df = df.copy()
    df["age"] = df["age"].fillna(0.0)
    df["ratio"] = df["income"] / df["debt"]
    df["log_income"] = df["income"].clip(lower=0).apply(np.log1p)
    df = pd.get_dummies(df, columns=["city"])
    return df.astype("float32")
'''
_SERVE = _TRAIN.replace("build_features(df)", "features_for_request(frame)").replace("df", "frame")
_SERVE_DIVERGED = _SERVE.replace("fillna(0.0)", "fillna(-1.0)")
_ARGPARSE = '''import argparse


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="data.csv")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.001)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--output", default="model.pkl")
    return parser.parse_args()
'''

PREPROCESSING = Rule(
    id="PD301",
    name="duplicated-preprocessing",
    kind=Kind.DUPLICATED_FEATURE_LOGIC,
    summary="The same feature logic is written in files of different roles, such as training and serving.",
    why="Sculley et al., 'Hidden Technical Debt in Machine Learning Systems', training/serving skew and glue "
        "code: copies of preprocessing in the training and the serving path drift apart, and the model sees "
        "different features in production than it was trained on, with no error raised.",
    example="train.py: df['age'].fillna(0.0)  ...  serve.py: the same steps with frame['age'].fillna(-1.0)",
    fix="Extract the shared steps into one function in a library module (for example features.py) and call it "
        "from the training and the serving code; test it once.",
    options=dict(_OPTIONS),
    cases=(
        Case("invalid-fillna-divergence", {"train.py": _TRAIN, "serve.py": _SERVE_DIVERGED},
             (("PD301", "train.py", 5),)),
        Case("invalid-renamed-copy-in-serving", {"train.py": _TRAIN, "serve.py": _SERVE},
             (("PD301", "train.py", 5),)),
        Case("valid-shared-function", {"features.py": _TRAIN,
                                       "serve.py": "from features import build_features\n\n\n"
                                                   "def predict(model, df):\n"
                                                   "    return model.predict(build_features(df))\n"}),
        Case("valid-argparse-set-ups", {"train.py": _ARGPARSE, "serve.py": _ARGPARSE}),
    ),
)

FEATURE_LOGIC = Rule(
    id="PD302",
    name="duplicated-feature-logic",
    kind=Kind.DUPLICATED_FEATURE_LOGIC,
    summary="The same feature logic is written more than once within one part of the system.",
    why="Sculley et al., 'Hidden Technical Debt in Machine Learning Systems', glue code and pipeline jungles: "
        "every copy of a feature computation must be changed together, and copies that drift apart make "
        "features mean different things in different pipelines.",
    example="jobs/daily.py and jobs/weekly.py both compute df['ratio'] = df['income'] / df['debt'] and the "
            "same fillna/get_dummies steps.",
    fix="Extract the copies into one shared function and call it from each place.",
    options=dict(_OPTIONS),
    cases=(
        Case("invalid-copy-in-two-libraries", {"pkg/a.py": _TRAIN, "pkg/b.py": _SERVE.replace("features_for_"
                                                                                              "request", "f")},
             (("PD302", "pkg/a.py", 5),)),
        Case("valid-copied-from-marker", {"pkg/a.py": _TRAIN, "pkg/b.py": _TRAIN.replace(
            "def build", "# Copied from pkg.a.build_features\ndef build")}),
        Case("valid-similar-tests", {"tests/test_a.py": _TRAIN, "tests/test_b.py": _TRAIN}),
    ),
)

RULES: tuple[Rule, ...] = (PREPROCESSING, FEATURE_LOGIC)

_ROLE_ORDER = (_roles.TRAINING, _roles.NOTEBOOK, _roles.EVALUATION, _roles.BATCH, _roles.SERVING, _roles.LIBRARY)
_SHOWN_DIFFERENCES = 3


@dataclass(frozen=True, slots=True)
class _Copy:
    path: str
    role: str
    block: Block
    statements: tuple[Statement, ...]

    @property
    def location(self) -> Location:
        whole = self.statements == self.block.statements
        line = self.block.line if whole else self.statements[0].line
        return Location(self.path, line, 1, self.statements[-1].end_line)


def _blocks(snapshot: RepoSnapshot) -> list[tuple[str, str, Block]]:
    blocks = []
    for path, facts in sorted(snapshot.facts_of("duplication").items()):
        if not isinstance(facts, FileFacts) or facts.skipped is not None:
            continue
        blocks.extend((path, _roles.block_role(facts.role, block.qualname), block) for block in facts.blocks)
    return blocks


def _accepted(found: _compare.Match, blocks: Sequence[tuple[str, str, Block]], options: dict[str, float]) -> bool:
    if found.matched < options["min_statements"] or found.ratio < options["similarity"]:
        return False
    for region in (found.first, found.second):
        statements = blocks[region.block][2].statements[region.start:region.stop]
        if sum(s.tokens for s in statements) < options["min_tokens"] or sum(s.evidence for s in statements) < 2:
            return False
    return True


def _line(snapshot: RepoSnapshot, path: str, line: int) -> str:
    file = snapshot.files.get(path)
    text = file.line_text(line).strip() if file is not None else ""
    return f"`{text[:77] + '...' if len(text) > 80 else text}`"


def _where(snapshot: RepoSnapshot, path: str, line: int) -> str:
    return cite_line(snapshot.files, path, line)


def _first_difference(snapshot: RepoSnapshot, primary: _Copy, mine: Statement, other: _Copy,
                      theirs: Statement) -> tuple[int, int]:
    """The first source lines where two changed multi-line statements differ."""
    first, second = snapshot.files.get(primary.path), snapshot.files.get(other.path)
    if first is None or second is None:
        return mine.line, theirs.line
    for offset in range(max(mine.end_line - mine.line, theirs.end_line - theirs.line) + 1):
        a, b = min(mine.line + offset, mine.end_line), min(theirs.line + offset, theirs.end_line)
        if first.line_text(a).strip() != second.line_text(b).strip():
            return a, b
    return mine.line, theirs.line


def _describe(difference: _diverge.Difference, primary: _Copy, other: _Copy, snapshot: RepoSnapshot) -> str:
    mine, theirs = difference.primary, difference.other
    if mine is not None and theirs is not None:
        a, b = _first_difference(snapshot, primary, mine, other, theirs)
        return (f"{_line(snapshot, primary.path, a)} in {primary.role} ({_where(snapshot, primary.path, a)})"
                f" is {_line(snapshot, other.path, b)} in {other.role} ({_where(snapshot, other.path, b)})")
    if theirs is not None:
        return (f"{_line(snapshot, other.path, theirs.line)} is only in {other.role} "
                f"({_where(snapshot, other.path, theirs.line)})")
    assert mine is not None
    return (f"{_line(snapshot, primary.path, mine.line)} in {primary.role} "
            f"({_where(snapshot, primary.path, mine.line)}) is missing from the copy at "
            f"{_where(snapshot, other.path, other.location.line)}")


def _finding(rule: Rule, copies: list[_Copy], snapshot: RepoSnapshot) -> Finding:
    primary, others = copies[0], copies[1:]
    roles = sorted({c.role for c in copies}, key=_ROLE_ORDER.index)
    diffs = [(other, d) for other in others for d in _diverge.differences(primary.statements, other.statements)]
    size = max(len(c.statements) for c in copies)
    where = ", ".join(_where(snapshot, c.path, c.location.line) for c in copies)
    shape = f"{len(copies)} copies of {size} statements ({where})"
    if diffs:
        shown = "; ".join(_describe(d, primary, other, snapshot) for other, d in diffs[:_SHOWN_DIFFERENCES])
        more = f" (and {len(diffs) - _SHOWN_DIFFERENCES} more differences)" if len(diffs) > _SHOWN_DIFFERENCES else ""
        message = f"Copies of feature logic have diverged: {shown}{more}. {shape}."
    else:
        message = f"Identical feature logic in {shape}."
    if rule is PREPROCESSING:
        skew = _roles.crosses_skew(roles)
        risk = Risk.HIGH if skew or diffs else Risk.MEDIUM
        reason = ("training and serving copies" + (" have already diverged" if diffs else " can drift apart")
                  if skew else f"copies across {' / '.join(roles)} can drift apart")
        message += f" Roles: {', '.join(roles)}" + (" (training/serving skew risk)." if skew else ".")
    else:
        risk = Risk.MEDIUM if diffs else Risk.LOW
        reason = "the copies have diverged" if diffs else "the copies must be changed together"
    name = primary.block.qualname.rsplit(".", 1)[-1]
    helper = name if name.isidentifier() and name != "<module>" else "prepare_features"
    fix = (f"Extract `{helper}` into one shared module and call it from "
           + ", ".join(f"{c.path} ({c.block.qualname})" for c in copies) + ".")
    smallest = min(copies, key=lambda c: (len(c.statements), c.path))
    anchor = ",".join(sorted(f"{s.shape:016x}" for s in smallest.statements))
    return new_finding(
        rule, primary.location, symbol=primary.block.qualname, message=message, anchor=anchor,
        scope=primary.block.qualname, related=tuple(c.location for c in others), fix=fix,
        impact=Impact(effort_hours=round(0.5 + 0.5 * len(others) + size / 20, 2), risk=risk, risk_reason=reason,
                      interest_hours_per_month=round(0.2 * len(copies) * (1 + size / 10) * (2 if diffs else 1), 2)),
    )


def _clusters(members: list[int], accepted: dict[tuple[int, int], _compare.Match],
              verify: Callable[[int, int], _compare.Match | None]) -> Iterator[list[_compare.Region]]:
    """Split a chain of matches into groups whose every copy matches the group's first copy directly.

    Union-find alone chains A~B~C into one group even when A and C share nothing; the message compares each
    copy with the first one, so each copy must really be a copy of it.
    """
    pending = members
    while len(pending) >= 2:
        leader, joined, leftover = pending[0], [], []
        for other in pending[1:]:
            key = (min(leader, other), max(leader, other))
            found = accepted[key] if key in accepted else verify(*key)
            if found is None:
                leftover.append(other)
            else:
                joined.append(_compare.oriented(found, leader))
        if joined:
            start = min(m.first.start for m in joined)
            stop = max(m.first.stop for m in joined)
            yield [_compare.Region(leader, start, stop), *(m.second for m in joined)]
            pending = leftover
        else:
            pending = pending[1:]


def find_duplicated_feature_logic(snapshot: RepoSnapshot, config: Config) -> AnalysisResult:
    """One finding per clone group of feature logic; PD301 when its copies cross roles, PD302 otherwise."""
    started = time.perf_counter()
    result = AnalysisResult()
    options = {rule.id: {name: float(config.option(rule, name)) for name in _OPTIONS} for rule in RULES}
    loosest = {name: min(options[rule.id][name] for rule in RULES) for name in _OPTIONS}
    blocks = _blocks(snapshot)
    shapes = [[s.shape for s in block.statements] for _, _, block in blocks]
    # Every k-gram, not a winnowed subset: a copy with one step inserted or removed shares runs shorter than
    # min_statements (found on the bundled example: serving's prepare() misses one step of training's clean()).
    window = 1
    pairs, fingerprints = _compare.candidate_pairs(shapes, window)

    def verify(first: int, second: int) -> _compare.Match | None:
        found = _compare.match(first, second, shapes)
        return found if found is not None and _accepted(found, blocks, loosest) else None

    accepted = {pair: m for pair in sorted(pairs) if (m := verify(*pair)) is not None}
    groups = 0
    for component in _compare.components(list(accepted.values())):
        members = sorted((b for b in component if not blocks[b][2].copied),
                         key=lambda b: (_ROLE_ORDER.index(blocks[b][1]), blocks[b][0], blocks[b][2].line))
        for regions in _clusters(members, accepted, verify):
            copies = [_Copy(blocks[r.block][0], blocks[r.block][1], blocks[r.block][2],
                            blocks[r.block][2].statements[r.start:r.stop]) for r in regions]
            rule = PREPROCESSING if len({c.role for c in copies}) > 1 else FEATURE_LOGIC
            if min(len(c.statements) for c in copies) < options[rule.id]["min_statements"]:
                continue
            groups += 1
            result.findings.append(_finding(rule, copies, snapshot))
    result.stats = {"blocks": len(blocks), "fingerprints": fingerprints, "candidate_pairs": len(pairs),
                    "matches": len(accepted), "groups": groups, "seconds": round(time.perf_counter() - started, 3)}
    return result


ANALYZER = Analyzer(name="duplication", version="3", rules=RULES, find=find_duplicated_feature_logic,
                    extract=_extract_facts)
