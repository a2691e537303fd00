"""The `paydown` check run: created or reused per commit, completed with the review's balance, or failed."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paydown.analyzers.config import Config
from paydown.analyzers.finding import Priority
from paydown.templating import render

from ..github import Annotation, InstallationClient
from ..policy import CHECK_NAME
from ..store import models
from . import diffs
from .plan import Classification, ReviewPlan
from .text import _finding_context, _Links, _render, _rule_context, hours

SUMMARY_LIMIT = 65_535  # GitHub's cap on a check run's summary and text
ANNOTATION_MESSAGE_LIMIT = 64_000


def _effort(findings: Iterable[dict[str, Any]]) -> float:
    return round(sum(float((f.get("impact") or {}).get("effort_hours", 0.0)) for f in findings), 2)


# ---------------------------------------------------------------- the balance: conclusion, annotations, output


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
        line = max(diffs.file_line(finding), 1)  # a notebook's: the .ipynb line holding the cell's line
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


def _check_output(found: Classification, plan: ReviewPlan, head_findings: Sequence[dict[str, Any]], links: _Links,
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
    progress: dict[str, Any] = {"title": _render("check-title.txt.j2", state="in_progress").strip(),
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
