"""The adapter's plain data: GitHub's errors, the frozen records, and their translation from and to GitHub's JSON."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

# ---------------------------------------------------------------- errors


class GitHubError(Exception):
    """GitHub said no. `status` is the HTTP status (0 when no answer came)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class Unauthorized(GitHubError):
    """401: bad JWT or token (the token is re-minted once before this is raised)."""


class Forbidden(GitHubError):
    """403 that is not a rate limit: a missing permission ("Resource not accessible by integration"),
    a suspended installation, an archived repository. Never retried."""

    def __init__(self, message: str, status: int = 403, permission: str | None = None) -> None:
        super().__init__(message, status)
        self.permission = permission  # e.g. "issues=write", from x-accepted-github-permissions


class NotFound(GitHubError):
    """404: the repository, issue or installation is gone, or the App lost access to it. Never retried."""


class Gone(GitHubError):
    """410: e.g. issues are disabled on the repository."""


class ValidationFailed(GitHubError):
    """422 with GitHub's message (a review comment outside the diff, a label that exists, ...)."""

    def __init__(self, message: str, status: int = 422, errors: Sequence[Any] = ()) -> None:
        super().__init__(message, status)
        self.errors = tuple(errors)  # GitHub's `errors` list as sent (dicts with resource/field/code, or strings)

    @property
    def codes(self) -> set[str]:
        return {str(err.get("code")) for err in self.errors if isinstance(err, dict) and err.get("code")}


class RateLimited(GitHubError):
    """Primary or secondary rate limit that lasts longer than the adapter is willing to wait in-process.
    Transient: the job should be retried by RQ after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float, status: int = 403) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


class GitHubUnavailable(GitHubError):
    """5xx, connection reset or timeout after the adapter's own bounded retries. Transient."""


class TarballTooLarge(GitHubError):
    """The archive passed the size cap while streaming; nothing more was read."""


TRANSIENT_ERRORS: tuple[type[GitHubError], ...] = (RateLimited, GitHubUnavailable)

# ---------------------------------------------------------------- records (plain frozen data, no PyGithub objects)


@dataclass(frozen=True)
class InstallationRecord:
    id: int
    account_login: str
    account_type: str  # "User" or "Organization"
    suspended: bool = False


@dataclass(frozen=True)
class RepoRecord:
    id: int
    full_name: str
    default_branch: str
    private: bool
    archived: bool = False
    has_issues: bool = True


@dataclass(frozen=True)
class IssueRecord:
    number: int
    title: str
    body: str
    state: str  # open, closed
    state_reason: str | None  # completed, not_planned, reopened, duplicate, None
    labels: tuple[str, ...]
    milestone_number: int | None
    user_login: str
    html_url: str
    is_pull_request: bool = False


@dataclass(frozen=True)
class LabelRecord:
    name: str
    color: str
    description: str


@dataclass(frozen=True)
class CommentRecord:
    id: int
    body: str
    user_login: str


@dataclass(frozen=True)
class MilestoneRecord:
    number: int
    title: str
    state: str
    created_at: datetime
    due_on: date | None
    closed_at: datetime | None


@dataclass(frozen=True)
class PullRecord:
    number: int
    state: str
    draft: bool
    head_sha: str
    head_ref: str
    head_repo_full_name: str | None  # None when the fork was deleted
    base_sha: str
    base_ref: str
    html_url: str


@dataclass(frozen=True)
class PullFile:
    filename: str
    status: str  # added, removed, modified, renamed, copied, changed, unchanged
    patch: str | None  # None for binary or too-large diffs
    previous_filename: str | None = None


@dataclass(frozen=True)
class ReviewCommentRecord:
    id: int
    path: str
    line: int | None
    side: str | None
    body: str
    user_login: str
    in_reply_to_id: int | None
    commit_id: str


@dataclass(frozen=True)
class CheckRunRecord:
    id: int
    name: str
    head_sha: str
    status: str
    conclusion: str | None


@dataclass(frozen=True)
class Annotation:
    path: str
    start_line: int
    end_line: int
    annotation_level: str  # notice, warning, failure
    message: str
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "start_line": self.start_line, "end_line": self.end_line,
                "annotation_level": self.annotation_level, "message": self.message,
                **({"title": self.title} if self.title else {})}


@dataclass(frozen=True)
class ReviewCommentDraft:
    path: str
    line: int
    body: str
    side: str = "RIGHT"


@dataclass(frozen=True)
class OAuthUser:
    id: int
    login: str


@dataclass(frozen=True)
class AppCredentials:
    """A GitHub App GitHub has just created from paydown's manifest: everything paydown needs to act as it."""

    app_id: int
    slug: str
    html_url: str
    pem: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    client_id: str
    client_secret: str = field(repr=False)


@dataclass
class RequestLog:
    """What the adapter sent, for logs and the check-run summary (writes counted by method)."""

    writes: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    reads: int = 0


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _same_text(a: str | None, b: str | None) -> bool:
    return (a or "").replace("\r\n", "\n") == (b or "").replace("\r\n", "\n")


# ---------------------------------------------------------------- GitHub's JSON to records


def _login(user: Any) -> str:
    return str(user.get("login") or "") if isinstance(user, dict) else ""


def _repo_record(data: dict[str, Any]) -> RepoRecord:
    return RepoRecord(id=int(data["id"]), full_name=str(data["full_name"]),
                      default_branch=str(data.get("default_branch") or "main"), private=bool(data.get("private")),
                      archived=bool(data.get("archived")), has_issues=bool(data.get("has_issues", True)))


def _issue_record(data: dict[str, Any]) -> IssueRecord:
    milestone = data.get("milestone")
    return IssueRecord(
        number=int(data["number"]), title=str(data.get("title") or ""), body=str(data.get("body") or ""),
        state=str(data.get("state") or "open"), state_reason=data.get("state_reason"),
        labels=tuple(str(label["name"] if isinstance(label, dict) else label) for label in data.get("labels") or ()),
        milestone_number=int(milestone["number"]) if isinstance(milestone, dict) else None,
        user_login=_login(data.get("user")), html_url=str(data.get("html_url") or ""),
        is_pull_request="pull_request" in data)


def _label_record(data: dict[str, Any]) -> LabelRecord:
    return LabelRecord(name=str(data["name"]), color=str(data.get("color") or ""),
                       description=str(data.get("description") or ""))


def _comment_record(data: dict[str, Any]) -> CommentRecord:
    return CommentRecord(id=int(data["id"]), body=str(data.get("body") or ""), user_login=_login(data.get("user")))


def _milestone_record(data: dict[str, Any]) -> MilestoneRecord:
    due = _parse_time(data.get("due_on"))
    return MilestoneRecord(number=int(data["number"]), title=str(data.get("title") or ""),
                           state=str(data.get("state") or "open"),
                           created_at=_parse_time(data.get("created_at")) or datetime.fromtimestamp(0, UTC),
                           due_on=due.date() if due else None, closed_at=_parse_time(data.get("closed_at")))


def _pull_record(data: dict[str, Any]) -> PullRecord:
    head, base = data.get("head") or {}, data.get("base") or {}
    head_repo = head.get("repo")
    return PullRecord(number=int(data["number"]), state=str(data.get("state") or "open"),
                      draft=bool(data.get("draft")), head_sha=str(head.get("sha") or ""),
                      head_ref=str(head.get("ref") or ""),
                      head_repo_full_name=str(head_repo["full_name"]) if isinstance(head_repo, dict) else None,
                      base_sha=str(base.get("sha") or ""), base_ref=str(base.get("ref") or ""),
                      html_url=str(data.get("html_url") or ""))


def _pull_file(data: dict[str, Any]) -> PullFile:
    return PullFile(filename=str(data["filename"]), status=str(data.get("status") or "modified"),
                    patch=data.get("patch"), previous_filename=data.get("previous_filename"))


def _review_comment_record(data: dict[str, Any]) -> ReviewCommentRecord:
    line = data.get("line")
    return ReviewCommentRecord(id=int(data["id"]), path=str(data.get("path") or ""),
                               line=int(line) if line is not None else None, side=data.get("side"),
                               body=str(data.get("body") or ""), user_login=_login(data.get("user")),
                               in_reply_to_id=data.get("in_reply_to_id"), commit_id=str(data.get("commit_id") or ""))


def _check_run_record(data: dict[str, Any]) -> CheckRunRecord:
    return CheckRunRecord(id=int(data["id"]), name=str(data.get("name") or ""),
                          head_sha=str(data.get("head_sha") or ""), status=str(data.get("status") or ""),
                          conclusion=data.get("conclusion"))


def _installation_record(data: dict[str, Any]) -> InstallationRecord:
    account = data.get("account") or {}
    return InstallationRecord(id=int(data["id"]), account_login=_login(account),
                              account_type=str(account.get("type") or "User"),
                              suspended=data.get("suspended_at") is not None)


def _app_credentials(data: Any) -> AppCredentials:
    fields = ("id", "slug", "html_url", "pem", "client_id", "client_secret")
    missing = [name for name in fields if not isinstance(data, dict) or not data.get(name)]
    if missing:
        raise GitHubError(f"POST /app-manifests/(code)/conversions: GitHub's answer has no {', '.join(missing)}", 201)
    return AppCredentials(app_id=int(data["id"]), slug=str(data["slug"]), html_url=str(data["html_url"]),
                          pem=str(data["pem"]), webhook_secret=str(data.get("webhook_secret") or ""),
                          client_id=str(data["client_id"]), client_secret=str(data["client_secret"]))


# ---------------------------------------------------------------- records to GitHub's JSON (request bodies)

_ANNOTATIONS_PER_REQUEST = 50


def _issue_changes(current: IssueRecord, *, title: str | None, body: str | None, labels: Sequence[str] | None,
                   state: str | None, state_reason: str | None) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if title is not None and title != current.title:
        changes["title"] = title
    if body is not None and not _same_text(body, current.body):
        changes["body"] = body
    if labels is not None and {n.lower() for n in labels} != {n.lower() for n in current.labels}:
        changes["labels"] = list(labels)
    if state is not None and state != current.state:
        changes["state"] = state
    # A reason matters when the state changes, or for a closed issue (completed vs not planned).
    closed = (state or current.state) == "closed"
    if state_reason is not None and ("state" in changes or (closed and state_reason != current.state_reason)):
        changes["state_reason"] = state_reason
    return changes


def _batches(annotations: Sequence[Annotation]) -> list[list[dict[str, Any]]]:
    items = [a.to_dict() for a in annotations]
    return [items[i:i + _ANNOTATIONS_PER_REQUEST] for i in range(0, len(items), _ANNOTATIONS_PER_REQUEST)]


def _output(title: str, summary: str, text: str | None, annotations: Sequence[dict[str, Any]]) -> dict[str, Any]:
    output: dict[str, Any] = {"title": title, "summary": summary}
    if text is not None:
        output["text"] = text
    if annotations:
        output["annotations"] = list(annotations)
    return output
