"""The one GitHub adapter: App auth, paydown's verbs over PyGithub, and GitHub's errors as a small hierarchy.

CONTRACT (written before the implementation; the implementer keeps every name and signature below, may add
private helpers and optional keyword arguments, and must not rename anything other modules import).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from .settings import Settings

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


class NotFound(GitHubError):
    """404: the repository, issue or installation is gone, or the App lost access to it. Never retried."""


class Gone(GitHubError):
    """410: e.g. issues are disabled on the repository."""


class ValidationFailed(GitHubError):
    """422 with GitHub's message (a review comment outside the diff, a label that exists, ...)."""


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


@dataclass
class RequestLog:
    """What the adapter sent, for logs and the check-run summary (writes counted by method)."""

    writes: int = 0
    by_method: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------- the App and one installation


class GitHubApp:
    """The App itself: JWT auth, installation tokens (cached, re-minted before they expire), installations."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        raise NotImplementedError

    def bot_login(self) -> str:
        """`<slug>[bot]`: the author of everything paydown writes (GET /app, cached)."""
        raise NotImplementedError

    def get_installation(self, installation_id: int) -> InstallationRecord:
        raise NotImplementedError

    def list_installation_repositories(self, installation_id: int) -> list[RepoRecord]:
        raise NotImplementedError

    def installation(self, installation_id: int) -> InstallationClient:
        """A client acting as that installation (token minted lazily, shared per installation)."""
        raise NotImplementedError

    def forget_installation(self, installation_id: int) -> None:
        """Drop the cached token (installation deleted or suspended)."""
        raise NotImplementedError


class InstallationClient:
    """paydown's verbs on one installation's repositories. Every write is paced (`write_gap_seconds`) and an
    `ensure_*` verb compares before it writes: nothing changed, nothing sent."""

    installation_id: int
    log: RequestLog

    # repository and code
    def get_repository(self, full_name: str) -> RepoRecord:
        raise NotImplementedError

    def download_tarball(self, full_name: str, sha: str, dest: Path, max_bytes: int) -> Path:
        """Stream the tarball of exactly `sha` to the file `dest` (created), at most `max_bytes` (else
        TarballTooLarge). Follows GitHub's 302 to codeload without forwarding Authorization to another host."""
        raise NotImplementedError

    # issues, labels, comments, milestones
    def list_issues(self, full_name: str, *, labels: Sequence[str] = (), state: str = "all") -> list[IssueRecord]:
        """One paginated listing (never the search API); pull requests are left out."""
        raise NotImplementedError

    def get_issue(self, full_name: str, number: int) -> IssueRecord:
        raise NotImplementedError

    def create_issue(self, full_name: str, *, title: str, body: str, labels: Sequence[str],
                     marker: str) -> IssueRecord:
        """Create an issue. `marker` is a string the body contains: if the POST fails ambiguously (5xx,
        reset), the adapter lists open and closed issues for the marker before sending again, so no duplicate."""
        raise NotImplementedError

    def ensure_issue(self, full_name: str, current: IssueRecord, *, title: str | None = None,
                     body: str | None = None, labels: Sequence[str] | None = None, state: str | None = None,
                     state_reason: str | None = None) -> IssueRecord:
        """PATCH only the given fields that differ from `current` (labels compared as sets); no call when
        none differ. Returns the issue as it now is."""
        raise NotImplementedError

    def list_labels(self, full_name: str) -> list[LabelRecord]:
        raise NotImplementedError

    def ensure_label(self, full_name: str, name: str, *, color: str, description: str,
                     existing: Sequence[LabelRecord] | None = None) -> bool:
        """Create the label if missing, update colour/description if different; True when it wrote.
        `existing` (from list_labels) saves a listing per label."""
        raise NotImplementedError

    def list_comments(self, full_name: str, number: int) -> list[CommentRecord]:
        raise NotImplementedError

    def create_comment(self, full_name: str, number: int, body: str) -> CommentRecord:
        raise NotImplementedError

    def ensure_comment(self, full_name: str, number: int, body: str, *, marker: str) -> CommentRecord:
        """The bot's comment containing `marker`, created or edited to `body`; no write when it is equal."""
        raise NotImplementedError

    def list_milestones(self, full_name: str, *, state: str = "all") -> list[MilestoneRecord]:
        raise NotImplementedError

    # pull requests
    def get_pull(self, full_name: str, number: int) -> PullRecord:
        raise NotImplementedError

    def list_pull_files(self, full_name: str, number: int) -> list[PullFile]:
        raise NotImplementedError

    def list_review_comments(self, full_name: str, number: int) -> list[ReviewCommentRecord]:
        raise NotImplementedError

    def create_review(self, full_name: str, number: int, *, commit_sha: str,
                      comments: Sequence[ReviewCommentDraft], body: str = "", event: str = "COMMENT") -> int:
        """One review with line comments anchored by `line` + `side`. Returns the review id."""
        raise NotImplementedError

    def reply_to_review_comment(self, full_name: str, number: int, comment_id: int,
                                body: str) -> ReviewCommentRecord:
        raise NotImplementedError

    # check runs
    def create_check_run(self, full_name: str, *, head_sha: str, name: str, status: str = "in_progress",
                         title: str = "", summary: str = "", external_id: str = "") -> CheckRunRecord:
        raise NotImplementedError

    def update_check_run(self, full_name: str, check_run_id: int, *, status: str | None = None,
                         conclusion: str | None = None, title: str | None = None, summary: str | None = None,
                         text: str | None = None, annotations: Sequence[Annotation] = ()) -> None:
        """Update a check run; annotations are sent in batches of 50 (PATCHes append)."""
        raise NotImplementedError

    def list_check_runs(self, full_name: str, ref: str, *, name: str | None = None) -> list[CheckRunRecord]:
        raise NotImplementedError


# ---------------------------------------------------------------- OAuth for the web page (the viewer's own token)


class GitHubOAuth:
    """The OAuth web flow for viewers of the web page and what their token can see."""

    def __init__(self, settings: Settings) -> None:
        raise NotImplementedError

    def authorize_url(self, *, state: str, redirect_uri: str) -> str:
        raise NotImplementedError

    def exchange_code(self, code: str, *, redirect_uri: str, state: str) -> str:
        """The user's access token for an authorization code."""
        raise NotImplementedError

    def user(self, token: str) -> OAuthUser:
        raise NotImplementedError

    def accessible_repositories(self, token: str) -> set[str]:
        """full_names the user can see through their installations of this App
        (GET /user/installations, then /user/installations/{id}/repositories)."""
        raise NotImplementedError
