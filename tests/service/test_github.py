"""The GitHub adapter against the stand-in server: auth, retries, rate limits, pacing, idempotent writes, tarballs."""

from __future__ import annotations

import itertools
import re
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests

from paydown.service.github import (
    Annotation,
    Forbidden,
    GitHubApp,
    GitHubError,
    GitHubOAuth,
    GitHubUnavailable,
    Gone,
    InstallationClient,
    NotFound,
    RateLimited,
    ReviewCommentDraft,
    TarballTooLarge,
    Unauthorized,
    ValidationFailed,
)
from paydown.service.settings import Settings

from .fake_github import FakeGitHub, RecordingServer

INSTALLATION = 7
REPO = "octo-org/widgets"
SHA = "a" * 40
MARKER = "<!-- paydown:fingerprint=abc123 -->"


def settings_for(fake: FakeGitHub, tmp_path: Path, **overrides: Any) -> Settings:
    base = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db.sqlite'}", github_api_url=fake.url,
                    github_web_url=fake.web_url, github_app_id=fake.app_id, github_private_key=fake.private_key_pem,
                    webhook_secret="webhook-secret", oauth_client_id="client-id-1",
                    oauth_client_secret="client-secret-1", write_gap_seconds=0.0,
                    rate_limit_min_wait_seconds=0.2, rate_limit_max_wait_seconds=5.0, request_retries=3)
    return replace(base, **overrides)


@pytest.fixture
def gh(fake_github: FakeGitHub) -> FakeGitHub:
    fake_github.add_installation(INSTALLATION, account="octo-org")
    fake_github.add_repo(REPO, None, INSTALLATION)
    fake_github.set_tarball(REPO, SHA, b"tarball bytes")  # also makes SHA a commit the fake knows (check runs)
    return fake_github


@pytest.fixture
def settings(gh: FakeGitHub, tmp_path: Path) -> Settings:
    return settings_for(gh, tmp_path)


@pytest.fixture
def app(settings: Settings) -> Iterator[GitHubApp]:
    with GitHubApp(settings, retry_backoff_seconds=0.05) as github_app:
        yield github_app


@pytest.fixture
def client(app: GitHubApp) -> InstallationClient:
    return app.installation(INSTALLATION)


def requests_to(gh: FakeGitHub, method: str, pattern: str) -> list[Any]:
    return [r for r in gh.requests if r.method == method and re.search(pattern, r.path)]


def make_issue(client: InstallationClient, title: str = "Stale flag", marker: str = MARKER) -> Any:
    return client.create_issue(REPO, title=title, body=f"Body\n{marker}", labels=["paydown"], marker=marker)


# ---------------------------------------------------------------- JWT and installation tokens


@pytest.mark.parametrize("skew", [-90, 90])
def test_jwt_window_holds_with_the_clock_off_by_90_seconds_and_one_token_serves_the_job(
        gh: FakeGitHub, settings: Settings, skew: int) -> None:
    with GitHubApp(settings, clock=lambda: time.time() + skew) as github_app:
        client = github_app.installation(INSTALLATION)
        assert github_app.bot_login() == gh.bot_login
        client.get_repository(REPO)
        make_issue(client)
        client.list_issues(REPO)
    assert gh.count(status=401) == 0
    assert len(gh.token_mints) == 1
    assert gh.jwt_claims, "the App authenticated with JWTs"
    for claims in gh.jwt_claims:
        assert claims["exp"] - claims["iat"] == 600
        assert abs(claims["iat"] - (time.time() + skew - 60)) < 10
        assert claims["iss"] == str(gh.app_id)


def test_a_clock_far_off_is_corrected_from_githubs_date_after_one_401(gh: FakeGitHub, settings: Settings) -> None:
    with GitHubApp(settings, clock=lambda: time.time() + 600) as github_app:
        assert github_app.bot_login() == gh.bot_login
        github_app.installation(INSTALLATION).get_repository(REPO)
    assert gh.count("GET", "^/app$", status=401) == 1
    assert gh.count("GET", "^/app$", status=200) == 1
    assert len(gh.token_mints) == 1


def run_job(client: InstallationClient, pause: float) -> None:
    """A small backlog sync: two creates, a pause longer than a short-lived token, then edits and a comment."""
    first = make_issue(client, "First", "<!-- m1 -->")
    make_issue(client, "Second", "<!-- m2 -->")
    time.sleep(pause)
    client.ensure_label(REPO, "paydown", color="5319e7", description="Technical debt")
    client.ensure_issue(REPO, first, title="First (renamed)")
    client.ensure_comment(REPO, first.number, "Still here <!-- c1 -->", marker="<!-- c1 -->")
    make_issue(client, "Third", "<!-- m3 -->")


def final_state(fake: FakeGitHub) -> list[tuple[Any, ...]]:
    issues = [(i.number, i.title, i.body, i.state, tuple(i.labels)) for i in fake.issue_list(REPO)]
    comments = [(c.body, c.user) for c in fake.comments(REPO, 1)]
    labels = {name: (label.color, label.description) for name, label in fake.labels(REPO).items()}
    return sorted(issues) + comments + sorted(labels.items())


def test_token_is_reminted_before_it_expires_and_the_job_ends_like_a_clean_run(
        gh: FakeGitHub, client: InstallationClient, tmp_path: Path) -> None:
    gh.token_ttl = 3
    run_job(client, pause=3.5)
    assert len(gh.token_mints) >= 2
    assert gh.count(status=401) == 0  # re-minted ahead of expiry, not after a rejection
    with FakeGitHub() as clean:
        clean.add_installation(INSTALLATION, account="octo-org")
        clean.add_repo(REPO, None, INSTALLATION)
        with GitHubApp(settings_for(clean, tmp_path)) as clean_app:
            run_job(clean_app.installation(INSTALLATION), pause=0)
        assert len(clean.token_mints) == 1
        assert final_state(gh) == final_state(clean)


def test_a_revoked_token_is_reminted_once_and_the_interrupted_call_repeated(
        gh: FakeGitHub, client: InstallationClient) -> None:
    issue = make_issue(client)
    with gh.lock:
        gh.tokens.clear()  # GitHub forgot the token (revoked, or expired early)
    updated = client.ensure_issue(REPO, issue, title="Renamed")
    assert updated.title == "Renamed"
    assert len(gh.token_mints) == 2
    assert len(requests_to(gh, "PATCH", r"/issues/1$")) == 2  # the 401, then the repeat
    assert [i.title for i in gh.issue_list(REPO)] == ["Renamed"]


def test_a_token_rejected_again_after_the_remint_is_unauthorized(gh: FakeGitHub, client: InstallationClient) -> None:
    gh.fail("GET", r"^/repos/octo-org/widgets$", "status", status=401, times=None, body={"message": "Bad credentials"})
    with pytest.raises(Unauthorized) as caught:
        client.get_repository(REPO)
    assert caught.value.status == 401
    assert gh.count("GET", r"^/repos/octo-org/widgets$") == 2
    assert len(gh.token_mints) == 2


# ---------------------------------------------------------------- retries of idempotent requests


def test_two_502_then_200_succeeds_in_three_calls(gh: FakeGitHub, client: InstallationClient) -> None:
    gh.fail("GET", r"^/repos/octo-org/widgets$", "status", status=502, times=2)
    assert client.get_repository(REPO).full_name == REPO
    assert gh.count("GET", r"^/repos/octo-org/widgets$") == 3


def test_connection_reset_on_a_get_is_retried(gh: FakeGitHub, client: InstallationClient) -> None:
    make_issue(client)
    gh.fail("GET", r"/issues$", "reset")
    assert [i.title for i in client.list_issues(REPO)] == ["Stale flag"]
    assert [r.status for r in requests_to(gh, "GET", r"/issues$")] == [0, 200]


def test_a_timed_out_get_is_retried(gh: FakeGitHub, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    from paydown.service.github import transport

    monkeypatch.setattr(transport, "_TIMEOUT_SECONDS", 1)
    gh.fail("GET", r"^/repos/octo-org/widgets$", "slow", seconds=1.5)
    with GitHubApp(settings, retry_backoff_seconds=0.05) as github_app:
        assert github_app.installation(INSTALLATION).get_repository(REPO).full_name == REPO
    assert gh.count("GET", r"^/repos/octo-org/widgets$") == 2


def test_always_502_gives_github_unavailable_after_the_retry_cap(gh: FakeGitHub, client: InstallationClient) -> None:
    gh.fail("GET", r"^/repos/octo-org/widgets$", "status", status=502, times=None)
    started = time.monotonic()
    with pytest.raises(GitHubUnavailable) as caught:
        client.get_repository(REPO)
    assert gh.count("GET", r"^/repos/octo-org/widgets$") == 4  # one call and request_retries=3 more
    assert caught.value.status == 502
    assert "after 4 attempts" in str(caught.value)
    assert time.monotonic() - started >= 0.05 + 0.1 + 0.2  # exponential backoff


def test_a_post_that_got_a_502_is_not_sent_again_blindly(gh: FakeGitHub, client: InstallationClient) -> None:
    issue = make_issue(client)
    gh.fail("POST", r"/comments$", "status", status=502, times=None)
    with pytest.raises(GitHubUnavailable):
        client.create_comment(REPO, issue.number, "hello")
    assert gh.count("POST", r"/comments$") == 1


# ---------------------------------------------------------------- rate limits


def test_secondary_limit_with_retry_after_waits_that_long_then_succeeds(gh: FakeGitHub,
                                                                        client: InstallationClient) -> None:
    gh.fail("GET", r"^/repos/octo-org/widgets$", "secondary_rate_limit", retry_after=1)
    assert client.get_repository(REPO).full_name == REPO
    limited, answered = requests_to(gh, "GET", r"^/repos/octo-org/widgets$")
    assert (limited.status, answered.status) == (403, 200)
    assert answered.monotonic - limited.monotonic >= 1.0


def test_secondary_limit_without_retry_after_waits_the_minimum_doubling(gh: FakeGitHub,
                                                                        client: InstallationClient) -> None:
    gh.fail("GET", r"^/repos/octo-org/widgets$", "secondary_rate_limit", times=2)
    client.get_repository(REPO)
    first, second, third = requests_to(gh, "GET", r"^/repos/octo-org/widgets$")
    assert 0.2 <= second.monotonic - first.monotonic < 0.35  # rate_limit_min_wait_seconds
    assert 0.4 <= third.monotonic - second.monotonic < 0.55  # doubled
    assert third.status == 200


def test_a_limit_longer_than_the_max_wait_raises_rate_limited_at_once(gh: FakeGitHub,
                                                                      client: InstallationClient) -> None:
    gh.fail("GET", r"^/repos/octo-org/widgets$", "secondary_rate_limit", retry_after=3600)
    started = time.monotonic()
    with pytest.raises(RateLimited) as caught:
        client.get_repository(REPO)
    assert time.monotonic() - started < 1.0
    assert caught.value.retry_after == 3600
    assert gh.count("GET", r"^/repos/octo-org/widgets$") == 1


def test_a_limit_that_keeps_coming_back_raises_rate_limited_after_the_cap(gh: FakeGitHub, tmp_path: Path) -> None:
    gh.fail("GET", r"^/repos/octo-org/widgets$", "secondary_rate_limit", times=None, status=429)
    with (GitHubApp(settings_for(gh, tmp_path, rate_limit_min_wait_seconds=0.02)) as github_app,
          pytest.raises(RateLimited) as caught):
        github_app.installation(INSTALLATION).get_repository(REPO)
    assert gh.count("GET", r"^/repos/octo-org/widgets$") == 4
    assert caught.value.status == 429
    assert caught.value.retry_after == pytest.approx(0.02 * 2 ** 3)


def test_primary_limit_no_request_before_the_reset_then_the_run_continues(gh: FakeGitHub,
                                                                          client: InstallationClient) -> None:
    client.get_repository(REPO)
    client.get_repository(REPO)
    gh.fail("GET", r"^/repos/octo-org/widgets$", "primary_rate_limit", reset_in=2)
    started = time.monotonic()
    assert client.get_repository(REPO).full_name == REPO
    calls = requests_to(gh, "GET", r"^/repos/octo-org/widgets$")
    assert [r.status for r in calls] == [200, 200, 403, 200]
    assert not [r for r in gh.requests if r.fault == "primary_rate_limit (held)"]  # none sent before the reset
    assert time.monotonic() - started >= 1.0


def test_resource_not_accessible_is_forbidden_after_exactly_one_request(gh: FakeGitHub,
                                                                        client: InstallationClient) -> None:
    gh.fail("POST", r"/issues$", "forbidden_integration", times=None)
    with pytest.raises(Forbidden) as caught:
        make_issue(client)
    assert gh.count("POST", r"/issues$") == 1
    assert gh.count("GET", r"/issues$") == 0  # not an ambiguous failure: nothing to look up
    assert "Resource not accessible by integration" in str(caught.value)


def test_forbidden_names_the_permission_github_says_is_missing(gh: FakeGitHub, client: InstallationClient) -> None:
    gh.fail("POST", r"/check-runs$", "status", status=403, times=None,
            headers={"X-Accepted-GitHub-Permissions": "checks=write"},
            body={"message": "Resource not accessible by integration"})
    with pytest.raises(Forbidden) as caught:
        client.create_check_run(REPO, head_sha=SHA, name="paydown")
    assert caught.value.permission == "checks=write"
    assert "checks=write" in str(caught.value)
    assert gh.count("POST", r"/check-runs$") == 1


# ---------------------------------------------------------------- errors that are answers


def test_missing_issue_is_not_found_without_retries(gh: FakeGitHub, client: InstallationClient) -> None:
    with pytest.raises(NotFound) as caught:
        client.get_issue(REPO, 99)
    assert caught.value.status == 404
    assert gh.count("GET", r"/issues/99$") == 1


def test_issues_disabled_is_gone_on_create(gh: FakeGitHub, client: InstallationClient) -> None:
    gh.set_repo(REPO, has_issues=False)
    with pytest.raises(Gone) as caught:
        make_issue(client)
    assert caught.value.status == 410
    assert gh.count("POST", r"/issues$") == 1


def test_validation_failed_keeps_githubs_message_and_errors(gh: FakeGitHub, client: InstallationClient) -> None:
    with pytest.raises(ValidationFailed) as caught:
        client.create_issue(REPO, title="x" * 300, body=MARKER, labels=[], marker=MARKER)
    assert caught.value.status == 422
    assert "Validation Failed" in str(caught.value)
    assert "title is too long" in str(caught.value)
    assert caught.value.errors


# ---------------------------------------------------------------- idempotent writes


def test_ambiguous_post_creates_exactly_one_issue(gh: FakeGitHub, client: InstallationClient) -> None:
    gh.fail("POST", r"/issues$", "after_success")
    issue = make_issue(client)
    assert [i.number for i in gh.issue_list(REPO)] == [issue.number]
    assert gh.count("POST", r"/issues$") == 1
    lookup = requests_to(gh, "GET", r"/issues$")
    assert [(r.query.get("state"), r.query.get("labels")) for r in lookup] == [("all", "paydown")]


def test_reset_post_is_looked_up_then_sent_again_once(gh: FakeGitHub, client: InstallationClient) -> None:
    gh.fail("POST", r"/issues$", "reset")
    issue = make_issue(client)
    assert [i.number for i in gh.issue_list(REPO)] == [issue.number]
    assert gh.count("POST", r"/issues$") == 2


def test_ensure_verbs_with_nothing_changed_write_nothing(gh: FakeGitHub, client: InstallationClient) -> None:
    issue = make_issue(client)
    client.ensure_label(REPO, "paydown", color="#5319E7", description="Technical debt")
    client.ensure_comment(REPO, issue.number, f"Summary\n{MARKER}", marker=MARKER)
    gh.clear_log()
    writes_before = client.log.writes
    current = client.get_issue(REPO, issue.number)
    assert client.ensure_issue(REPO, current, title=current.title, body=current.body, labels=["paydown"],
                               state="open") == current
    assert client.ensure_label(REPO, "paydown", color="5319e7", description="Technical debt") is False
    client.ensure_comment(REPO, issue.number, f"Summary\n{MARKER}", marker=MARKER)
    assert gh.writes() == []
    assert client.log.writes == writes_before


def test_ensure_issue_patches_only_the_fields_that_differ(gh: FakeGitHub, client: InstallationClient) -> None:
    issue = make_issue(client)
    gh.clear_log()
    closed = client.ensure_issue(REPO, issue, title=issue.title, body=issue.body, labels=["paydown"],
                                 state="closed", state_reason="not_planned")
    assert (closed.state, closed.state_reason) == ("closed", "not_planned")
    assert [w.json for w in gh.writes()] == [{"state": "closed", "state_reason": "not_planned"}]


def test_ensure_label_updates_a_different_label_and_survives_a_stale_listing(gh: FakeGitHub,
                                                                            client: InstallationClient) -> None:
    gh.add_label(REPO, "paydown", color="ededed", description="")
    assert client.ensure_label(REPO, "paydown", color="5319e7", description="Debt", existing=[]) is True
    assert [(w.method, w.json) for w in gh.writes()] == [
        ("POST", {"name": "paydown", "color": "5319e7", "description": "Debt"}),  # 422 already_exists
        ("PATCH", {"color": "5319e7", "description": "Debt"})]
    label = gh.labels(REPO)["paydown"]
    assert (label.color, label.description) == ("5319e7", "Debt")


def test_ensure_comment_edits_only_the_bots_own_comment(gh: FakeGitHub, client: InstallationClient) -> None:
    issue = make_issue(client)
    gh.add_comment(REPO, issue.number, f"I quote you: {MARKER}", user="alice")
    first = client.ensure_comment(REPO, issue.number, f"v1 {MARKER}", marker=MARKER)
    second = client.ensure_comment(REPO, issue.number, f"v2 {MARKER}", marker=MARKER)
    assert first.id == second.id
    bodies = [(c.user, c.body) for c in gh.comments(REPO, issue.number)]
    assert bodies == [("alice", f"I quote you: {MARKER}"), (gh.bot_login, f"v2 {MARKER}")]
    assert gh.count("GET", "^/app$") == 1  # the bot's login is cached


def test_list_issues_is_one_paginated_listing_without_pull_requests(gh: FakeGitHub,
                                                                    client: InstallationClient) -> None:
    for n in range(130):
        gh.add_issue(REPO, f"Issue {n}", "body", labels=["paydown"] if n % 2 else ())
    gh.add_pull(REPO, 500, SHA, SHA)
    gh.clear_log()
    everything = client.list_issues(REPO)
    labelled = client.list_issues(REPO, labels=["paydown"])
    assert len(everything) == 130 and all(not i.is_pull_request for i in everything)
    assert len(labelled) == 65
    pages = requests_to(gh, "GET", r"/issues$")
    assert [(r.query.get("state"), r.query.get("page")) for r in pages] == [
        ("all", None), ("all", "2"), ("all", None)]
    assert not [r for r in gh.requests if "search" in r.path]


# ---------------------------------------------------------------- pacing


def test_default_write_gap_keeps_writes_a_second_apart(gh: FakeGitHub, tmp_path: Path) -> None:
    with GitHubApp(settings_for(gh, tmp_path, write_gap_seconds=1.0)) as github_app:
        client = github_app.installation(INSTALLATION)
        issue = make_issue(client)
        for n in range(4):
            client.create_comment(REPO, issue.number, f"comment {n}")
    writes = gh.writes()
    assert len(writes) == 5
    gaps = [b.monotonic - a.monotonic for a, b in itertools.pairwise(writes)]
    assert min(gaps) >= 0.999  # a sleep ends at its deadline; clock reads may round a hair below it
    assert client.log.writes == 5 and client.log.by_method == {"POST": 5}


def test_writes_are_not_paced_when_the_gap_is_zero(gh: FakeGitHub, client: InstallationClient) -> None:
    started = time.monotonic()
    for n in range(5):
        make_issue(client, f"Issue {n}", f"<!-- m{n} -->")
    assert time.monotonic() - started < 1.0
    assert len(gh.writes()) == 5


# ---------------------------------------------------------------- check runs and reviews


def annotations(n: int) -> list[Annotation]:
    return [Annotation(path="model.py", start_line=i + 1, end_line=i + 1, annotation_level="warning",
                       message=f"finding {i}", title="PD101") for i in range(n)]


def test_120_annotations_go_in_three_requests_of_at_most_50(gh: FakeGitHub, client: InstallationClient) -> None:
    run = client.create_check_run(REPO, head_sha=SHA, name="paydown", title="Scanning", summary="Started")
    gh.clear_log()
    client.update_check_run(REPO, run.id, conclusion="neutral", title="120 findings", summary="See annotations",
                            annotations=annotations(120))
    writes = gh.writes()
    assert [w.method for w in writes] == ["PATCH"] * 3
    assert [len(w.json["output"]["annotations"]) for w in writes] == [50, 50, 20]
    assert all(w.json["output"]["title"] == "120 findings" and w.json["output"]["summary"] == "See annotations"
               for w in writes)
    fake_run = gh.check_runs[run.id]
    assert fake_run.annotation_batches == [50, 50, 20]
    assert [a["message"] for a in fake_run.annotations] == [f"finding {i}" for i in range(120)]
    assert (fake_run.status, fake_run.conclusion) == ("completed", "neutral")


def test_create_check_run_with_many_annotations_appends_the_rest(gh: FakeGitHub, client: InstallationClient) -> None:
    run = client.create_check_run(REPO, head_sha=SHA, name="paydown", status="completed", conclusion="neutral",
                                  title="T", summary="S",
                                  annotations=annotations(73))
    assert [w.method for w in gh.writes()] == ["POST", "PATCH"]
    assert gh.check_runs[run.id].annotation_batches == [50, 23]
    assert [r.id for r in client.list_check_runs(REPO, SHA, name="paydown")] == [run.id]


def test_update_check_run_fetches_title_and_summary_for_annotations_alone(gh: FakeGitHub,
                                                                          client: InstallationClient) -> None:
    run = client.create_check_run(REPO, head_sha=SHA, name="paydown", title="Kept", summary="Kept too")
    client.update_check_run(REPO, run.id, annotations=annotations(2))
    patch = requests_to(gh, "PATCH", r"/check-runs/\d+$")[-1]
    assert patch.json == {"output": {"title": "Kept", "summary": "Kept too",
                                     "annotations": [a.to_dict() for a in annotations(2)]}}


def test_review_is_one_request_with_line_and_side(gh: FakeGitHub, client: InstallationClient, make_repo: Any,
                                                  tmp_path: Path) -> None:
    from tests.conftest import _git

    root = make_repo(tmp_path, {"model.py": "a = 1\n"})
    base = _git_head(root)
    (root / "model.py").write_text("a = 1\nb = 2\n", encoding="utf-8")
    _git(root, "commit", "-qam", "add b")
    head = _git_head(root)
    gh.set_repo(REPO, git_dir=root)
    gh.add_pull(REPO, 3, base, head)
    assert client.head_sha(REPO, "main") == head
    pull = client.get_pull(REPO, 3)
    assert (pull.head_sha, pull.base_sha, pull.head_repo_full_name) == (head, base, REPO)
    files = client.list_pull_files(REPO, 3)
    assert [(f.filename, f.status) for f in files] == [("model.py", "modified")]
    gh.clear_log()
    review_id = client.create_review(REPO, 3, commit_sha=head, body="Summary",
                                     comments=[ReviewCommentDraft(path="model.py", line=2, body="Debt here")])
    (post,) = gh.writes()
    assert post.json == {"commit_id": head, "event": "COMMENT", "body": "Summary",
                         "comments": [{"path": "model.py", "line": 2, "side": "RIGHT", "body": "Debt here"}]}
    (comment,) = client.list_review_comments(REPO, 3)
    assert (comment.path, comment.line, comment.side, comment.user_login) == ("model.py", 2, "RIGHT", gh.bot_login)
    reply = client.reply_to_review_comment(REPO, 3, comment.id, "Fixed?")
    assert reply.in_reply_to_id == comment.id
    assert review_id in {r.id for r in gh.reviews(REPO, 3)}


def _git_head(root: Path) -> str:
    import subprocess

    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, check=True, capture_output=True,
                          text=True).stdout.strip()


# ---------------------------------------------------------------- tarballs


def test_tarball_redirect_to_another_host_gets_no_authorization(gh: FakeGitHub, client: InstallationClient,
                                                                tmp_path: Path) -> None:
    with RecordingServer(b"archive from codeload") as codeload:
        gh.codeload_url = codeload.url
        dest = client.download_tarball(REPO, SHA, tmp_path / "dl" / "repo.tar.gz", max_bytes=1000)
        assert dest.read_bytes() == b"archive from codeload"
        assert len(codeload.requests) == 1
        assert "authorization" not in codeload.requests[0]["headers"]
    (api_call,) = requests_to(gh, "GET", r"/tarball/")
    assert api_call.headers["authorization"].startswith("token ")


def test_tarball_redirect_on_the_same_host_streams_the_archive(gh: FakeGitHub, client: InstallationClient,
                                                               tmp_path: Path) -> None:
    dest = client.download_tarball(REPO, SHA, tmp_path / "repo.tar.gz", max_bytes=1000)
    assert dest.read_bytes() == b"tarball bytes"


@pytest.mark.parametrize("lazy", [False, True], ids=["content-length", "streamed"])
def test_tarball_over_the_cap_is_too_large_and_leaves_no_file(gh: FakeGitHub, client: InstallationClient,
                                                              tmp_path: Path, lazy: bool) -> None:
    data: bytes | Callable[[], Iterator[bytes]] = b"x" * 300_000
    if lazy:
        data = lambda: iter([b"x" * 65536] * 100)  # noqa: E731 (no Content-Length: the cap bites while streaming)
    gh.set_tarball(REPO, SHA, data)
    dest = tmp_path / "big.tar.gz"
    with pytest.raises(TarballTooLarge):
        client.download_tarball(REPO, SHA, dest, max_bytes=100_000)
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []  # no partial file anywhere


def test_tarball_of_a_missing_commit_is_not_found(gh: FakeGitHub, client: InstallationClient, tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        client.download_tarball(REPO, "b" * 40, tmp_path / "none.tar.gz", max_bytes=1000)
    assert not (tmp_path / "none.tar.gz").exists()


def test_a_private_tarballs_redirect_token_is_not_in_debug_logs(
        gh: FakeGitHub, client: InstallationClient, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    gh.add_repo("octo-org/private", None, INSTALLATION, private=True)
    gh.set_tarball("octo-org/private", SHA, b"private bytes")
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="github")
    dest = client.download_tarball("octo-org/private", SHA, tmp_path / "repo.tar.gz", max_bytes=1000)
    assert dest.read_bytes() == b"private bytes"
    tokens = list(gh._codeload_tokens)
    assert tokens and "/_codeload/" in caplog.text  # the redirect was followed, and urllib3 logged its URL
    assert [t for t in tokens if t in caplog.text] == []
    assert "token=(redacted)" in caplog.text


def test_tarball_retries_a_502(gh: FakeGitHub, client: InstallationClient, tmp_path: Path) -> None:
    gh.fail("GET", r"/tarball/", "status", status=502, times=2)
    dest = client.download_tarball(REPO, SHA, tmp_path / "repo.tar.gz", max_bytes=1000)
    assert dest.read_bytes() == b"tarball bytes"
    assert gh.count("GET", r"/tarball/") == 3


# ---------------------------------------------------------------- secrets


def test_no_token_or_key_in_any_error_message(gh: FakeGitHub, client: InstallationClient, app: GitHubApp,
                                              tmp_path: Path) -> None:
    make_issue(client)
    errors: list[GitHubError] = []
    faults: list[tuple[str, dict[str, Any]]] = [
        ("status", {"status": 401, "body": {"message": "Bad credentials"}}), ("forbidden_integration", {}),
        ("status", {"status": 502}), ("secondary_rate_limit", {"retry_after": 3600}), ("reset", {}),
        ("status", {"status": 404}), ("status", {"status": 410}), ("status", {"status": 422})]
    for kind, options in faults:
        gh.clear_faults()
        gh.fail("GET", r"^/repos/octo-org/widgets$", kind, times=None, **options)
        with pytest.raises(GitHubError) as caught:
            client.get_repository(REPO)
        errors.append(caught.value)
    gh.clear_faults()
    gh.set_tarball(REPO, SHA, b"x" * 2000)
    with pytest.raises(TarballTooLarge) as too_large:
        client.download_tarball(REPO, SHA, tmp_path / "t.tar.gz", max_bytes=10)
    errors.append(too_large.value)
    secrets = [*gh.tokens, gh.private_key_pem.splitlines()[1], "client-secret-1", "webhook-secret"]
    assert len(gh.tokens) >= 2
    for err in errors:
        text = f"{err} {err!r} {err.args}"
        assert not [s for s in secrets if s in text], text
    for obj in (app, client, app.settings, client._t._auth):
        assert not [s for s in secrets if s in repr(obj)]


# ---------------------------------------------------------------- OAuth


def test_oauth_flow_user_and_accessible_repositories(gh: FakeGitHub, settings: Settings) -> None:
    gh.oauth_client_id, gh.oauth_client_secret = "client-id-1", "client-secret-1"
    gh.add_installation(8, account="other-org")
    gh.add_repo("other-org/private", None, 8, private=True)
    gh.add_repo("octo-org/second", None, INSTALLATION)
    alice = gh.add_user("alice", installations=[INSTALLATION], repos=[REPO])
    oauth = GitHubOAuth(settings)
    url = oauth.authorize_url(state="s-123", redirect_uri="http://127.0.0.1:9/callback")
    assert url.startswith(f"{gh.web_url}/login/oauth/authorize?")
    assert "client_id=client-id-1" in url and "state=s-123" in url and "allow_signup=false" in url
    with requests.Session() as session:
        answer = session.get(url + "&login=alice", allow_redirects=False, timeout=5)
        answer.close()
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(answer.headers["location"]).query)
    assert query["state"] == ["s-123"]
    code = query["code"][0]
    token = oauth.exchange_code(code, redirect_uri="http://127.0.0.1:9/callback", state="s-123")
    assert token == alice.token
    assert (oauth.user(token).login, oauth.user(token).id) == ("alice", alice.id)
    assert oauth.accessible_repositories(token) == {REPO}
    with pytest.raises(Unauthorized) as caught:
        oauth.exchange_code(code, redirect_uri="http://127.0.0.1:9/callback", state="s-123")  # codes are single-use
    assert "bad_verification_code" in str(caught.value)
    with pytest.raises(Unauthorized):
        oauth.user("gho_not-a-token")


def test_installation_repositories_and_record(gh: FakeGitHub, app: GitHubApp) -> None:
    gh.add_repo("octo-org/second", None, INSTALLATION, private=True)
    assert {r.full_name for r in app.list_installation_repositories(INSTALLATION)} == {REPO, "octo-org/second"}
    record = app.get_installation(INSTALLATION)
    assert (record.id, record.account_login, record.account_type, record.suspended) == (
        INSTALLATION, "octo-org", "Organization", False)
    gh.suspend_installation(INSTALLATION)
    assert app.get_installation(INSTALLATION).suspended is True
    app.forget_installation(INSTALLATION)
    with pytest.raises(Forbidden):
        app.installation(INSTALLATION).get_repository(REPO)


def test_debug_logs_carry_no_token_or_secret(gh: FakeGitHub, client: InstallationClient, settings: Settings,
                                             caplog: pytest.LogCaptureFixture) -> None:
    import logging

    alice = gh.add_user("alice", installations=[INSTALLATION])
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="github")  # PyGithub's own logger stays at INFO unless an operator asks
    make_issue(client)
    oauth = GitHubOAuth(settings)
    with pytest.raises(Unauthorized):
        oauth.exchange_code("not-a-code", redirect_uri="http://127.0.0.1:9/callback", state="s")
    assert oauth.accessible_repositories(alice.token) == {REPO}
    assert "/access_tokens {" in caplog.text  # PyGithub's requester did log the mint (headers masked)
    leaked = [s for s in [*gh.tokens, alice.token, "client-secret-1"] if s in caplog.text]
    assert leaked == []


def test_an_app_without_id_or_key_fails_clearly_on_first_use(tmp_path: Path) -> None:
    with GitHubApp(Settings(data_dir=tmp_path, database_url="sqlite://")) as unconfigured, \
            pytest.raises(GitHubError) as caught:
        unconfigured.bot_login()
    assert "no GitHub App is configured" in str(caught.value)


def test_milestones_parse_githubs_dates(gh: FakeGitHub, client: InstallationClient) -> None:
    from datetime import UTC, date, datetime

    created = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    gh.add_milestone(REPO, "Sprint 1", due_on=date(2026, 1, 31), created_at=created)
    gh.add_milestone(REPO, "Sprint 0", state="closed")
    milestones = sorted(client.list_milestones(REPO), key=lambda m: m.title)
    assert [(m.title, m.state, m.due_on) for m in milestones] == [
        ("Sprint 0", "closed", None), ("Sprint 1", "open", date(2026, 1, 31))]
    assert milestones[1].created_at == created
    assert milestones[0].closed_at is not None and milestones[1].closed_at is None


def test_the_hourly_content_creation_budget_stops_the_job_before_github_does(gh: FakeGitHub, tmp_path: Path) -> None:
    with GitHubApp(settings_for(gh, tmp_path, creates_per_hour=3)) as github_app:
        client = github_app.installation(INSTALLATION)
        issue = make_issue(client)
        client.create_comment(REPO, issue.number, "one")
        client.create_comment(REPO, issue.number, "two")
        with pytest.raises(RateLimited) as caught:
            client.create_comment(REPO, issue.number, "three")
    assert caught.value.retry_after > 3000  # the hour's window frees in about an hour
    assert gh.count("POST", r"/issues") == 3  # the fourth create never reached GitHub


def test_the_per_minute_content_creation_budget_waits_for_the_window(gh: FakeGitHub, tmp_path: Path) -> None:
    waits: list[float] = []
    with GitHubApp(settings_for(gh, tmp_path, creates_per_minute=2), sleep=waits.append) as github_app:
        client = github_app.installation(INSTALLATION)
        issue = make_issue(client)
        client.create_comment(REPO, issue.number, "one")
        client.create_comment(REPO, issue.number, "two")
    assert len(waits) == 1 and 55 < waits[0] <= 60  # the third create waited for the first to leave the minute
    assert gh.count("POST", r"/issues") == 3
