"""paydown's verbs on one installation's repositories: code, issues, labels, comments, milestones, pulls, checks."""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import requests

from .records import (
    Annotation,
    CheckRunRecord,
    CommentRecord,
    GitHubError,
    GitHubUnavailable,
    IssueRecord,
    LabelRecord,
    MilestoneRecord,
    PullFile,
    PullRecord,
    RepoRecord,
    RequestLog,
    ReviewCommentDraft,
    ReviewCommentRecord,
    TarballTooLarge,
    ValidationFailed,
    _batches,
    _check_run_record,
    _comment_record,
    _issue_changes,
    _issue_record,
    _label_record,
    _milestone_record,
    _output,
    _pull_file,
    _pull_record,
    _repo_record,
    _review_comment_record,
    _same_text,
)
from .transport import (
    _MAX_BACKOFF_SECONDS,
    _MAX_REDIRECTS,
    _REDIRECTS,
    _TARBALL_CHUNK_BYTES,
    _TARBALL_TIMEOUT,
    _USER_AGENT,
    _CallableToken,
    _Failure,
    _number,
    _origin,
    _repo,
    _short,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import github.Auth

    from ..settings import Settings
    from .transport import _Transport


class AppAuth(Protocol):
    """What an installation client needs of the App that made it (GitHubApp is the one implementation): its
    settings, tokens, clock and transports. A protocol, so this module does not import the App's."""

    settings: Settings
    _backoff: float

    def _sleep(self, seconds: float) -> None: ...
    def _token(self, installation_id: int) -> str: ...
    def _token_rejected(self, installation_id: int) -> bool: ...
    def bot_login(self) -> str: ...
    def _new_transport(self, auth: github.Auth.Auth, *, reauthenticate: Callable[[Mapping[str, str]], bool],
                       log: RequestLog | None = None) -> _Transport: ...

log = logging.getLogger("paydown.github")


class InstallationClient:
    """paydown's verbs on one installation's repositories. Every write is paced (`write_gap_seconds`) and an
    `ensure_*` verb compares before it writes: nothing changed, nothing sent."""

    installation_id: int
    log: RequestLog

    def __init__(self, app: AppAuth, installation_id: int) -> None:
        self.installation_id = installation_id
        self.log = RequestLog()
        self._app = app
        self._t = app._new_transport(_CallableToken(lambda: app._token(installation_id)), log=self.log,
                                     reauthenticate=lambda _headers: app._token_rejected(installation_id))

    def close(self) -> None:
        self._t.close()

    def bot_login(self) -> str:
        """The App's `<slug>[bot]` login: the author of what this client writes."""
        return self._app.bot_login()

    def list_repositories(self) -> list[RepoRecord]:
        """The repositories this installation can access (GET /installation/repositories)."""
        return [_repo_record(r) for r in self._t.pages("/installation/repositories", key="repositories")]

    # repository and code
    def get_repository(self, full_name: str) -> RepoRecord:
        _, data = self._t.json("GET", _repo(full_name))
        return _repo_record(data)

    def head_sha(self, full_name: str, ref: str) -> str:
        """The commit SHA a branch, tag or SHA names now (GET /repos/{o}/{r}/commits/{ref})."""
        _, data = self._t.json("GET", f"{_repo(full_name)}/commits/{urllib.parse.quote(ref, safe='')}")
        return str(data["sha"])

    def download_tarball(self, full_name: str, sha: str, dest: Path, max_bytes: int) -> Path:
        """Stream the tarball of exactly `sha` to the file `dest` (created), at most `max_bytes` (else
        TarballTooLarge). Follows GitHub's 302 to codeload without forwarding Authorization to another host."""
        path = f"{_repo(full_name)}/tarball/{urllib.parse.quote(sha, safe='')}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._t.run("GET", path, lambda: self._stream_tarball(path, dest, max_bytes), idempotent=True,
                        write=False)
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        return dest

    def _stream_tarball(self, path: str, dest: Path, max_bytes: int) -> None:
        # `requests` directly (a PyGithub dependency), for this download only: PyGithub's requester cannot follow
        # a redirect to another port, and it keeps Authorization when only the port differs. The token comes from
        # the App's token cache like every other request's.
        api = _origin(self._t.base_url)
        url = self._t.base_url + path
        with requests.Session() as session:
            for _ in range(_MAX_REDIRECTS + 1):
                headers = {"User-Agent": _USER_AGENT, "Accept": "application/vnd.github+json"}
                if _origin(url) == api:
                    headers["Authorization"] = f"token {self._app._token(self.installation_id)}"
                with session.get(url, headers=headers, stream=True, allow_redirects=False,
                                 timeout=_TARBALL_TIMEOUT) as response:
                    location = response.headers.get("location")
                    if response.status_code in _REDIRECTS and location:
                        url = urllib.parse.urljoin(url, location)
                        continue
                    if response.status_code >= 300:
                        raise _Failure(response.status_code, response.headers, _json_or_none(response))
                    _write_capped(response, dest, max_bytes)
                    return
        raise GitHubError(f"GET {_short(path)}: more than {_MAX_REDIRECTS} redirects")

    # issues, labels, comments, milestones
    def list_issues(self, full_name: str, *, labels: Sequence[str] = (), state: str = "all") -> list[IssueRecord]:
        """One paginated listing (never the search API); pull requests are left out."""
        params: dict[str, Any] = {"state": state}
        if labels:
            params["labels"] = ",".join(labels)
        items = self._t.pages(f"{_repo(full_name)}/issues", params=params)
        return [_issue_record(item) for item in items if "pull_request" not in item]

    def get_issue(self, full_name: str, number: int) -> IssueRecord:
        _, data = self._t.json("GET", f"{_repo(full_name)}/issues/{int(number)}")
        return _issue_record(data)

    def create_issue(self, full_name: str, *, title: str, body: str, labels: Sequence[str],
                     marker: str) -> IssueRecord:
        """Create an issue. `marker` is a string the body contains: if the POST fails ambiguously (5xx,
        reset), the adapter lists open and closed issues for the marker before sending again, so no duplicate."""
        if not marker or marker not in body:
            raise ValueError("create_issue needs a marker that the body contains")
        payload = {"title": title, "body": body, "labels": list(labels)}
        retries = self._app.settings.request_retries
        for attempt in range(retries + 1):
            try:
                _, data = self._t.json("POST", f"{_repo(full_name)}/issues", body=payload)
                return _issue_record(data)
            except GitHubUnavailable:
                found = self._issue_with_marker(full_name, labels, marker)
                if found is not None:
                    log.info("%s: the issue was created after all (#%d), not sending again", full_name, found.number)
                    return found
                if attempt == retries:
                    raise
            self._app._sleep(min(self._app._backoff * 2 ** attempt, _MAX_BACKOFF_SECONDS))
        raise AssertionError("unreachable")

    def _issue_with_marker(self, full_name: str, labels: Sequence[str], marker: str) -> IssueRecord | None:
        found = [issue for issue in self.list_issues(full_name, labels=labels, state="all") if marker in issue.body]
        return min(found, key=lambda issue: issue.number) if found else None

    def ensure_issue(self, full_name: str, current: IssueRecord, *, title: str | None = None,
                     body: str | None = None, labels: Sequence[str] | None = None, state: str | None = None,
                     state_reason: str | None = None) -> IssueRecord:
        """PATCH only the given fields that differ from `current` (labels compared as sets); no call when
        none differ. Returns the issue as it now is."""
        changes = _issue_changes(current, title=title, body=body, labels=labels, state=state,
                                 state_reason=state_reason)
        if not changes:
            return current
        _, data = self._t.json("PATCH", f"{_repo(full_name)}/issues/{current.number}", body=changes)
        return _issue_record(data)

    def list_labels(self, full_name: str) -> list[LabelRecord]:
        return [_label_record(item) for item in self._t.pages(f"{_repo(full_name)}/labels")]

    def ensure_label(self, full_name: str, name: str, *, color: str, description: str,
                     existing: Sequence[LabelRecord] | None = None) -> bool:
        """Create the label if missing, update colour/description if different; True when it wrote.
        `existing` (from list_labels) saves a listing per label."""
        color = color.lstrip("#").lower()
        labels = list(existing) if existing is not None else self.list_labels(full_name)
        found = next((label for label in labels if label.name.lower() == name.lower()), None)
        if found is None:
            try:
                self._t.json("POST", f"{_repo(full_name)}/labels",
                             body={"name": name, "color": color, "description": description})
                return True
            except ValidationFailed as err:
                if "already_exists" not in err.codes:
                    raise
            except GitHubUnavailable:
                pass  # maybe created after all: look, then compare
            found = self._get_label(full_name, name)
        if found.color.lower() == color and found.description == description:
            return False
        self._t.json("PATCH", _label_path(full_name, found.name), body={"color": color, "description": description})
        return True

    def _get_label(self, full_name: str, name: str) -> LabelRecord:
        _, data = self._t.json("GET", _label_path(full_name, name))
        return _label_record(data)

    def list_comments(self, full_name: str, number: int) -> list[CommentRecord]:
        items = self._t.pages(f"{_repo(full_name)}/issues/{int(number)}/comments")
        return [_comment_record(item) for item in items]

    def create_comment(self, full_name: str, number: int, body: str) -> CommentRecord:
        _, data = self._t.json("POST", f"{_repo(full_name)}/issues/{int(number)}/comments", body={"body": body})
        return _comment_record(data)

    def ensure_comment(self, full_name: str, number: int, body: str, *, marker: str) -> CommentRecord:
        """The bot's comment containing `marker`, created or edited to `body`; no write when it is equal."""
        if not marker or marker not in body:
            raise ValueError("ensure_comment needs a marker that the body contains")
        found = self._own_comment(full_name, number, marker)
        if found is not None and _same_text(found.body, body):
            return found
        if found is not None:
            _, data = self._t.json("PATCH", f"{_repo(full_name)}/issues/comments/{found.id}", body={"body": body})
            return _comment_record(data)
        try:
            return self.create_comment(full_name, number, body)
        except GitHubUnavailable:
            found = self._own_comment(full_name, number, marker)
            if found is None:
                raise
            return found

    def _own_comment(self, full_name: str, number: int, marker: str) -> CommentRecord | None:
        bot = self._app.bot_login()
        mine = (c for c in self.list_comments(full_name, number) if c.user_login == bot and marker in c.body)
        return next(mine, None)

    def list_milestones(self, full_name: str, *, state: str = "all") -> list[MilestoneRecord]:
        items = self._t.pages(f"{_repo(full_name)}/milestones", params={"state": state})
        return [_milestone_record(item) for item in items]

    # pull requests
    def get_pull(self, full_name: str, number: int) -> PullRecord:
        _, data = self._t.json("GET", f"{_repo(full_name)}/pulls/{int(number)}")
        return _pull_record(data)

    def list_pull_files(self, full_name: str, number: int) -> list[PullFile]:
        return [_pull_file(item) for item in self._t.pages(f"{_repo(full_name)}/pulls/{int(number)}/files")]

    def list_review_comments(self, full_name: str, number: int) -> list[ReviewCommentRecord]:
        items = self._t.pages(f"{_repo(full_name)}/pulls/{int(number)}/comments")
        return [_review_comment_record(item) for item in items]

    def create_review(self, full_name: str, number: int, *, commit_sha: str,
                      comments: Sequence[ReviewCommentDraft], body: str = "", event: str = "COMMENT") -> int:
        """One review with line comments anchored by `line` + `side`. Returns the review id."""
        payload: dict[str, Any] = {
            "commit_id": commit_sha, "event": event,
            "comments": [{"path": c.path, "line": c.line, "side": c.side, "body": c.body} for c in comments]}
        if body:
            payload["body"] = body
        _, data = self._t.json("POST", f"{_repo(full_name)}/pulls/{int(number)}/reviews", body=payload)
        return int(data["id"])

    def reply_to_review_comment(self, full_name: str, number: int, comment_id: int,
                                body: str) -> ReviewCommentRecord:
        _, data = self._t.json("POST", f"{_repo(full_name)}/pulls/{int(number)}/comments",
                               body={"body": body, "in_reply_to": int(comment_id)})
        return _review_comment_record(data)

    # check runs
    def create_check_run(self, full_name: str, *, head_sha: str, name: str, status: str = "in_progress",
                         title: str = "", summary: str = "", external_id: str = "",
                         annotations: Sequence[Annotation] = (), conclusion: str | None = None) -> CheckRunRecord:
        """Create a check run; more than 50 annotations go on in PATCHes that append."""
        batches = _batches(annotations)
        payload: dict[str, Any] = {"name": name, "head_sha": head_sha, "status": status}
        if conclusion is not None:
            payload["conclusion"] = conclusion
        if external_id:
            payload["external_id"] = external_id
        if title or summary or batches:
            payload["output"] = _output(title, summary, None, batches[0] if batches else ())
        try:
            _, data = self._t.json("POST", f"{_repo(full_name)}/check-runs", body=payload)
        except GitHubUnavailable:
            found = self._check_run_with_external_id(full_name, head_sha, name, external_id)
            if found is None:
                raise
            data = found
        record = _check_run_record(data)
        for batch in batches[1:]:
            self._t.json("PATCH", f"{_repo(full_name)}/check-runs/{record.id}",
                         body={"output": _output(title, summary, None, batch)})
        return record

    def _check_run_with_external_id(self, full_name: str, head_sha: str, name: str,
                                    external_id: str) -> dict[str, Any] | None:
        if not external_id:
            return None
        runs = self._t.pages(f"{_repo(full_name)}/commits/{urllib.parse.quote(head_sha, safe='')}/check-runs",
                             params={"check_name": name}, key="check_runs")
        return next((run for run in runs if run.get("external_id") == external_id), None)

    def update_check_run(self, full_name: str, check_run_id: int, *, status: str | None = None,
                         conclusion: str | None = None, title: str | None = None, summary: str | None = None,
                         text: str | None = None, annotations: Sequence[Annotation] = ()) -> None:
        """Update a check run; annotations are sent in batches of 50 (PATCHes append)."""
        path = f"{_repo(full_name)}/check-runs/{int(check_run_id)}"
        batches = _batches(annotations)
        if batches and (title is None or summary is None):
            # GitHub wants the output's title and summary with every batch of annotations.
            _, current = self._t.json("GET", path)
            output = current.get("output") or {}
            title = str(output.get("title") or "") if title is None else title
            summary = str(output.get("summary") or "") if summary is None else summary
        payload: dict[str, Any] = {k: v for k, v in (("status", status), ("conclusion", conclusion)) if v is not None}
        if title is not None or summary is not None or text is not None or batches:
            payload["output"] = _output(title or "", summary or "", text, batches[0] if batches else ())
        if not payload:
            return
        self._t.json("PATCH", path, body=payload)
        for batch in batches[1:]:
            self._t.json("PATCH", path, body={"output": _output(title or "", summary or "", text, batch)})

    def list_check_runs(self, full_name: str, ref: str, *, name: str | None = None) -> list[CheckRunRecord]:
        params = {"check_name": name} if name else {}
        runs = self._t.pages(f"{_repo(full_name)}/commits/{urllib.parse.quote(ref, safe='')}/check-runs",
                             params=params, key="check_runs")
        app_id = self._app.settings.github_app_id
        return [_check_run_record(run) for run in runs
                if (run.get("app") or {}).get("id", app_id) == app_id]


def _label_path(full_name: str, name: str) -> str:
    return f"{_repo(full_name)}/labels/{urllib.parse.quote(name, safe='')}"


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _write_capped(response: requests.Response, dest: Path, max_bytes: int) -> None:
    declared = _number(response.headers.get("content-length"))
    if declared is not None and declared > max_bytes:
        raise TarballTooLarge(f"the archive is {declared:.0f} bytes, more than the cap of {max_bytes}", 200)
    written = 0
    with dest.open("wb") as out:
        for chunk in response.iter_content(chunk_size=_TARBALL_CHUNK_BYTES):
            written += len(chunk)
            if written > max_bytes:
                raise TarballTooLarge(f"the archive passed the cap of {max_bytes} bytes", 200)
            out.write(chunk)
