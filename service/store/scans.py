"""The store's scans: claimed once per commit, finished or failed, and applied to the findings' lifecycle."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, inspect, select
from sqlalchemy.orm import Session

from paydown.analyzers.runner import Report

from ._sql import _insert, _inserted
from .models import Finding, Repository, Scan, ScanFinding, utcnow

FAILED_STATUSES = ("failed", "skipped", "queued")  # queued: a transient error, the job retries


def claim_scan(session: Session, repository_id: int, sha: str, *, trigger: str, ref: str | None,
               committed_at: datetime | None = None) -> tuple[Scan, bool]:
    """Get or create the scan of (repository, sha): (scan, already_succeeded); a new or retried one is "running".

    Commit the session before scanning: the row is the claim, and holding the session would block other writers.
    """
    now = utcnow()
    stmt = _insert(session, Scan).values(repository_id=repository_id, commit_sha=sha, trigger=trigger, ref=ref,
                                         committed_at=committed_at, status="running", queued_at=now, started_at=now,
                                         problems=[], stats={})
    created = _inserted(session, stmt.on_conflict_do_nothing(index_elements=["repository_id", "commit_sha"])
                        .returning(Scan.id))
    scan = session.scalars(select(Scan).where(Scan.repository_id == repository_id, Scan.commit_sha == sha)
                           .execution_options(populate_existing=True)).one()
    if created:
        return scan, False
    if scan.status == "succeeded":
        return scan, True
    scan.status = "running"
    scan.started_at = now
    scan.error = None
    scan.ref = ref or scan.ref
    scan.committed_at = scan.committed_at or committed_at
    session.flush()
    return scan, False


def _attached(session: Session, scan: Scan) -> Scan:
    """The session's own copy of a scan that may come from an earlier, closed session."""
    if inspect(scan).session is session:
        return scan
    return session.get_one(Scan, scan.id, populate_existing=True)


def _locked(session: Session, scan_id: int) -> Scan | None:
    """The scan row, locked until commit (PostgreSQL), so two runs of one job write its findings one at a time."""
    stmt = select(Scan).where(Scan.id == scan_id).with_for_update().execution_options(populate_existing=True)
    return session.scalar(stmt)


def finish_scan(session: Session, scan: Scan, report: Report, *, config_stats: dict[str, Any] | None = None) -> Scan:
    """Store a report as the scan's result, replacing what an earlier run of the same job stored."""
    locked = _locked(session, scan.id)
    if locked is None:
        raise ValueError(f"scan {scan.id} does not exist (its repository was forgotten?)")
    scan = locked
    session.execute(delete(ScanFinding).where(ScanFinding.scan_id == scan.id)
                    .execution_options(synchronize_session=False))
    session.expire(scan, ["findings"])
    rows: dict[str, dict[str, Any]] = {}
    for finding in report.findings:
        rows.setdefault(finding.fingerprint, {
            "scan_id": scan.id, "fingerprint": finding.fingerprint, "rule_id": finding.rule_id,
            "kind": finding.kind.value, "path": finding.location.path, "line": finding.location.line,
            "effort_hours": finding.impact.effort_hours, "priority": finding.impact.priority.value,
            "data": finding.to_dict(),
        })
    if rows:
        session.execute(cast("Table", ScanFinding.__table__).insert(), list(rows.values()))
    stats = dict(report.stats)
    if config_stats is not None:
        stats["config"] = config_stats
    scan.problems = [problem.to_dict() for problem in report.errors]
    scan.stats = stats
    scan.files = int(report.stats.get("files", 0))
    scan.finding_count = len(rows)
    scan.total_effort_hours = round(sum(row["effort_hours"] for row in rows.values()), 2)
    scan.status = "succeeded"
    scan.error = None
    scan.finished_at = utcnow()
    session.flush()
    return scan


def fail_scan(session: Session, scan_id: int, reason: str, *, status: str = "failed") -> None:
    """Mark a scan failed, skipped, or queued again (a retry is coming) with its reason.

    A scan that already succeeded keeps its result (a late failure of a replayed job changes nothing).
    """
    if status not in FAILED_STATUSES:
        raise ValueError(f"fail_scan status must be one of {FAILED_STATUSES}, not {status!r}")
    scan = _locked(session, scan_id)
    if scan is None or scan.status == "succeeded":
        return
    scan.status = status
    scan.error = reason
    scan.finished_at = None if status == "queued" else utcnow()
    session.flush()


def superseded_reason(sha: str) -> str:
    return f"superseded by commit {sha[:12]}: its job stopped before this scan finished"


def supersede_unfinished(session: Session, scan: Scan) -> list[int]:
    """Fail the default-branch scans of `scan`'s repository claimed before it that never finished (their work horse
    was killed, or their job's retry scanned a newer commit), naming the commit that superseded them; their ids.

    Pull-request scans belong to their review job and are left alone. A scan still running somewhere stores its
    result all the same when it finishes (`finish_scan` does not look at the status).
    """
    scan = _attached(session, scan)
    repo = session.get(Repository, scan.repository_id)
    rows = session.scalars(select(Scan).where(Scan.repository_id == scan.repository_id, Scan.id < scan.id,
                                              Scan.status.in_(("running", "queued")),
                                              Scan.trigger != "pull_request"))
    stale = [row.id for row in rows if repo is None or _on_default_branch(repo, row)]
    for scan_id in stale:
        fail_scan(session, scan_id, superseded_reason(scan.commit_sha))
    return stale


@dataclass(frozen=True)
class Lifecycle:
    """What a default-branch scan changed, as fingerprints; `open` counts the open findings after it."""

    new: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    reopened: list[str] = field(default_factory=list)
    open: int = 0


def update_lifecycle(session: Session, repository: Repository, scan: Scan) -> Lifecycle:
    """Apply a succeeded default-branch scan to the repository's findings (open, fixed, reopened; dismissed stays).

    Idempotent, and a scan older than the newest one applied (by commit date when both have one, else by the
    order the scans were claimed) changes nothing, so a replayed job cannot reopen debt fixed since.
    A scan of another branch (`ref` set and not the default branch) changes nothing either.
    """
    scan = _attached(session, scan)
    if scan.status != "succeeded":
        raise ValueError(f"scan {scan.id} has not succeeded ({scan.status})")
    # Serialises concurrent lifecycle updates of one repository (PostgreSQL; SQLite's BEGIN IMMEDIATE already does).
    repo = session.scalars(select(Repository).where(Repository.id == repository.id).with_for_update()
                           .execution_options(populate_existing=True)).one()
    if not _on_default_branch(repo, scan) or not _newer_than_applied(session, repo, scan):
        return Lifecycle(open=_open_count(session, repo.id))
    seen_at = scan.committed_at or scan.finished_at or utcnow()
    rows = session.scalars(select(ScanFinding).where(ScanFinding.scan_id == scan.id))
    current = {row.fingerprint: row for row in rows}
    known = {f.fingerprint: f for f in session.scalars(select(Finding).where(Finding.repository_id == repo.id))}
    new, fixed, reopened = [], [], []
    for fingerprint, row in current.items():
        finding = known.get(fingerprint)
        if finding is None:
            finding = Finding(repository_id=repo.id, fingerprint=fingerprint, state="open",
                              first_seen_scan_id=scan.id, first_seen_at=seen_at)
            session.add(finding)
            new.append(fingerprint)
        elif finding.state == "fixed":
            finding.state, finding.fixed_at, finding.fixed_in_sha = "open", None, None
            reopened.append(fingerprint)
        _copy_seen(finding, row, scan, seen_at)
    for fingerprint, finding in known.items():
        if fingerprint not in current and finding.state == "open":
            finding.state, finding.fixed_at, finding.fixed_in_sha = "fixed", seen_at, scan.commit_sha
            fixed.append(fingerprint)
    repo.lifecycle_scan_id = scan.id
    session.flush()
    return Lifecycle(new=sorted(new), fixed=sorted(fixed), reopened=sorted(reopened),
                     open=_open_count(session, repo.id))


def _copy_seen(finding: Finding, row: ScanFinding, scan: Scan, seen_at: datetime) -> None:
    impact = row.data.get("impact", {})
    finding.rule_id, finding.kind, finding.path, finding.line = row.rule_id, row.kind, row.path, row.line
    finding.message = row.data.get("message", "")
    finding.effort_hours = row.effort_hours
    finding.risk = impact.get("risk", "low")
    finding.interest_hours_per_month = impact.get("interest_hours_per_month", 0.0)
    finding.priority = row.priority
    finding.data = row.data
    finding.last_seen_scan_id = scan.id
    finding.last_seen_at = seen_at


def _on_default_branch(repo: Repository, scan: Scan) -> bool:
    return scan.ref is None or scan.ref.removeprefix("refs/heads/") == repo.default_branch


def _newer_than_applied(session: Session, repo: Repository, scan: Scan) -> bool:
    if repo.lifecycle_scan_id is None:
        return True
    if repo.lifecycle_scan_id == scan.id:
        return False
    applied = session.get(Scan, repo.lifecycle_scan_id)
    if applied is None:
        return True
    if scan.committed_at is not None and applied.committed_at is not None and scan.committed_at != applied.committed_at:
        return scan.committed_at > applied.committed_at
    # A retried job finishes late but was claimed early: claim order, not finish time, says which commit came first.
    return scan.id > applied.id


def _open_count(session: Session, repository_id: int) -> int:
    stmt = select(func.count()).select_from(Finding).where(Finding.repository_id == repository_id,
                                                            Finding.state == "open")
    return session.scalar(stmt) or 0


def latest_scan(session: Session, repository_id: int, *, status: str = "succeeded",
                trigger: str | None = None) -> Scan | None:
    """The most recently finished scan with that status (and trigger), else the most recently claimed one."""
    stmt = select(Scan).where(Scan.repository_id == repository_id, Scan.status == status)
    if trigger is not None:
        stmt = stmt.where(Scan.trigger == trigger)
    stmt = stmt.order_by(Scan.finished_at.is_(None), Scan.finished_at.desc(), Scan.id.desc()).limit(1)
    return session.scalar(stmt)


def scan_by_sha(session: Session, repository_id: int, sha: str) -> Scan | None:
    return session.scalar(select(Scan).where(Scan.repository_id == repository_id, Scan.commit_sha == sha))


def scans_of(session: Session, repository_id: int) -> list[Scan]:
    """Succeeded scans, oldest first (by commit date when known, else finish time): the trend charts' points."""
    stmt = (select(Scan).where(Scan.repository_id == repository_id, Scan.status == "succeeded")
            .order_by(func.coalesce(Scan.committed_at, Scan.finished_at), Scan.id))
    return list(session.scalars(stmt))
