"""Scan one exact commit: its tarball into a job folder, the analyzers, the result stored. A commit is scanned
once; asking again returns the stored scan."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from paydown.analyzers import ALL_RULES
from paydown.analyzers.config import BacklogSettings, Config, ConfigError, ReviewSettings, load_config
from paydown.analyzers.finding import Priority, Problem
from paydown.analyzers.runner import Report, scan

from .. import store as db
from ..github import TRANSIENT_ERRORS, GitHubError, InstallationClient, TarballTooLarge
from ..logs import fields
from ..settings import Settings
from ..store import Repository, Scan
from . import fetch

log = logging.getLogger("paydown.scanning")


class ScanFailed(Exception):
    """The commit could not be scanned for a reason retrying will not change (a refused archive)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def config_stats(config: Config) -> dict[str, Any]:
    """The parts of the repository's configuration that later jobs (backlog, review) need, kept with the scan."""
    return {
        "fail_on": config.fail_on.value if config.fail_on else None,
        "backlog": {"issue_priority": config.backlog.issue_priority.value,
                    "max_open_issues": config.backlog.max_open_issues},
        "review": {"max_comments": config.review.max_comments},
    }


def repo_config(scan: Scan) -> Config:
    """The repository's settings as the scanned commit had them."""
    stored = (scan.stats or {}).get("config") or {}
    backlog = stored.get("backlog") or {}
    review = stored.get("review") or {}
    return Config(
        fail_on=Priority(stored["fail_on"]) if stored.get("fail_on") else None,
        backlog=BacklogSettings(issue_priority=Priority(backlog.get("issue_priority", "medium")),
                                max_open_issues=int(backlog.get("max_open_issues", 25))),
        review=ReviewSettings(max_comments=int(review.get("max_comments", 20))),
    )


def analyze_folder(root: Path, settings: Settings) -> tuple[Report, Config]:
    """Run the analyzers on an extracted tree. Broken configuration is reported and the defaults used."""
    problems: list[Problem] = []
    try:
        config = load_config(root, ALL_RULES)
    except ConfigError as err:
        problems.append(Problem(err.path, "invalid-config", str(err)))
        config = Config()
    report = scan(root, config, cache_dir=settings.data_dir / "cache")
    report.errors[:0] = problems
    return report, config


def scan_commit(store: db.Store, client: InstallationClient, repo: Repository, sha: str, settings: Settings, *,
                trigger: str, ref: str | None = None) -> int:
    """The id of the succeeded scan of `sha`, scanning it now unless it was scanned before. Raises ScanFailed
    for an archive paydown refuses, and the adapter's transient errors for RQ to retry."""
    with store.session() as session:
        row, done = db.claim_scan(session, repo.id, sha, trigger=trigger, ref=ref)
        scan_id = row.id
    if done:
        return scan_id
    jobs_dir = settings.data_dir / "jobs"
    jobs_dir.mkdir(parents=True, exist_ok=True)
    try:
        with fetch.job_folder(jobs_dir) as folder:
            archive = client.download_tarball(repo.full_name, sha, folder / "source.tar.gz",
                                              settings.tarball_max_bytes)
            extracted = fetch.extract_tarball(archive, folder / "tree", max_bytes=settings.extract_max_bytes,
                                              max_files=settings.extract_max_files,
                                              max_file_bytes=settings.extract_max_file_bytes)
            archive.unlink(missing_ok=True)
            report, config = analyze_folder(extracted.root, settings)
            report.errors.extend(Problem(path, "skipped-in-archive", reason) for path, reason in extracted.skipped)
            report.stats["archive"] = {"files": extracted.files, "bytes": extracted.bytes}
            found = excerpts(extracted.root, report)
    except (fetch.FetchError, TarballTooLarge) as err:
        reason = err.reason if isinstance(err, fetch.FetchError) else str(err)
        with store.session() as session:
            db.fail_scan(session, scan_id, reason)
        raise ScanFailed(reason) from err
    except TRANSIENT_ERRORS:
        with store.session() as session:
            db.fail_scan(session, scan_id, "GitHub did not answer; the job will retry", status="queued")
        raise
    except GitHubError as err:  # access lost, the commit gone: no retry will scan it, so it must not stay running
        with store.session() as session:
            db.fail_scan(session, scan_id, f"GitHub refused the download: {err}")
        raise
    with store.session() as session:
        row = db.finish_scan(session, session.get_one(Scan, scan_id), report, config_stats=config_stats(config))
        _attach_excerpts(row, found)
    log.info("scanned", extra=fields(repository=repo.full_name, sha=sha, findings=len(report.findings)))
    return scan_id


EXCERPT_LINES = 8


def excerpts(root: Path, report: Report) -> dict[str, str]:
    """A few source lines at each finding's location, kept with the stored finding for issue and comment
    bodies (the tree is deleted when the job ends)."""
    cache: dict[str, list[str] | None] = {}
    found: dict[str, str] = {}
    for finding in report.findings:
        location = finding.location
        if location.cell is not None:
            continue  # notebook positions are cell lines; the .ipynb file's lines are JSON
        if location.path not in cache:
            try:
                cache[location.path] = (root / location.path).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                cache[location.path] = None
        lines = cache[location.path]
        if not lines or location.line > len(lines):
            continue
        end = min(max(location.end_line, location.line), location.line + EXCERPT_LINES - 1, len(lines))
        found[finding.fingerprint] = "\n".join(lines[location.line - 1:end])
    return found


def _attach_excerpts(scan_row: Scan, found: dict[str, str]) -> None:
    for row in scan_row.findings:
        excerpt = found.get(row.fingerprint)
        if excerpt is not None:
            row.data = {**row.data, "excerpt": excerpt}
