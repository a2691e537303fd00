"""The GitHub stand-in, driven by PyGithub itself: its shapes parse, its validations and its faults bite."""

from __future__ import annotations

import gc
import io
import os
import socket
import subprocess
import tarfile
import threading
import time
import warnings
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import Auth, BadCredentialsException, Github, GithubException, GithubIntegration, RateLimitExceededException

from .fake_github import FakeGitHub, RecordingServer, fake_github  # noqa: F401

REPO = "octo-org/widgets"
INSTALLATION = 77
GIT_ENV = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.invalid", "GIT_COMMITTER_NAME": "T",
           "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}

BASE_FILES = {
    "app.py": "".join(f"line {n}\n" for n in range(1, 41)),
    "old_name.py": "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\n",
    "gone.py": "x = 1\n",
}


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false",
                           *args], capture_output=True, text=True, check=True, env={**os.environ, **GIT_ENV})
    return done.stdout.strip()


def commit_files(root: Path, files: dict[str, str | None], message: str = "change") -> str:
    for rel, text in files.items():
        if text is None:
            (root / rel).unlink()
            continue
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD")


@pytest.fixture
def two_commits(tmp_path: Path) -> tuple[Path, str, str]:
    """A repo whose `feature` branch modifies, adds, removes and renames a file on top of `main`."""
    root = tmp_path / "widgets"
    root.mkdir()
    git(root, "init", "-q")
    base = commit_files(root, BASE_FILES, "base")
    git(root, "checkout", "-q", "-b", "feature")
    git(root, "mv", "old_name.py", "new_name.py")
    lines = BASE_FILES["app.py"].splitlines(keepends=True)
    lines[9] = "line 10 changed\n"
    lines.insert(30, "inserted\n")
    head = commit_files(root, {"app.py": "".join(lines), "added.py": "print('hi')\n", "gone.py": None}, "feature")
    return root, base, head


@pytest.fixture
def gh(fake_github: FakeGitHub, two_commits: tuple[Path, str, str]) -> FakeGitHub:  # noqa: F811
    fake_github.add_installation(INSTALLATION, account="octo-org")
    fake_github.add_repo(REPO, two_commits[0], INSTALLATION)
    return fake_github


@pytest.fixture
def client(gh: FakeGitHub) -> Iterator[Github]:
    auth = Auth.AppAuth(gh.app_id, gh.private_key_pem).get_installation_auth(INSTALLATION)
    g = Github(base_url=gh.url, auth=auth, retry=None, seconds_between_requests=None, seconds_between_writes=None)
    yield g
    g.close()


@cache
def signing_key(pem: str) -> Any:
    """Loading a PEM checks the RSA key (tens of ms): once per test run, not per JWT."""
    return serialization.load_pem_private_key(pem.encode(), password=None)


def app_jwt(gh: FakeGitHub, *, iat: float | None = None, exp: float | None = None, iss: Any = None,
            key: Any = None) -> str:
    now = time.time()
    claims = {"iat": int(now - 60 if iat is None else iat), "exp": int(now + 540 if exp is None else exp),
              "iss": str(gh.app_id) if iss is None else iss}
    return jwt.encode(claims, key or signing_key(gh.private_key_pem), algorithm="RS256")


def token_for(gh: FakeGitHub, installation_id: int = INSTALLATION) -> str:
    r = requests.post(f"{gh.url}/app/installations/{installation_id}/access_tokens",
                      headers={"Authorization": f"Bearer {app_jwt(gh)}"}, timeout=5)
    assert r.status_code == 201, r.text
    return r.json()["token"]


def api(gh: FakeGitHub, method: str, path: str, token: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{gh.url}{path}", headers={"Authorization": f"token {token}"}, timeout=5,
                            **kwargs)


# ---------------------------------------------------------------- app auth


def test_app_jwt_mints_installation_token_and_pygithub_reads_the_repo(gh: FakeGitHub, client: Github) -> None:
    integration = GithubIntegration(base_url=gh.url, auth=Auth.AppAuth(gh.app_id, gh.private_key_pem))
    try:
        assert integration.get_app().slug == "paydown-test"
        assert integration.get_repo_installation("octo-org", "widgets").id == INSTALLATION
        token = integration.get_access_token(INSTALLATION)
    finally:
        integration.close()
    assert token.token.startswith("ghs_")
    assert abs(token.expires_at.timestamp() - (time.time() + 3600)) < 5

    repo = client.get_repo(REPO)
    assert (repo.full_name, repo.default_branch, repo.owner.login, repo.private) == (REPO, "main", "octo-org", False)
    assert repo.html_url == f"{gh.web_url}/{REPO}"
    assert [m[0] for m in gh.token_mints] == [INSTALLATION, INSTALLATION]  # one per client, none per request
    assert gh.errors == []


def test_token_lengths_vary_and_none_is_forty(gh: FakeGitHub) -> None:
    lengths = {len(token_for(gh)) for _ in range(12)}
    assert len(lengths) > 1
    assert 40 not in lengths
    gh.token_format = "stateless"
    token = token_for(gh)
    assert token.startswith(f"ghs_{gh.app_id}_") and token.count(".") == 2 and len(token) > 100
    assert api(gh, "GET", f"/repos/{REPO}", token).status_code == 200


def test_ambiguous_write_then_reset(gh: FakeGitHub) -> None:
    token = token_for(gh)
    gh.fail("POST", r"/comments$", "after_success", then="reset")
    gh.add_issue(REPO, "t", "")
    with pytest.raises(requests.ConnectionError):
        api(gh, "POST", f"/repos/{REPO}/issues/1/comments", token, json={"body": "hello"})
    assert [c.body for c in gh.comments(REPO, 1)] == ["hello"]
    assert gh.requests[-1].status == 0


@pytest.mark.parametrize(("case", "message"), [
    ("other_key", "A JSON web token could not be decoded"),
    ("too_long", "'Expiration time' claim ('exp') is too far in the future"),
    ("expired", "'Expiration time' claim ('exp') must be a numeric value representing the future time at which "
                "the assertion expires"),
    ("wrong_iss", "'Issuer' claim ('iss') must be an Integer"),
    ("installation_token", "A JSON web token could not be decoded"),
])
def test_bad_app_jwts_get_401(gh: FakeGitHub, case: str, message: str) -> None:
    now = time.time()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    bearer = {
        "other_key": lambda: app_jwt(gh, key=other),
        "too_long": lambda: app_jwt(gh, iat=now - 60, exp=now + 600),
        "expired": lambda: app_jwt(gh, iat=now - 700, exp=now - 120),
        "wrong_iss": lambda: app_jwt(gh, iss="999"),
        "installation_token": lambda: token_for(gh),
    }[case]()
    r = requests.get(f"{gh.url}/app", headers={"Authorization": f"Bearer {bearer}"}, timeout=5)
    assert r.status_code == 401
    assert r.json()["message"] == message
    assert "documentation_url" in r.json()


def test_jwt_from_clock_skewed_worker_is_accepted(gh: FakeGitHub) -> None:
    for skew in (-90, 90):
        now = time.time() + skew
        r = requests.get(f"{gh.url}/app", timeout=5,
                         headers={"Authorization": f"Bearer {app_jwt(gh, iat=now - 60, exp=now + 540)}"})
        assert r.status_code == 200, (skew, r.text)
    assert len(gh.jwt_claims) == 2
    assert str(gh.jwt_claims[0]["iss"]) == str(gh.app_id)


def test_token_expiry_scope_suspension_and_removal(gh: FakeGitHub, two_commits: tuple[Path, str, str]) -> None:
    gh.add_installation(88, account="someone-else", account_type="User")
    gh.add_repo("someone-else/private", two_commits[0], 88, private=True)
    token = token_for(gh)
    assert api(gh, "GET", f"/repos/{REPO}", token).status_code == 200
    assert api(gh, "GET", "/repos/someone-else/private", token).json()["message"] == "Not Found"
    assert api(gh, "GET", f"/repos/{REPO}", "ghs_unknown").json()["message"] == "Bad credentials"
    assert api(gh, "GET", f"/repos/{REPO}", "").status_code == 401

    real = time.time
    gh.clock = lambda: real() + 3601
    r = api(gh, "GET", f"/repos/{REPO}", token)
    assert (r.status_code, r.json()["message"]) == (401, "Bad credentials")
    gh.clock = real

    gh.suspend_installation(INSTALLATION)
    r = requests.post(f"{gh.url}/app/installations/{INSTALLATION}/access_tokens",
                      headers={"Authorization": f"Bearer {app_jwt(gh)}"}, timeout=5)
    assert (r.status_code, r.json()["message"]) == (403, "This installation has been suspended")
    assert api(gh, "GET", f"/repos/{REPO}", token).status_code == 403
    gh.unsuspend_installation(INSTALLATION)
    gh.remove_installation(INSTALLATION)
    r = requests.post(f"{gh.url}/app/installations/{INSTALLATION}/access_tokens",
                      headers={"Authorization": f"Bearer {app_jwt(gh)}"}, timeout=5)
    assert r.status_code == 404
    assert api(gh, "GET", f"/repos/{REPO}", token).status_code == 401


def test_installation_repositories_are_paginated(gh: FakeGitHub, two_commits: tuple[Path, str, str]) -> None:
    for n in range(4):
        gh.add_repo(f"octo-org/extra-{n}", two_commits[0], INSTALLATION)
    token = token_for(gh)
    r = api(gh, "GET", "/installation/repositories", token, params={"per_page": 2})
    assert r.json()["total_count"] == 5
    assert len(r.json()["repositories"]) == 2
    assert r.links["next"]["url"].startswith(f"{gh.url}/installation/repositories?")
    assert r.links["last"]["url"].endswith("page=3")


# ---------------------------------------------------------------- issues, labels, comments, milestones


def test_issues_create_list_paginated_and_edit(gh: FakeGitHub, client: Github) -> None:
    repo = client.get_repo(REPO)
    for n in range(35):
        repo.create_issue(title=f"debt {n}", body=f"body {n}", labels=["paydown"] if n % 2 else [])
    gh.add_issue(REPO, "human issue", "from a person", user="alice")
    gh.add_pull(REPO, 900, *gh_shas(gh))

    everything = list(repo.get_issues(state="all"))
    assert len(everything) == 37  # 35 + the human one + the pull request, as GitHub lists them
    assert sum(1 for i in everything if i.pull_request is not None) == 1
    assert gh.count("GET", r"/issues$") == 2  # two pages of 30
    assert [i.number for i in repo.get_issues(state="open", labels=["paydown"])] == list(range(34, 0, -2))

    issue = repo.get_issue(3)
    assert (issue.title, issue.body, issue.user.login) == ("debt 2", "body 2", "paydown-test[bot]")
    issue.edit(state="closed", state_reason="not_planned", body="new body")
    assert gh.issue(REPO, 3).state == "closed"
    assert gh.issue(REPO, 3).state_reason == "not_planned"
    assert gh.issue(REPO, 3).body == "new body"
    issue.edit(state="open")
    assert (gh.issue(REPO, 3).state, gh.issue(REPO, 3).state_reason) == ("open", "reopened")
    assert repo.get_issue(36).user.login == "alice"
    assert len(gh.issue_list(REPO)) == 36
    writes = gh.writes()
    assert [w.method for w in writes] == ["POST"] * 35 + ["PATCH"] * 2
    assert writes[-2].json == {"state": "closed", "state_reason": "not_planned", "body": "new body"}


def gh_shas(gh: FakeGitHub) -> tuple[str, str]:
    root = gh.repo(REPO).git_dir
    assert root is not None
    return git(root, "rev-parse", "main"), git(root, "rev-parse", "feature")


def test_issue_link_headers_use_own_base_url(gh: FakeGitHub) -> None:
    for n in range(5):
        gh.add_issue(REPO, f"issue {n}", "")
    r = api(gh, "GET", f"/repos/{REPO}/issues", token_for(gh), params={"per_page": 2, "state": "all"})
    assert [i["number"] for i in r.json()] == [5, 4]
    assert r.links["next"]["url"] == f"{gh.url}/repos/{REPO}/issues?per_page=2&state=all&page=2"
    assert r.json()[0]["url"] == f"{gh.url}/repos/{REPO}/issues/5"
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    assert int(r.headers["x-ratelimit-remaining"]) > 4000


def test_labels_with_url_encoded_names_and_already_exists(gh: FakeGitHub, client: Github) -> None:
    repo = client.get_repo(REPO)
    created = repo.create_label("debt: flags", "d73a4a", "Feature flags")
    assert created.name == "debt: flags"
    assert repo.get_label("debt: flags").description == "Feature flags"
    assert gh.requests[-1].path == f"/repos/{REPO}/labels/debt%3A%20flags"
    with pytest.raises(GithubException) as info:
        repo.create_label("Debt: Flags", "000000")
    assert info.value.status == 422
    assert info.value.data["errors"] == [{"resource": "Label", "code": "already_exists", "field": "name"}]
    repo.get_label("debt: flags").edit("debt: flags", "00ff00", "changed")
    assert gh.labels(REPO)["debt: flags"].color == "00ff00"

    issue = repo.create_issue(title="t", body="b", labels=["debt: flags"])
    issue.add_to_labels("priority: high")
    assert [label.name for label in issue.get_labels()] == ["debt: flags", "priority: high"]
    issue.remove_from_labels("debt: flags")
    assert gh.issue(REPO, issue.number).labels == ["priority: high"]
    issue.set_labels("a", "b")
    assert gh.issue(REPO, issue.number).labels == ["a", "b"]
    repo.get_label("a").delete()
    assert gh.issue(REPO, issue.number).labels == ["b"]
    assert "a" not in gh.labels(REPO)


def test_comments_and_body_limit(gh: FakeGitHub, client: Github) -> None:
    repo = client.get_repo(REPO)
    issue = repo.create_issue(title="t", body="x" * 65536)
    gh.add_comment(REPO, issue.number, "a human comment", user="bob")
    comment = issue.create_comment("bot comment")
    comment.edit("edited")
    assert [(c.user.login, c.body) for c in issue.get_comments()] == [("bob", "a human comment"),
                                                                       ("paydown-test[bot]", "edited")]
    with pytest.raises(GithubException) as info:
        issue.create_comment("y" * 65537)
    assert info.value.status == 422
    assert info.value.data["errors"][0]["message"] == "body is too long (maximum is 65536 characters)"
    with pytest.raises(GithubException) as info:
        repo.create_issue(title="t", body="y" * 65537)
    assert info.value.data["errors"][0]["message"] == "body is too long (maximum is 65536 characters)"
    comment.delete()
    assert [c.body for c in gh.comments(REPO, issue.number)] == ["a human comment"]


def test_issues_disabled_and_archived_repo(gh: FakeGitHub, client: Github) -> None:
    repo = client.get_repo(REPO)
    gh.set_repo(REPO, has_issues=False)
    with pytest.raises(GithubException) as info:
        repo.create_issue(title="t")
    assert (info.value.status, info.value.data["message"]) == (410, "Issues are disabled for this repo")
    gh.set_repo(REPO, has_issues=True, archived=True)
    with pytest.raises(GithubException) as info:
        repo.create_issue(title="t")
    assert (info.value.status, info.value.data["message"]) == (403, "Repository was archived so is read-only.")
    assert gh.issue_list(REPO) == []


def test_milestones(gh: FakeGitHub, client: Github) -> None:
    from datetime import date

    first = gh.add_milestone(REPO, "Sprint 1", due_on=date(2026, 1, 14))
    gh.add_milestone(REPO, "Sprint 0", state="closed")
    gh.add_issue(REPO, "in sprint", "", milestone=first)
    repo = client.get_repo(REPO)
    assert [m.title for m in repo.get_milestones(state="all")] == ["Sprint 1", "Sprint 0"]
    milestone = repo.get_milestone(first)
    assert (milestone.open_issues, milestone.due_on.date()) == (1, date(2026, 1, 14))
    assert repo.get_issue(1).milestone.number == first


# ---------------------------------------------------------------- pulls and reviews


EXPECTED_APP_PATCH = (
    "@@ -7,7 +7,7 @@ line 6\n line 7\n line 8\n line 9\n-line 10\n+line 10 changed\n line 11\n line 12\n line 13\n"
    "@@ -28,6 +28,7 @@ line 27\n line 28\n line 29\n line 30\n+inserted\n line 31\n line 32\n line 33"
)


def test_pull_files_come_from_the_real_git_diff(gh: FakeGitHub, client: Github) -> None:
    base, head = gh_shas(gh)
    gh.add_pull(REPO, 7, base, head)
    pull = client.get_repo(REPO).get_pull(7)
    assert (pull.head.sha, pull.base.sha, pull.head.ref, pull.head.repo.full_name) == (head, base, "feature", REPO)
    files = {f.filename: f for f in pull.get_files()}
    assert sorted(files) == ["added.py", "app.py", "gone.py", "new_name.py"]
    assert files["app.py"].patch == EXPECTED_APP_PATCH
    assert (files["app.py"].status, files["app.py"].additions, files["app.py"].deletions) == ("modified", 2, 1)
    assert (files["added.py"].status, files["added.py"].patch) == ("added", "@@ -0,0 +1 @@\n+print('hi')")
    assert (files["gone.py"].status, files["gone.py"].patch) == ("removed", "@@ -1 +0,0 @@\n-x = 1")
    assert (files["new_name.py"].status, files["new_name.py"].previous_filename) == ("renamed", "old_name.py")
    assert files["new_name.py"].patch is None


def test_pull_files_paginate(gh: FakeGitHub, two_commits: tuple[Path, str, str]) -> None:
    root, base, _ = two_commits
    git(root, "checkout", "-q", "-b", "many", base)
    head = commit_files(root, {f"pkg/m{n:03}.py": f"v = {n}\n" for n in range(130)}, "many")
    gh.add_pull(REPO, 8, base, head, head_ref="many")
    token = token_for(gh)
    first = api(gh, "GET", f"/repos/{REPO}/pulls/8/files", token, params={"per_page": 100})
    second = requests.get(first.links["next"]["url"], headers={"Authorization": f"token {token}"}, timeout=5)
    assert (len(first.json()), len(second.json())) == (100, 30)
    assert "next" not in second.links


def review_setup(gh: FakeGitHub) -> tuple[str, str]:
    base, head = gh_shas(gh)
    gh.add_pull(REPO, 7, base, head)
    return base, head


def test_review_comments_must_be_inside_the_diff(gh: FakeGitHub, client: Github) -> None:
    _, head = review_setup(gh)
    pull = client.get_repo(REPO).get_pull(7)
    commit = client.get_repo(REPO).get_commit(head)
    outside = [{"path": "app.py", "line": 2, "side": "RIGHT", "body": "outside"}]
    old_outside = [{"path": "app.py", "line": 20, "side": "LEFT", "body": "not an old line in a hunk"}]
    not_in_pr = [{"path": "README.md", "line": 1, "side": "RIGHT", "body": "no such file"}]
    backwards = [{"path": "app.py", "line": 9, "start_line": 10, "side": "RIGHT", "body": "x"}]
    for comments in (outside, old_outside, not_in_pr, backwards):
        with pytest.raises(GithubException) as info:
            pull.create_review(commit=commit, body="summary", event="COMMENT", comments=comments)
        assert info.value.status == 422
        assert info.value.data["message"] == "Unprocessable Entity"
    assert gh.reviews(REPO, 7) == []

    good = [{"path": "app.py", "line": 10, "side": "RIGHT", "body": "changed line"},
            {"path": "app.py", "line": 10, "side": "LEFT", "body": "removed line"},
            {"path": "app.py", "line": 13, "side": "RIGHT", "body": "context line"},
            {"path": "app.py", "line": 31, "start_line": 29, "side": "RIGHT", "body": "multi-line"},
            {"path": "added.py", "line": 1, "body": "side defaults to RIGHT"}]
    review = pull.create_review(commit=commit, body="summary", event="COMMENT", comments=good)
    assert review.state == "COMMENTED"
    stored = gh.review_comments(REPO, 7)
    assert [(c.path, c.line, c.side, c.review_id, c.user) for c in stored] == [
        ("app.py", 10, "RIGHT", review.id, "paydown-test[bot]"), ("app.py", 10, "LEFT", review.id,
                                                                   "paydown-test[bot]"),
        ("app.py", 13, "RIGHT", review.id, "paydown-test[bot]"), ("app.py", 31, "RIGHT", review.id,
                                                                   "paydown-test[bot]"),
        ("added.py", 1, "RIGHT", review.id, "paydown-test[bot]")]
    listed = list(pull.get_review_comments())
    assert (listed[0].line, listed[0].original_line, listed[0].commit_id) == (10, 10, head)
    assert listed[3].start_line == 29
    assert gh.deprecations == []


def test_review_error_texts_and_position(gh: FakeGitHub) -> None:
    _, head = review_setup(gh)
    token = token_for(gh)
    bad = api(gh, "POST", f"/repos/{REPO}/pulls/7/reviews", token, json={
        "commit_id": head, "event": "COMMENT", "body": "b",
        "comments": [{"path": "app.py", "line": 2, "side": "RIGHT", "body": "x"}]})
    assert bad.status_code == 422
    assert bad.json()["errors"] == ["Pull request review thread line must be part of the diff and Pull request "
                                    "review thread diff hunk can't be blank"]
    same_hunk = api(gh, "POST", f"/repos/{REPO}/pulls/7/reviews", token, json={
        "commit_id": head, "event": "COMMENT", "body": "b",
        "comments": [{"path": "app.py", "line": 31, "start_line": 8, "side": "RIGHT", "body": "x"}]})
    assert same_hunk.json()["errors"] == ["Pull request review thread start line must be part of the same hunk "
                                          "as the line."]
    by_position = api(gh, "POST", f"/repos/{REPO}/pulls/7/reviews", token, json={
        "commit_id": head, "event": "COMMENT", "body": "b",
        "comments": [{"path": "app.py", "position": 5, "body": "old style"}]})
    assert by_position.status_code == 200, by_position.text
    assert [(c.line, c.side, c.position) for c in gh.review_comments(REPO, 7)] == [(10, "RIGHT", 5)]
    assert len(gh.deprecations) == 1


def test_replies_and_single_comments(gh: FakeGitHub, client: Github) -> None:
    _, head = review_setup(gh)
    pull = client.get_repo(REPO).get_pull(7)
    commit = client.get_repo(REPO).get_commit(head)
    root = pull.create_review_comment("single", commit, "app.py", line=10, side="RIGHT")
    reply = pull.create_review_comment_reply(root.id, "a reply")
    assert (reply.in_reply_to_id, reply.path, reply.line, reply.user.login) == (root.id, "app.py", 10,
                                                                                 "paydown-test[bot]")
    with pytest.raises(GithubException) as info:
        pull.create_review_comment("bad", commit, "app.py", line=1, side="RIGHT")
    assert info.value.status == 422
    pull.get_review_comment(reply.id).edit("edited reply")
    assert [c.body for c in gh.review_comments(REPO, 7)] == ["single", "edited reply"]
    pull.get_review_comment(reply.id).delete()
    assert len(gh.review_comments(REPO, 7)) == 1


def test_moved_head_and_fork_pull(gh: FakeGitHub, client: Github, two_commits: tuple[Path, str, str]) -> None:
    root, base, head = two_commits
    newer = commit_files(root, {"app.py": "rewritten\n"}, "newer")
    gh.add_pull(REPO, 7, base, head)
    gh.move_head(REPO, 7, newer)
    gh.add_pull(REPO, 9, base, head, head_full_name="forker/widgets", head_ref="patch-1")
    repo = client.get_repo(REPO)
    assert repo.get_pull(7).head.sha == newer
    fork = repo.get_pull(9)
    assert (fork.head.repo.full_name, fork.head.ref, fork.head.label) == ("forker/widgets", "patch-1",
                                                                          "forker:patch-1")
    assert {f.filename for f in repo.get_pull(9).get_files()} == {"added.py", "app.py", "gone.py", "new_name.py"}


# ---------------------------------------------------------------- check runs


def test_check_runs_validate_and_append_annotations(gh: FakeGitHub, client: Github) -> None:
    _, head = gh_shas(gh)
    repo = client.get_repo(REPO)
    notes = [{"path": "app.py", "start_line": n, "end_line": n, "annotation_level": "warning", "message": f"m{n}"}
             for n in range(1, 52)]
    with pytest.raises(GithubException) as info:
        repo.create_check_run("paydown", head, status="in_progress",
                              output={"title": "t", "summary": "s", "annotations": notes})
    assert info.value.status == 422
    with pytest.raises(GithubException) as info:
        repo.create_check_run("paydown", head, status="completed", output={"title": "t", "summary": "s"})
    assert info.value.status == 422
    with pytest.raises(GithubException) as info:
        repo.create_check_run("paydown", head, status="in_progress", conclusion="success")
    assert info.value.status == 422
    with pytest.raises(GithubException) as info:
        repo.create_check_run("paydown", head, output={"title": "t", "summary": "s" * 65536})
    assert info.value.status == 422

    run = repo.create_check_run("paydown", head, status="in_progress", external_id="scan-1",
                                output={"title": "t", "summary": "s", "annotations": notes[:50]})
    run.edit(output={"title": "t", "summary": "s2", "annotations": notes[50:]})
    run.edit(status="completed", conclusion="neutral", output={"title": "done", "summary": "final"})
    fake = gh.check_runs[run.id]
    assert (fake.status, fake.conclusion, fake.output["summary"], fake.annotation_batches) == (
        "completed", "neutral", "final", [50, 1])
    assert [a.message for a in run.get_annotations()] == [f"m{n}" for n in range(1, 52)]
    repo.create_check_run("other", head, status="queued")
    listed = list(repo.get_commit(head).get_check_runs(check_name="paydown"))
    assert [(r.id, r.status, r.conclusion, r.output.annotations_count) for r in listed] == [
        (run.id, "completed", "neutral", 51)]
    assert len(list(repo.get_commit("feature").get_check_runs())) == 2
    assert gh.count("POST", r"/check-runs$") == 6
    assert gh.count("POST", r"/check-runs$", status=201) == 2


# ---------------------------------------------------------------- tarball


def test_tarball_redirects_to_codeload_and_streams_git_archive(gh: FakeGitHub, client: Github) -> None:
    _, head = gh_shas(gh)
    token = token_for(gh)
    r = api(gh, "GET", f"/repos/{REPO}/tarball/feature", token, allow_redirects=False)
    assert r.status_code == 302
    assert r.headers["Location"] == f"{gh.url}/_codeload/octo-org/widgets/legacy.tar.gz/{head}"
    assert client.get_repo(REPO).get_archive_link("tarball", "feature") == r.headers["Location"]
    body = requests.get(r.headers["Location"], timeout=5)
    with tarfile.open(fileobj=io.BytesIO(body.content), mode="r:gz") as archive:
        names = sorted(archive.getnames())
    prefix = f"octo-org-widgets-{head[:7]}"
    assert names == [prefix, f"{prefix}/added.py", f"{prefix}/app.py", f"{prefix}/new_name.py"]
    assert api(gh, "GET", f"/repos/{REPO}/tarball/no-such-ref", token, allow_redirects=False).status_code == 404
    assert gh.codeload_requests[-1].get("authorization") is None


def test_tarball_override_lazy_and_throttled(gh: FakeGitHub) -> None:
    token = token_for(gh)
    gh.set_tarball(REPO, "hostile", b"not really a tarball")
    r = api(gh, "GET", f"/repos/{REPO}/tarball/hostile", token)
    assert r.content == b"not really a tarball"

    def stream() -> Iterator[bytes]:
        yield from (b"z" * 1000 for _ in range(3))

    gh.set_tarball(REPO, "lazy", stream)
    gh.tarball_rate = 10_000
    started = time.monotonic()
    r = api(gh, "GET", f"/repos/{REPO}/tarball/lazy", token)
    assert r.content == b"z" * 3000
    assert time.monotonic() - started >= 0.25


def test_cross_host_redirect_does_not_carry_authorization(gh: FakeGitHub) -> None:
    with RecordingServer(b"tarball bytes") as codeload:
        gh.codeload_url = codeload.url
        token = token_for(gh)
        r = api(gh, "GET", f"/repos/{REPO}/tarball/main", token)
        assert r.content == b"tarball bytes"
        assert len(codeload.requests) == 1
        assert "authorization" not in codeload.requests[0]["headers"]
        assert codeload.requests[0]["path"].startswith("/_codeload/octo-org/widgets/legacy.tar.gz/")
    gh.codeload_url = None
    api(gh, "GET", f"/repos/{REPO}/tarball/main", token)
    assert gh.codeload_requests[-1]["authorization"] == f"token {token}"  # same host: a leak is visible here


# ---------------------------------------------------------------- faults


def test_two_502s_then_success(gh: FakeGitHub, client: Github) -> None:
    fault = gh.fail("GET", rf"^/repos/{REPO}$", "status", times=2, status=502)
    for _ in range(2):
        with pytest.raises(GithubException) as info:
            client.get_repo(REPO)
        assert info.value.status == 502
    assert client.get_repo(REPO).full_name == REPO
    assert fault.hits == 2
    assert [r.status for r in gh.requests if r.path == f"/repos/{REPO}"] == [502, 502, 200]


def test_secondary_rate_limit_with_retry_after(gh: FakeGitHub, client: Github) -> None:
    gh.fail("POST", r"/issues$", "secondary_rate_limit", retry_after=1)
    repo = client.get_repo(REPO)
    with pytest.raises(RateLimitExceededException) as info:
        repo.create_issue(title="t")
    assert info.value.status == 403
    assert info.value.headers["retry-after"] == "1"
    assert info.value.data["message"].startswith("You have exceeded a secondary rate limit")
    assert int(info.value.headers["x-ratelimit-remaining"]) > 0
    assert repo.create_issue(title="t").number == 1
    assert gh.count("POST", r"/issues$") == 2


def test_primary_rate_limit_holds_until_reset(gh: FakeGitHub, client: Github) -> None:
    real = time.time
    gh.fail("GET", r"/issues$", "primary_rate_limit", status=429, reset_in=30)
    repo = client.get_repo(REPO)
    with pytest.raises(GithubException) as info:
        list(repo.get_issues())
    assert info.value.status == 429
    reset = int(info.value.headers["x-ratelimit-reset"])
    assert info.value.headers["x-ratelimit-remaining"] == "0"
    assert reset >= real() + 29
    with pytest.raises(RateLimitExceededException):
        client.get_repo(REPO)  # every route is limited until the reset
    gh.clock = lambda: real() + 31
    assert client.get_repo(REPO).full_name == REPO


def test_reset_slow_forbidden_and_after_success(gh: FakeGitHub) -> None:
    token = token_for(gh)
    gh.fail("GET", rf"^/repos/{REPO}$", "reset")
    with pytest.raises(requests.ConnectionError):
        api(gh, "GET", f"/repos/{REPO}", token)
    assert gh.requests[-1].status == 0

    gh.fail("GET", rf"^/repos/{REPO}$", "slow", seconds=0.3)
    started = time.monotonic()
    assert api(gh, "GET", f"/repos/{REPO}", token).status_code == 200
    assert time.monotonic() - started >= 0.3

    gh.fail("POST", r"/issues$", "forbidden_integration")
    r = api(gh, "POST", f"/repos/{REPO}/issues", token, json={"title": "t"})
    assert (r.status_code, r.json()["message"]) == (403, "Resource not accessible by integration")
    assert not any(k.lower().startswith("x-ratelimit") for k in r.headers)

    gh.fail("POST", r"/issues$", "after_success")
    r = api(gh, "POST", f"/repos/{REPO}/issues", token, json={"title": "ambiguous"})
    assert r.status_code == 502
    assert [i.title for i in gh.issue_list(REPO)] == ["ambiguous"]

    gh.fail(None, r"/issues/1$", "status", status=301, location=f"{gh.url}/repos/octo-org/moved/issues/1")
    r = api(gh, "GET", f"/repos/{REPO}/issues/1", token, allow_redirects=False)
    assert (r.status_code, r.headers["Location"]) == (301, f"{gh.url}/repos/octo-org/moved/issues/1")
    assert [(w.method, w.status, w.fault) for w in gh.writes()] == [("POST", 403, "forbidden_integration"),
                                                                   ("POST", 502, "after_success")]


def test_request_log_helpers(gh: FakeGitHub, client: Github) -> None:
    client.get_repo(REPO).create_issue(title="t")
    assert gh.count("POST", r"/access_tokens$") == 1
    assert len(gh.writes()) == 1
    entry = gh.writes()[0]
    assert (entry.json, entry.status, entry.headers["authorization"].split()[0]) == ({"title": "t"}, 201, "token")
    assert entry.wall > 0 and entry.monotonic > 0
    gh.clear_log()
    assert (gh.requests, gh.token_mints) == ([], [])


# ---------------------------------------------------------------- OAuth


def test_oauth_code_exchange_and_user_scope(gh: FakeGitHub, two_commits: tuple[Path, str, str]) -> None:
    gh.add_installation(88, account="other-org")
    gh.add_repo("octo-org/secret", two_commits[0], INSTALLATION, private=True)
    gh.add_repo("other-org/stuff", two_commits[0], 88)
    alice = gh.add_user("alice", installations=[INSTALLATION], repos=[REPO])
    gh.add_user("bob", installations=[88])
    gh.oauth_client_id, gh.oauth_client_secret = "Iv1.client", "s3cret"
    gh.oauth_next_user = "alice"
    callback = "http://127.0.0.1:9/auth/callback"
    r = requests.get(f"{gh.url}/login/oauth/authorize", allow_redirects=False, timeout=5,
                     params={"client_id": "Iv1.client", "redirect_uri": callback, "state": "xyz"})
    assert r.status_code == 302
    location = urlsplit(r.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == callback
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]
    form = {"client_id": "Iv1.client", "client_secret": "s3cret", "code": query["code"][0], "redirect_uri": callback}
    answer = requests.post(f"{gh.url}/login/oauth/access_token", data=form, timeout=5,
                           headers={"Accept": "application/json"}).json()
    assert answer == {"access_token": alice.token, "token_type": "bearer", "scope": ""}
    again = requests.post(f"{gh.url}/login/oauth/access_token", data=form, timeout=5)
    assert parse_qs(again.text)["error"] == ["bad_verification_code"]
    gh.oauth_next_user = None
    page = requests.get(f"{gh.url}/login/oauth/authorize", timeout=5,
                        params={"client_id": "Iv1.client", "redirect_uri": callback, "state": "s"})
    assert page.status_code == 200 and ">alice<" in page.text and ">bob<" in page.text

    g = Github(base_url=gh.url, auth=Auth.Token(alice.token), retry=None)
    try:
        user = g.get_user()
        assert user.login == "alice"
        assert [i.id for i in user.get_installations()] == [INSTALLATION]
    finally:
        g.close()
    repos = api(gh, "GET", f"/user/installations/{INSTALLATION}/repositories", alice.token).json()
    assert (repos["total_count"], [r["full_name"] for r in repos["repositories"]]) == (1, [REPO])
    assert api(gh, "GET", "/user/installations/88/repositories", alice.token).status_code == 404
    assert api(gh, "GET", "/repos/other-org/stuff", alice.token).status_code == 404
    with pytest.raises(BadCredentialsException):
        bad = Github(base_url=gh.url, auth=Auth.Token("gho_nope"), retry=None)
        try:
            bad.get_user().login  # noqa: B018
        finally:
            bad.close()


def test_rate_limit_endpoint(gh: FakeGitHub) -> None:
    r = requests.get(f"{gh.url}/rate_limit", timeout=5)
    assert r.json()["resources"]["core"]["limit"] == 5000


# ---------------------------------------------------------------- lifecycle


def test_close_leaves_no_thread_or_socket() -> None:
    before = {t.ident for t in threading.enumerate()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        server = FakeGitHub()
        port = server.port
        idle = socket.create_connection(("127.0.0.1", port))  # a client that connects and never sends
        slow = server.fail(None, "/rate_limit", "slow", seconds=30)
        outcome: list[object] = []

        def wait_for_slow_answer() -> None:
            try:
                outcome.append(requests.get(f"{server.url}/rate_limit", timeout=10).status_code)
            except requests.ConnectionError as err:  # close() may cut the answer off: either is fine
                outcome.append(err)

        waiter = threading.Thread(target=wait_for_slow_answer)
        waiter.start()
        while slow.hits == 0:
            time.sleep(0.01)
        started = time.monotonic()
        server.close()
        waiter.join(timeout=5)
        assert time.monotonic() - started < 5
        assert len(outcome) == 1
        idle.close()
        gc.collect()
    leftover = [t for t in threading.enumerate() if t.ident not in before and t.name.startswith("fake-github")]
    assert leftover == []
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_unserved_routes_are_listed(gh: FakeGitHub) -> None:
    r = api(gh, "POST", f"/repos/{REPO}/statuses/abc", token_for(gh), json={"state": "success"})
    assert (r.status_code, r.json()["message"]) == (404, "Not Found")
    assert gh.unhandled == [f"POST /repos/{REPO}/statuses/abc"]
    assert gh.errors == []
