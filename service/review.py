"""Pull-request review: line comments on the lines that add new debt, twin-change warnings, and the check run."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paydown.analyzers import rule_by_id
from paydown.analyzers.config import Config
from paydown.analyzers.finding import Priority
from paydown.templating import render

from . import diffs, models
from .github import (
    Annotation,
    InstallationClient,
    PullFile,
    PullRecord,
    ReviewCommentDraft,
    ReviewCommentRecord,
)
from .settings import Settings

log = logging.getLogger("paydown.review")

CHECK_NAME = "paydown"
SUMMARY_LIMIT = 65_535  # GitHub's cap on a check run's summary and text
ANNOTATION_MESSAGE_LIMIT = 64_000
MESSAGE_LIMIT = 20_000  # a comment body must stay under GitHub's 65,536 characters, escaped and all
CLONE_RULES = frozenset({"PD301", "PD302"})
_MARKER = re.compile(r"<!-- paydown:(finding|twin|resolved)=([0-9a-z:/]+) -->")
_MENTION = re.compile(r"@(?=[\w-])")
_REFERENCE = re.compile(r"(?<![\w&])#(?=\d)")
_BLANK_RUNS = re.compile(r"\n[ \t]*(?:\n[ \t]*)+\n")  # templates' conditional blocks leave blank runs
_PUNCTUATION = re.compile(r"[\\`*_\[\]<>&|~]")


# ---------------------------------------------------------------- classification


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


def _effort(findings: Iterable[dict[str, Any]]) -> float:
    return round(sum(float((f.get("impact") or {}).get("effort_hours", 0.0)) for f in findings), 2)


# ---------------------------------------------------------------- markdown safety


def _inert(text: str) -> str:
    """No HTML comment can open or close (a marker cannot be forged), in code spans too."""
    return text.replace("<!--", "<\u200b!--").replace("-->", "-\u200b->")


def _plain(text: str) -> str:
    text = _MENTION.sub("@\u200b", _REFERENCE.sub("#\u200b", text))
    return _PUNCTUATION.sub(r"\\\g<0>", text)


def escape_markdown(text: str) -> str:
    """Text from a repository or an analyzer made inert in a Markdown body, on one line: no @mention, no #123
    link, no HTML or emphasis outside code spans, no HTML comment anywhere. Code spans it has stay code."""
    text = _inert(" ".join(str(text).split()))
    out, at = [], 0
    for opening in re.finditer(r"`+", text):
        if opening.start() < at:
            continue
        fence = opening.group()
        closing = re.compile(rf"(?<!`){fence}(?!`)").search(text, opening.end())
        if closing is None:
            continue
        out.append(_plain(text[at:opening.start()]))
        out.append(text[opening.start():closing.end()])
        at = closing.end()
    out.append(_plain(text[at:]))
    return "".join(out)


def code_span(text: str) -> str:
    """`text` as one code span whatever backticks it holds (CommonMark: a longer fence, padded)."""
    text = _inert(" ".join(str(text).split()))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def hours(value: float) -> str:
    """3.5 -> "3.5 h", 2.0 -> "2 h"."""
    return f"{round(float(value), 2):g} h"


def _marker(kind: str, key: str) -> str:
    return f"<!-- paydown:{kind}={key} -->"


def _key(kind: str, value: str) -> str:
    """The store's key of a marker: a finding's fingerprint, or `twin:<group>/<path hash>`."""
    return f"twin:{value}" if kind == "twin" else value


def _parse_marker(body: str) -> tuple[str, str] | None:
    found = _MARKER.findall(body or "")
    return found[-1] if found else None


# ---------------------------------------------------------------- links and template context


@dataclass(frozen=True)
class _Links:
    web_url: str
    full_name: str
    head_sha: str
    base_sha: str

    def blob(self, path: str, line: int, end_line: int = 0, *, base: bool = False) -> str:
        sha = self.base_sha if base else self.head_sha
        anchor = f"#L{line}" + (f"-L{end_line}" if end_line > line else "")
        return f"{self.web_url}/{self.full_name}/blob/{sha}/{quote(path)}{anchor}"


def _rule_context(rule_id: str) -> dict[str, str]:
    rule = rule_by_id(rule_id)
    if rule is None:
        return {"id": rule_id, "name": rule_id, "summary": "", "why": ""}
    return {"id": rule.id, "name": rule.name, "summary": rule.summary, "why": rule.why}


def _finding_context(finding: dict[str, Any], links: _Links, *, base: bool = False, at: int = 0) -> dict[str, Any]:
    """What the templates show of a finding; links go to the commit it was found in (`base`: a fixed one).
    `at`: the location the comment is on (a clone's copy); the others are "the other copies"."""
    impact = finding.get("impact") or {}
    others = [{"where": f"{loc['path']}:{loc['line']}", "url": links.blob(loc["path"], loc["line"],
                                                                          loc.get("end_line", 0), base=base)}
              for index, loc in enumerate(finding.get("locations") or []) if index != at]
    return {
        "fingerprint": finding["fingerprint"], "rule": _rule_context(finding["rule"]), "kind": finding["kind"],
        "message": finding["message"][:MESSAGE_LIMIT], "path": finding["path"], "line": finding["line"],
        "url": links.blob(finding["path"], finding["line"], finding.get("end_line", 0), base=base),
        "priority": impact.get("priority", "low"), "effort": hours(impact.get("effort_hours", 0.0)),
        "risk": impact.get("risk", "low"), "risk_reason": impact.get("risk_reason", ""),
        "fix": finding.get("fix", ""), "others": others, "is_clone": finding["rule"] in CLONE_RULES,
    }


def _render(name: str, **context: Any) -> str:
    text = render(f"review/{name}", md=escape_markdown, code=code_span, hours=hours, **context)
    return _BLANK_RUNS.sub("\n\n", text)


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


@dataclass(frozen=True)
class _Planned:
    key: str
    draft: ReviewCommentDraft
    rank: tuple[int, float, str, int, str]
    kind: str  # finding or twin


@dataclass
class _Plan:
    comments: list[_Planned] = field(default_factory=list)
    outside_diff: list[dict[str, Any]] = field(default_factory=list)
    over_limit: list[_Planned] = field(default_factory=list)
    already: list[dict[str, Any]] = field(default_factory=list)  # commented or reported by an earlier review
    dismissed: list[dict[str, Any]] = field(default_factory=list)


def _plan(found: Classification, twins: list[_Planned], files: Sequence[PullFile], known: _Known,
          dismissed: set[str], limit: int, links: _Links) -> _Plan:
    plan = _Plan()
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
            candidates.append(_Planned(fp, draft, _rank(finding), "finding"))
    candidates.sort(key=lambda c: c.rank)
    plan.comments, plan.over_limit = candidates[:limit], candidates[limit:]
    return plan


def _anchor(finding: dict[str, Any], added: dict[str, set[int]]) -> tuple[int, str, int] | None:
    """Where a new finding's comment goes: its line when the pull request adds it. A clone group made new by
    an added copy goes on the first added line of that copy (the primary copy may be old code)."""
    if "cell" in finding:
        return None  # a notebook's lines are cell lines, never the .ipynb diff's
    if finding["line"] in added.get(finding["path"], ()):
        return 0, finding["path"], finding["line"]
    if finding["rule"] not in CLONE_RULES:
        return None
    for at, loc in enumerate(finding.get("locations") or []):
        lines = sorted(added.get(loc["path"], set()) & set(range(loc["line"], loc.get("end_line", loc["line"]) + 1)))
        if lines and "cell" not in loc:
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
                  links: _Links) -> list[_Planned]:
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
        planned.append(_Planned(key, ReviewCommentDraft(file.filename, line, body), _rank(group), "twin"))
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
                 plan: _Plan, known: _Known, bot_login: str | None) -> int | None:
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


# ---------------------------------------------------------------- the check run


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


def _conclusion(new: Sequence[dict[str, Any]], fixed: Sequence[dict[str, Any]], config: Config) -> str:
    if config.fail_on is not None and any(
            Priority((f.get("impact") or {}).get("priority", "low")).rank >= config.fail_on.rank for f in new):
        return "failure"
    if not new and fixed:
        return "success"
    return "neutral"


def _level(finding: dict[str, Any], config: Config) -> str:
    rank = Priority((finding.get("impact") or {}).get("priority", "low")).rank
    if config.fail_on is not None and rank >= config.fail_on.rank:
        return "failure"
    return "warning" if rank >= Priority.MEDIUM.rank else "notice"


def _annotations(new: Sequence[dict[str, Any]], config: Config) -> list[Annotation]:
    notes = []
    for finding in new:
        # A notebook finding's line counts inside its cell; the .ipynb file's own lines are JSON.
        line = 1 if "cell" in finding else max(int(finding["line"]), 1)
        rule = _rule_context(finding["rule"])
        message = render("review/annotation.txt.j2", f=finding, rule=rule, hours=hours,
                         impact=finding.get("impact") or {}).strip()
        notes.append(Annotation(path=finding["path"], start_line=line, end_line=line,
                                annotation_level=_level(finding, config),
                                message=message[:ANNOTATION_MESSAGE_LIMIT],
                                title=f"{rule['id']} {rule['name']}"[:255]))
    return notes


def fit(render_with: Callable[[int], str], count: int, limit: int = SUMMARY_LIMIT) -> str:
    """The longest rendering that fits `limit`: `render_with(k)` lists the first k items and says how many
    more there are. Cut between items, never inside one."""
    text = render_with(count)
    if len(text) <= limit:
        return text
    low, high = 0, count  # render_with(low) fits (assumed for 0), render_with(high) does not
    while high - low > 1:
        middle = (low + high) // 2
        if len(render_with(middle)) <= limit:
            low = middle
        else:
            high = middle
    text = render_with(low)
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _check_output(found: Classification, plan: _Plan, head_findings: Sequence[dict[str, Any]], links: _Links,
                  config: Config, conclusion: str, replies: int) -> tuple[str, str, str]:
    added, paid = _effort(found.new), _effort(found.fixed)
    context = {
        "conclusion": conclusion, "added_hours": added, "paid_hours": paid, "net_hours": round(paid - added, 2),
        "new_count": len(found.new), "fixed_count": len(found.fixed), "unchanged_count": len(found.unchanged),
        "remaining_count": len(head_findings), "remaining_hours": _effort(head_findings),
        "commented": len(plan.comments), "twins": sum(1 for p in plan.comments if p.kind == "twin"),
        "outside_diff": len(plan.outside_diff), "over_limit": sum(1 for p in plan.over_limit if p.kind == "finding"),
        "already": len(plan.already), "dismissed": len(plan.dismissed), "resolved": replies,
        "short_sha": links.head_sha[:7], "max_comments": config.review.max_comments,
        "fail_on": config.fail_on.value if config.fail_on else "",
    }
    new = [_finding_context(f, links) for f in found.new]
    fixed = [_finding_context(f, links, base=True) for f in found.fixed]
    title = _render("check-title.txt.j2", state="reviewed", **context).strip()
    summary = fit(lambda k: _render("check-summary.md.j2", new=new[:k], fixed=fixed[:k], more_new=len(new) - k,
                                    more_fixed=len(fixed) - k, **context), max(len(new), len(fixed)))
    text = fit(lambda k: _render("check-text.md.j2", new=new[:k], more=len(new) - k, **context), len(new))
    return title, summary, text


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
    log.info("reviewed", extra={"repository": repo.full_name, "pull": pull.number, "sha": pull.head_sha,
                                "new": len(found.new), "fixed": len(found.fixed), "comments": len(plan.comments),
                                "conclusion": conclusion})
    return ReviewOutcome(check_run_id=check_run_id, conclusion=conclusion, new=len(found.new),
                         fixed=len(found.fixed), unchanged=len(found.unchanged), comments=len(plan.comments),
                         twin_warnings=sum(1 for p in plan.comments if p.kind == "twin"), resolved_replies=replies,
                         annotations=len(annotations), net_effort_hours=round(_effort(found.fixed)
                                                                              - _effort(found.new), 2),
                         review_id=review_id)


# ---------------------------------------------------------------- check run lifecycle


def _release(session: Session) -> None:
    """Commit now: what GitHub has is in the store at once (a later failure must not make paydown post it
    again), and no transaction (on SQLite, the write lock) stays open across a GitHub call."""
    session.commit()


def _row(session: Session, repo: models.Repository, head_sha: str) -> models.CheckRun | None:
    return session.query(models.CheckRun).filter_by(repository_id=repo.id, head_sha=head_sha).one_or_none()


def _record_check_run(session: Session, repo: models.Repository, head_sha: str, pull_number: int | None,
                      check_run_id: int, status: str, conclusion: str | None) -> models.CheckRun:
    row = _row(session, repo, head_sha)
    if row is None:
        row = models.CheckRun(repository_id=repo.id, head_sha=head_sha, check_run_id=check_run_id)
        session.add(row)
    row.check_run_id, row.status, row.conclusion = check_run_id, status, conclusion
    if pull_number is not None:
        row.pull_number = pull_number
    try:
        _release(session)
    except IntegrityError:  # another worker recorded this commit's run first; theirs and ours are the same run
        session.rollback()
        return _record_check_run(session, repo, head_sha, pull_number, check_run_id, status, conclusion)
    return row


def start_check_run(session: Session, client: InstallationClient, repo: models.Repository, head_sha: str,
                    pull_number: int | None) -> int:
    """The `paydown` check run of this commit, in progress: the stored one while it is still in progress (a
    retried or duplicate job), else a new one (GitHub's way for a re-run: annotations of a run only add up)."""
    progress = {"title": _render("check-title.txt.j2", state="in_progress").strip(),
                "summary": _render("progress.md.j2", short_sha=head_sha[:7]).strip()}
    row = _row(session, repo, head_sha)
    if row is not None and row.status == "in_progress":
        if pull_number is not None and row.pull_number is None:
            _record_check_run(session, repo, head_sha, pull_number, row.check_run_id, "in_progress", None)
        return row.check_run_id
    _release(session)
    if row is None:
        running = [r for r in client.list_check_runs(repo.full_name, head_sha, name=CHECK_NAME)
                   if r.status != "completed"]
        if running:  # created before the store heard of it (an ambiguous POST, a lost row)
            run_id = max(r.id for r in running)
            _record_check_run(session, repo, head_sha, pull_number, run_id, "in_progress", None)
            return run_id
    created = client.create_check_run(repo.full_name, head_sha=head_sha, name=CHECK_NAME, status="in_progress",
                                      external_id=f"{repo.full_name}@{head_sha}", **progress)
    _record_check_run(session, repo, head_sha, pull_number, created.id, "in_progress", None)
    return created.id


def _running_check_run(session: Session, client: InstallationClient, repo: models.Repository,
                       head_sha: str) -> int | None:
    """The run a failed job leaves in progress; None when this commit's run is already complete."""
    row = _row(session, repo, head_sha)
    _release(session)
    if row is not None:
        return row.check_run_id if row.status == "in_progress" else None
    runs = client.list_check_runs(repo.full_name, head_sha, name=CHECK_NAME)
    running = [r.id for r in runs if r.status != "completed"]
    if running:
        return max(running)
    if runs:
        return None
    return client.create_check_run(repo.full_name, head_sha=head_sha, name=CHECK_NAME, status="in_progress",
                                   external_id=f"{repo.full_name}@{head_sha}").id


def fail_check_run(session: Session, client: InstallationClient, repo: models.Repository, head_sha: str,
                   reason: str, *, conclusion: str = "neutral") -> None:
    """Complete the commit's check run with the reason the job could not finish (never left in progress).
    `neutral` by default: paydown failing says nothing about the pull request's code."""
    _complete(session, client, repo, head_sha, "failed", conclusion, _render("failed.md.j2", reason=reason))


def supersede_check_run(session: Session, client: InstallationClient, repo: models.Repository,
                        head_sha: str) -> None:
    """The pull request moved on before the review finished: close this commit's run, the newer one reports."""
    _complete(session, client, repo, head_sha, "superseded", "skipped",
              _render("superseded.md.j2", short_sha=head_sha[:7]))


def _complete(session: Session, client: InstallationClient, repo: models.Repository, head_sha: str, state: str,
              conclusion: str, summary: str) -> None:
    run_id = _running_check_run(session, client, repo, head_sha)
    if run_id is None:
        return  # completed already (the job's own handler, then RQ's failure callback, both report)
    title = _render("check-title.txt.j2", state=state).strip()
    client.update_check_run(repo.full_name, run_id, status="completed", conclusion=conclusion, title=title,
                            summary=fit(lambda _k: summary, 0))
    row = _row(session, repo, head_sha)
    # "failed"/"superseded", not "completed": no review of this head reported anything (see _reported_earlier)
    _record_check_run(session, repo, head_sha, row.pull_number if row else None, run_id, state, conclusion)
