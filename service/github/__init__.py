"""The one GitHub adapter: App auth and transport, the records and errors paydown speaks, the installation
client's verbs and the OAuth sign-in. No other package imports PyGithub."""

from __future__ import annotations

from .app import GitHubApp
from .installation import InstallationClient
from .oauth import GitHubOAuth
from .records import (
    TRANSIENT_ERRORS,
    Annotation,
    AppCredentials,
    CheckRunRecord,
    CommentRecord,
    Forbidden,
    GitHubError,
    GitHubUnavailable,
    Gone,
    InstallationRecord,
    IssueRecord,
    LabelRecord,
    MilestoneRecord,
    NotFound,
    OAuthUser,
    PullFile,
    PullRecord,
    RateLimited,
    RepoRecord,
    RequestLog,
    ReviewCommentDraft,
    ReviewCommentRecord,
    TarballTooLarge,
    Unauthorized,
    ValidationFailed,
)

__all__ = [
    "TRANSIENT_ERRORS",
    "Annotation",
    "AppCredentials",
    "CheckRunRecord",
    "CommentRecord",
    "Forbidden",
    "GitHubApp",
    "GitHubError",
    "GitHubOAuth",
    "GitHubUnavailable",
    "Gone",
    "InstallationClient",
    "InstallationRecord",
    "IssueRecord",
    "LabelRecord",
    "MilestoneRecord",
    "NotFound",
    "OAuthUser",
    "PullFile",
    "PullRecord",
    "RateLimited",
    "RepoRecord",
    "RequestLog",
    "ReviewCommentDraft",
    "ReviewCommentRecord",
    "TarballTooLarge",
    "Unauthorized",
    "ValidationFailed",
]
