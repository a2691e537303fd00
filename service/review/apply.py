"""Pull-request review: line comments on the lines that add new debt, twin-change warnings, and the check run."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from paydown.analyzers.config import Config

from ..github import InstallationClient, PullFile, PullRecord, ReviewCommentDraft, ReviewCommentRecord
from ..logs import fields
from ..settings import Settings
from ..store import models
from . import diffs
from .checks import (
    _annotations,
    _check_output,
    _conclusion,
    _effort,
    _record_check_run,
    _release,
    fail_check_run,
    start_check_run,
    supersede_check_run,
)
from .plan import Classification, PlannedComment, ReviewPlan, _rank, classify
from .text import CLONE_RULES, _finding_context, _Links, _render, _rule_context

__all__ = [
    "Classification",
    "ReviewOutcome",
    "classify",
    "fail_check_run",
    "render_line_comment",
    "review_pull_request",
    "start_check_run",
    "supersede_check_run",
    "twin_warnings",
]

log = logging.getLogger("paydown.review")

_MARKER = re.compile(r"<!-- paydown:(finding|twin|resolved)=([0-9a-z:/]+) -->")


# ---------------------------------------------------------------- hidden markers and line comments


def _marker(kind: str, key: str) -> str:
    return f"<!-- paydown:{kind}={key} -->"


def _key(kind: str, value: str) -> str:
    """The store's key of a marker: a finding's fingerprint, or `twin:<group>/<path hash>`."""
    return f"twin:{value}" if kind == "twin" else value


def _parse_marker(body: str) -> tuple[str, str] | None:
    found = _MARKER.findall(body or "")
    return found[-1] if found else None


def render_line_comment(finding: dict[str, Any], links: _Links, at: int = 0) -> str:
    return _render("line.md.j2", f=_finding_context(finding, links, at=at),
                   marker=_marker("finding", finding["fingerprint"])).strip() + "\n"


# ---------------------------------------------------------------- what paydown said on this pull request before


@dataclass
class _Known:
    comments: dict[str, ReviewCommentRecord] = field(default_factory=dict)  # key -> paydown's comment on GitHub
    rows: dict[str, models.ReviewComment] = field(default_factory=dict)  # key -> stored row
    replied: set[int] = field(default_factory=set)  # comment ids that have paydown's "resolved" reply
    reported: set[str] = field(default_factory=set)  # fingerprints an earlier review of another head reported

    def seen(self, key: str) -> bool:
        return key in self.comments or key in self.rows or key in self.reported


def _own(comments: Sequence[ReviewCommentRecord], bot_login: str | None) -> list[ReviewCommentRecord]:
    return [c for c in comments if bot_login is None or c.user_login == bot_login]


def _bot_login(client: InstallationClient) -> str | None:
    """The App's `<slug>[bot]` login, the author of paydown's comments; None when it cannot be had (then the
    hidden marker alone identifies them: user text cannot carry one, escape_markdown breaks `<!--`)."""
    for owner in (client, getattr(client, "_app", None)):  # the contract has it on GitHubApp only
        login = getattr(owner, "bot_login", None)
        if callable(login):
            value = login()
            return value if isinstance(value, str) and value else None
    return None


def _known(session: Session, repo: models.Repository, pull: PullRecord) -> _Known:
    """What the store remembers of this pull request (read before any GitHub call, see _release)."""
    rows = session.query(models.ReviewComment).filter_by(repository_id=repo.id, pull_number=pull.number)
    return _Known(rows={row.fingerprint: row for row in rows}, reported=_reported_earlier(session, repo, pull))


def _read_comments(known: _Known, comments: Sequence[ReviewCommentRecord], bot_login: str | None) -> None:
    """paydown's own comments and replies on GitHub, by their hidden markers."""
    for comment in _own(comments, bot_login):
        marker = _parse_marker(comment.body)
        if marker is None:
            continue
        kind, key = marker
        if kind == "resolved" and comment.in_reply_to_id is not None:
            known.replied.add(comment.in_reply_to_id)
        elif kind in ("finding", "twin") and comment.in_reply_to_id is None:
            known.comments.setdefault(_key(kind, key), comment)


def _reported_earlier(session: Session, repo: models.Repository, pull: PullRecord) -> set[str]:
    """Fingerprints in the heads of this pull request that paydown reviewed before: each was commented on or
    listed in that check run then, so a later push (or a higher comment limit) does not bring it up again."""
    shas = select(models.CheckRun.head_sha).where(
        models.CheckRun.repository_id == repo.id, models.CheckRun.pull_number == pull.number,
        models.CheckRun.head_sha != pull.head_sha, models.CheckRun.status == "completed")
    rows = session.execute(select(models.ScanFinding.fingerprint).join(models.Scan).where(
        models.Scan.repository_id == repo.id, models.Scan.commit_sha.in_(shas)))
    return set(rows.scalars())


def _dismissed(session: Session, repo: models.Repository) -> set[str]:
    items = session.query(models.BacklogItem).filter_by(repository_id=repo.id, state="dismissed")
    return {fp for item in items for fp in (item.fingerprints or [])}


# ---------------------------------------------------------------- planning the comments


def _plan(found: Classification, twins: list[PlannedComment], files: Sequence[PullFile], known: _Known,
          dismissed: set[str], limit: int, links: _Links) -> ReviewPlan:
    plan = ReviewPlan()
    added = diffs.changed_lines(files)
    candidates = [t for t in twins if not known.seen(t.key)]
    for finding in found.new:
        fp = finding["fingerprint"]
        if fp in dismissed:
            plan.dismissed.append(finding)
        elif known.seen(fp):
            plan.already.append(finding)
        elif (anchor := _anchor(finding, added)) is None:
            plan.outside_diff.append(finding)
        else:
            at, path, line = anchor
            draft = ReviewCommentDraft(path, line, render_line_comment(finding, links, at))
            candidates.append(PlannedComment(fp, draft, _rank(finding), "finding"))
    candidates.sort(key=lambda c: c.rank)
    plan.comments, plan.over_limit = candidates[:limit], candidates[limit:]
    return plan


def _anchor(finding: dict[str, Any], added: dict[str, set[int]]) -> tuple[int, str, int] | None:
    """Where a new finding's comment goes: its line when the pull request adds it. A clone group made new by
    an added copy goes on the first added line of that copy (the primary copy may be old code)."""
    line = diffs.file_line(finding)
    if line and line in added.get(finding["path"], ()):
        return 0, finding["path"], line
    if finding["rule"] not in CLONE_RULES:
        return None
    for at, loc in enumerate(finding.get("locations") or []):
        first = diffs.file_line(loc)
        if not first:
            continue
        last = first + max(loc.get("end_line", loc["line"]) - loc["line"], 0)
        lines = sorted(added.get(loc["path"], set()) & set(range(first, last + 1)))
        if lines:
            return at, loc["path"], lines[0]
    return None


def _twin_key(group: str, path: str) -> str:
    return f"twin:{group}/{hashlib.sha256(path.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


def _head_paths(files: Sequence[PullFile]) -> dict[str, PullFile]:
    """Base path -> the pull request's file (a renamed file under its old name; added files have no base)."""
    return {(f.previous_filename or f.filename): f for f in files if f.status not in ("added", "removed")}


def _head_group(head: Sequence[dict[str, Any]], paths: set[str]) -> dict[str, Any] | None:
    """The head's clone group across these files; None when a copy was deleted or extracted (no twin change)."""
    return next((f for f in head if f["rule"] in CLONE_RULES
                 and paths <= {loc["path"] for loc in f.get("locations") or []}), None)


def twin_warnings(base: Sequence[dict[str, Any]], head: Sequence[dict[str, Any]], files: Sequence[PullFile],
                  links: _Links) -> list[PlannedComment]:
    """A comment for each clone group of the base where the pull request changes one copy and no other."""
    by_base_path = _head_paths(files)
    planned = []
    for group in base:
        copies = group.get("locations") or []
        if group["rule"] not in CLONE_RULES or len(copies) < 2:
            continue
        touched = [c for c in copies if c["path"] in by_base_path
                   and diffs.touches_span(by_base_path[c["path"]].patch, c["line"], c.get("end_line", c["line"]))]
        if len(touched) != 1:
            continue
        edited, file = touched[0], by_base_path[touched[0]["path"]]
        twins = [c for c in copies if c is not edited]
        head_twin_paths = {by_base_path[c["path"]].filename if c["path"] in by_base_path else c["path"]
                           for c in twins}
        line = diffs.first_change_in_span(file.patch, edited["line"], edited.get("end_line", edited["line"]))
        now = _head_group(head, {file.filename, *head_twin_paths})
        if line is None or now is None:
            continue
        key = _twin_key(group["fingerprint"], edited["path"])
        body = _render("twin.md.j2", rule=_rule_context(group["rule"]), message=now["message"],
                       edited={"path": file.filename, "line": line},
                       twins=[{"where": f"{c['path']}:{c['line']}",
                               "url": links.blob(c["path"], c["line"], c.get("end_line", 0), base=True)}
                              for c in twins],
                       marker=_marker("twin", key.removeprefix("twin:"))).strip() + "\n"
        planned.append(PlannedComment(key, ReviewCommentDraft(file.filename, line, body), _rank(group), "twin"))
    return planned


# ---------------------------------------------------------------- writing: review, rows, replies


def _store_row(session: Session, repo: models.Repository, pull: PullRecord, key: str,
               comment: ReviewCommentRecord, rows: dict[str, models.ReviewComment]) -> models.ReviewComment:
    row = rows.get(key)
    if row is None:
        row = models.ReviewComment(repository_id=repo.id, pull_number=pull.number, fingerprint=key,
                                   comment_id=comment.id, commit_sha=comment.commit_id or pull.head_sha,
                                   path=comment.path, line=comment.line or 0)
        session.add(row)
        rows[key] = row
    elif row.comment_id != comment.id:
        row.comment_id = comment.id
    return row


def _post_review(session: Session, client: InstallationClient, repo: models.Repository, pull: PullRecord,
                 plan: ReviewPlan, known: _Known, bot_login: str | None) -> int | None:
    for key, comment in known.comments.items():  # comments the store lost (an ambiguous POST, a restored DB)
        _store_row(session, repo, pull, key, comment, known.rows)
    _release(session)
    if not plan.comments:
        return None
    review_id = client.create_review(repo.full_name, pull.number, commit_sha=pull.head_sha,
                                     comments=[p.draft for p in plan.comments], event="COMMENT")
    posted = {p.key for p in plan.comments}
    for comment in _own(client.list_review_comments(repo.full_name, pull.number), bot_login):
        marker = _parse_marker(comment.body)
        key = _key(*marker) if marker is not None else ""
        if key in posted and comment.in_reply_to_id is None:
            known.comments.setdefault(key, comment)
            _store_row(session, repo, pull, key, comment, known.rows)
    _release(session)
    return review_id


def _resolve(session: Session, client: InstallationClient, repo: models.Repository, pull: PullRecord,
             head_fps: set[str], known: _Known) -> int:
    """One "resolved" reply to each of paydown's finding comments whose finding the head no longer has."""
    finding_of = _finding_lookup(session, repo)
    pending = []
    for key, comment in sorted(known.comments.items()):
        if key.startswith("twin:") or key in head_fps or comment.id in known.replied:
            continue
        row = _store_row(session, repo, pull, key, comment, known.rows)
        if row.resolved_reply_id is None:
            pending.append((key, comment, row, finding_of(key, row.commit_sha)))
    _release(session)
    for key, comment, row, finding in pending:
        body = _render("resolved.md.j2", rule=_rule_context(finding["rule"]) if finding else None,
                       short_sha=pull.head_sha[:7], marker=_marker("resolved", key)).strip() + "\n"
        reply = client.reply_to_review_comment(repo.full_name, pull.number, comment.id, body)
        row.resolved_reply_id = reply.id
        known.replied.add(comment.id)
        _release(session)
    return len(pending)


def _finding_lookup(session: Session, repo: models.Repository) -> Callable[[str, str], dict[str, Any] | None]:
    """A finding as the scan of the commit paydown commented on reported it."""

    def lookup(fingerprint: str, sha: str) -> dict[str, Any] | None:
        row = (session.query(models.ScanFinding).join(models.Scan)
               .filter(models.Scan.repository_id == repo.id, models.Scan.commit_sha == sha,
                       models.ScanFinding.fingerprint == fingerprint).first())
        return row.data if row is not None else None

    return lookup


# ---------------------------------------------------------------- the review, start to finish


@dataclass(frozen=True)
class ReviewOutcome:
    check_run_id: int
    conclusion: str
    new: int
    fixed: int
    unchanged: int
    comments: int
    twin_warnings: int
    resolved_replies: int
    annotations: int
    net_effort_hours: float  # positive: debt paid down; negative: debt added
    review_id: int | None = None


def review_pull_request(session: Session, client: InstallationClient, repo: models.Repository, pull: PullRecord,
                        head: models.Scan, base: models.Scan, config: Config, settings: Settings,
                        *, check_run_id: int) -> ReviewOutcome:
    """Comment on the lines that add new debt (one review), reply "resolved" where a later push fixed it, warn
    when one copy of a clone group changes alone, and complete the check run with the balance."""
    head_findings = [row.data for row in head.findings]
    base_findings = [row.data for row in base.findings]
    links = _Links(settings.github_web_url.rstrip("/"), repo.full_name, pull.head_sha, base.commit_sha)
    known, dismissed = _known(session, repo, pull), _dismissed(session, repo)
    _release(session)
    found = classify(head_findings, base_findings)
    bot_login = _bot_login(client)
    files = client.list_pull_files(repo.full_name, pull.number)
    _read_comments(known, client.list_review_comments(repo.full_name, pull.number), bot_login)
    twins = twin_warnings(base_findings, head_findings, files, links)
    plan = _plan(found, twins, files, known, dismissed, max(config.review.max_comments, 0), links)
    review_id = _post_review(session, client, repo, pull, plan, known, bot_login)
    replies = _resolve(session, client, repo, pull, {f["fingerprint"] for f in head_findings}, known)
    conclusion = _conclusion([f for f in found.new if f["fingerprint"] not in dismissed], found.fixed, config)
    title, summary, text = _check_output(found, plan, head_findings, links, config, conclusion, replies)
    annotations = _annotations(found.new, config)
    client.update_check_run(repo.full_name, check_run_id, status="completed", conclusion=conclusion, title=title,
                            summary=summary, text=text, annotations=annotations)
    _record_check_run(session, repo, pull.head_sha, pull.number, check_run_id, "completed", conclusion)
    log.info("reviewed", extra=fields(repository=repo.full_name, pull=pull.number, sha=pull.head_sha,
                                new=len(found.new), fixed=len(found.fixed), comments=len(plan.comments),
                                conclusion=conclusion))
    return ReviewOutcome(check_run_id=check_run_id, conclusion=conclusion, new=len(found.new),
                         fixed=len(found.fixed), unchanged=len(found.unchanged), comments=len(plan.comments),
                         twin_warnings=sum(1 for p in plan.comments if p.kind == "twin"), resolved_replies=replies,
                         annotations=len(annotations), net_effort_hours=round(_effort(found.fixed)
                                                                              - _effort(found.new), 2),
                         review_id=review_id)
