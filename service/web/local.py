"""Local scans saved to the store (`paydown scan PATH --save --history N`), with their backlog items."""

from __future__ import annotations

import secrets
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from paydown.analyzers.config import Config
from paydown.analyzers.runner import Report, scan

from .. import store as db
from ..git import run_git
from ..store import BacklogItem, Repository, Scan, ScanFinding
from .sprints import parse_time

MAX_BLOB_BYTES = 50 * 1024 * 1024  # larger files are data, not code; the analyzers would skip them anyway


class LocalScanError(Exception):
    """The folder's git history cannot be read (not a repository, git missing, a broken object)."""


@dataclass(frozen=True)
class _Fallback:
    """One backlog item per finding, used only when the backlog helper's grouping is not installed."""

    key: str
    kind: str
    title: str
    path: str
    line: int
    fingerprints: tuple[str, ...]
    effort_hours: float
    risk: str
    interest_hours_per_month: float
    priority: str
    score: float


def save_local_scan(store: db.Store, root: Path, report: Report, *, sha: str | None,
                    committed_at: datetime | None = None, trigger: str = "local") -> Scan:
    """Store a scan of a local folder (a commit's sha, or None for a working tree) and bring its backlog up to date."""
    with store.session() as session:
        repo = db.local_repository(session, root)
        row, done = db.claim_scan(session, repo.id, sha or worktree_id(), trigger=trigger, ref=None,
                                  committed_at=committed_at)
        if not done:
            row = db.finish_scan(session, row, report)
        db.update_lifecycle(session, repo, row)
        sync_backlog(session, repo)
        return row


def save_history(store: db.Store, root: Path, config: Config, n: int, *,
                 worktree: Report | None = None) -> list[Scan]:
    """Scan and store the last `n` commits touching `root` (oldest first), each dated by its commit, then the
    working tree as the newest scan (`worktree`: its report when the caller has scanned it already).

    A folder inside a repository takes that subtree's history. The files come straight from git's object store
    (no checkout, no filters, no hooks), so nothing of the scanned repository runs.
    """
    top, sub = _top_and_subpath(root)
    scans: list[Scan] = []
    for sha, when in reversed(_commits(top, sub, n)):
        with tempfile.TemporaryDirectory(prefix="paydown-history-") as tmp:
            tree = Path(tmp)
            _export_tree(top, sha, sub, tree)
            folder = tree / sub if sub else tree
            folder.mkdir(parents=True, exist_ok=True)
            report = scan(folder, config)
        scans.append(save_local_scan(store, root, report, sha=sha, committed_at=when, trigger="history"))
    current = worktree if worktree is not None else scan(root, config)
    scans.append(save_local_scan(store, root, current, sha=worktree_sha(root)))
    return scans


def worktree_sha(root: Path) -> str | None:
    """HEAD's sha when the folder's files are exactly that commit's, else None (uncommitted changes, no git).

    Not `git status`: it runs the clean filters and fsmonitor the repository's configuration names. Here the
    files are hashed raw (`hash-object --no-filters`) and compared with HEAD's blobs.
    """
    try:
        top, sub = _top_and_subpath(root)
        head = _git(top, "rev-parse", "--verify", "HEAD").strip()
        if _git(top, "ls-files", "-z", "--others", "--exclude-standard", "--", sub or ".").strip("\0"):
            return None
        blobs = _tree(top, head, sub)
        paths = [name for name, (mode, _) in blobs.items() if mode in ("100644", "100755")]
        if any(not (top / name).is_file() for name in paths):
            return None
        hashed = _git(top, "hash-object", "--no-filters", "--stdin-paths",
                      stdin="".join(f"{name}\n" for name in paths).encode("utf-8", "surrogateescape")).split()
    except LocalScanError:
        return None
    return head if hashed == [blobs[name][1] for name in paths] else None


def _tree(top: Path, sha: str, sub: str) -> dict[str, tuple[str, str]]:
    """path -> (mode, blob sha) of a commit's files under `sub`."""
    listing = _git(top, "ls-tree", "-r", "-z", "--full-tree", sha, "--", *([sub] if sub else []), text=False)
    found = {}
    for entry in listing.split(b"\0"):
        meta, _, name = entry.partition(b"\t")
        if meta:
            mode, _kind, blob = meta.decode().split()
            found[name.decode("utf-8", "surrogateescape")] = (mode, blob)
    return found


def worktree_id() -> str:
    """A unique id for a scan of uncommitted files: every save of a working tree is a new point in the trend."""
    return f"worktree-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}"


# ---------------------------------------------------------------- backlog of a local repository


def sync_backlog(session: Session, repo: Repository) -> list[BacklogItem]:
    """Make the repository's backlog items match the findings of its newest applied scan (dismissed stays)."""
    scan_id = repo.lifecycle_scan_id
    if scan_id is None:
        return []
    applied = session.get_one(Scan, scan_id)
    seen_at = applied.committed_at or applied.finished_at or datetime.now(UTC)
    findings = [row.data for row in session.scalars(select(ScanFinding).where(ScanFinding.scan_id == scan_id)
                                                    .order_by(ScanFinding.id))]
    known = {i.key: i for i in session.scalars(select(BacklogItem).where(BacklogItem.repository_id == repo.id))}
    current = {item.key: item for item in group(findings)}
    for key, item in current.items():
        row = known.get(key)
        if row is None:
            row = BacklogItem(repository_id=repo.id, key=key, first_seen_at=seen_at, state="open")
            session.add(row)
            known[key] = row
        elif row.state == "fixed":
            row.state, row.fixed_at, row.fixed_in_sha = "open", None, None
        _copy_item(row, item, seen_at)
    for key, row in known.items():
        if key not in current and row.state == "open":
            row.state, row.fixed_at, row.fixed_in_sha = "fixed", seen_at, applied.commit_sha
    session.flush()
    return list(known.values())


def group(findings: Sequence[dict[str, Any]]) -> Sequence[Any]:
    """Backlog items from findings: the backlog helper's grouping when installed, else one item per finding."""
    try:
        from ..backlog import items_from_findings
    except ImportError:  # a slim install without the backlog package
        return [_one(finding) for finding in findings]
    return items_from_findings(findings)


def _one(finding: dict[str, Any]) -> _Fallback:
    impact = finding.get("impact") or {}
    return _Fallback(key=str(finding["fingerprint"]), kind=str(finding.get("kind", "")),
                     title=str(finding.get("message", "")), path=str(finding.get("path", "")),
                     line=int(finding.get("line", 1)), fingerprints=(str(finding["fingerprint"]),),
                     effort_hours=float(impact.get("effort_hours", 0.0)), risk=str(impact.get("risk", "low")),
                     interest_hours_per_month=float(impact.get("interest_hours_per_month", 0.0)),
                     priority=str(impact.get("priority", "low")), score=float(impact.get("score", 0.0)))


def _copy_item(row: BacklogItem, item: Any, seen_at: datetime) -> None:
    row.kind, row.title, row.path, row.line = item.kind, item.title, item.path, item.line
    row.fingerprints = list(item.fingerprints)
    row.effort_hours, row.risk = item.effort_hours, item.risk
    row.interest_hours_per_month, row.priority, row.score = item.interest_hours_per_month, item.priority, item.score
    row.last_seen_at = seen_at


# ---------------------------------------------------------------- git, read-only


def _git(cwd: Path, *args: str, stdin: bytes | None = None, text: bool = True) -> Any:
    try:
        done = run_git(cwd, *args, stdin=stdin)
    except (OSError, subprocess.SubprocessError) as err:
        raise LocalScanError(f"git could not run: {err}") from None
    if done.returncode != 0:
        raise LocalScanError(done.stderr.decode("utf-8", "replace").strip() or f"git {args[0]} failed")
    return done.stdout.decode("utf-8", "surrogateescape") if text else done.stdout


def _top_and_subpath(root: Path) -> tuple[Path, str]:
    resolved = root.resolve()
    top = Path(_git(resolved, "rev-parse", "--show-toplevel").strip()).resolve()
    sub = resolved.relative_to(top).as_posix()
    return top, "" if sub == "." else sub


def _commits(top: Path, sub: str, n: int) -> list[tuple[str, datetime | None]]:
    if n <= 0:
        return []
    out = _git(top, "log", "-n", str(n), "--format=%H %cI", "--", sub or ".")
    commits = []
    for line in out.splitlines():
        sha, _, stamp = line.partition(" ")
        if sha:
            commits.append((sha, parse_time(stamp)))
    return commits


def _export_tree(top: Path, sha: str, sub: str, dest: Path) -> int:
    """Write a commit's regular files (under `sub`) into dest from raw blobs; links and submodules are left out."""
    listing = _git(top, "ls-tree", "-r", "-z", "-l", "--full-tree", sha, "--", *([sub] if sub else []), text=False)
    blobs: list[tuple[str, str]] = []
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        meta, _, name = entry.partition(b"\t")
        mode, kind, blob, size = meta.decode().split()
        if kind == "blob" and mode in ("100644", "100755") and int(size) <= MAX_BLOB_BYTES:
            blobs.append((blob, name.decode("utf-8", "surrogateescape")))
    if not blobs:
        return 0
    data = _git(top, "cat-file", "--batch", stdin="".join(f"{b}\n" for b, _ in blobs).encode(), text=False)
    offset = 0
    for _, name in blobs:
        header_end = data.index(b"\n", offset)
        size = int(data[offset:header_end].split()[2])
        body = data[header_end + 1:header_end + 1 + size]
        offset = header_end + 1 + size + 1
        target = _inside(dest, name)
        if target is None:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    return len(blobs)


def _inside(dest: Path, name: str) -> Path | None:
    parts = PurePosixPath(name).parts
    if not parts or name.startswith("/") or any(p in ("..", ".git") for p in parts):
        return None
    return dest.joinpath(*parts)


def save_from_cli(root: Path, report: Report, config: Config, *, history: int) -> tuple[list[Scan], str]:
    """What `paydown scan --save [--history N]` does: the history first, then the folder as it is now.
    Returns the scans stored and the database they went to."""
    from ..settings import Settings

    settings = Settings.from_env()
    store = db.Store(settings.database_url)
    try:
        store.migrate()
        if history:
            scans = save_history(store, root, config, history, worktree=report)
        else:
            scans = [save_local_scan(store, root, report, sha=worktree_sha(root))]
    finally:
        store.dispose()
    return scans, make_url(settings.database_url).render_as_string(hide_password=True)
