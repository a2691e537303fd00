"""The review's pure part: head findings classified against the base's, and the plan of line comments to post."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from paydown.analyzers.finding import Priority

from ..github import ReviewCommentDraft


@dataclass(frozen=True)
class Classification:
    """Head findings against base findings, by fingerprint."""

    new: list[dict[str, Any]]
    fixed: list[dict[str, Any]]
    unchanged: list[dict[str, Any]]


def classify(head: Sequence[dict[str, Any]], base: Sequence[dict[str, Any]]) -> Classification:
    """new: in the head only; fixed: in the base only; unchanged: in both (as the head has it). Highest
    priority first in each list."""
    base_fps = {f["fingerprint"] for f in base}
    head_fps = {f["fingerprint"] for f in head}
    return Classification(
        new=sorted((f for f in head if f["fingerprint"] not in base_fps), key=_rank),
        fixed=sorted((f for f in base if f["fingerprint"] not in head_fps), key=_rank),
        unchanged=sorted((f for f in head if f["fingerprint"] in base_fps), key=_rank),
    )


def _rank(finding: dict[str, Any]) -> tuple[int, float, str, int, str]:
    impact = finding.get("impact") or {}
    return (-Priority(impact.get("priority", "low")).rank, -float(impact.get("score", 0.0)), finding["path"],
            int(finding["line"]), finding["fingerprint"])



@dataclass(frozen=True)
class PlannedComment:
    """One line comment the review means to post: a finding's or a twin warning's, ranked."""

    key: str
    draft: ReviewCommentDraft
    rank: tuple[int, float, str, int, str]
    kind: str  # finding or twin


@dataclass
class ReviewPlan:
    """What a review will post and what it leaves out, and why (outside the diff, over the limit, seen before)."""

    comments: list[PlannedComment] = field(default_factory=list)
    outside_diff: list[dict[str, Any]] = field(default_factory=list)
    over_limit: list[PlannedComment] = field(default_factory=list)
    already: list[dict[str, Any]] = field(default_factory=list)  # commented or reported by an earlier review
    dismissed: list[dict[str, Any]] = field(default_factory=list)
