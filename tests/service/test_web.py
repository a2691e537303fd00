"""The web page through Flask's test client on real SQLite: listing, filters, sort, exports, access, escaping."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from paydown.service.web import csv_cell, to_csv

from .browser import XSS, expected_burndown, local_settings, seed_repository, sha, web_app

LOCAL = "local:/srv/projects/churn"


@pytest.fixture
def web_store(tmp_path: Path) -> Iterator[Any]:
    from paydown.service.store import Store

    store = Store(f"sqlite:///{tmp_path / 'data' / 'paydown.db'}")
    store.migrate()
    yield store
    store.dispose()


@pytest.fixture
def local_client(tmp_path: Path, web_store: Any) -> Any:
    seed_repository(web_store, LOCAL, local_path="/srv/projects/churn")
    seed_repository(web_store, "octo-org/widgets", github_id=501, sprint=False)  # not shown without an App
    return web_app(local_settings(tmp_path), web_store).test_client()


def keys(body: str) -> list[str]:
    return re.findall(r'<tr class="item" data-key="([^"]+)"', body)


def backlog(client: Any, query: str = "", name: str = LOCAL) -> str:
    response = client.get(f"/repos/{name}{'?' + query if query else ''}")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_the_repositories_page_lists_local_repositories_with_open_debt_and_trend(local_client: Any) -> None:
    response = local_client.get("/")
    body = response.get_data(as_text=True)

    assert response.status_code == 200
    assert re.findall(r'<tr data-repo="([^"]+)" data-open-hours="([^"]+)"', body) == [(LOCAL, "7")]
    assert 'data-delta="-8.5"' in body and "▼ -8.5 h" in body
    assert "octo-org/widgets" not in body  # a GitHub repository is not a local scan
    assert 'class="sparkline"' in body
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_backlog_is_ranked_by_priority_and_shows_open_items_by_default(local_client: Any) -> None:
    body = backlog(local_client)

    assert keys(body) == ["flag-a", "clone-c", "pins-b"]
    assert 'data-open-hours="7"' in body
    assert 'data-chart="trend" data-points="3"' in body
    assert re.findall(r'data-state="([a-z]+)"', body) == ["sprint", "sprint", "open"]
    assert '<div class="muted small sprint-name">Sprint &lt;4&gt; cleanup</div>' in body
    assert "src/flags.py:10" in body and "/blob/" not in body  # a local repository's location is a plain path
    assert f'href="/repos/{LOCAL}/sprints/4"' in body


def test_the_trend_leaves_out_pull_requests_and_other_branches(local_client: Any, web_store: Any) -> None:
    from paydown.service.store import Repository, Scan

    with web_store.session() as session:
        repo = session.scalars(select(Repository).where(Repository.full_name == LOCAL)).one()
        for n, (trigger, ref) in enumerate((("pull_request", "refs/pull/3/head"), ("push", "refs/heads/feature"),
                                            ("push", "refs/heads/main"))):
            session.add(Scan(repository_id=repo.id, commit_sha=sha(900 + n), trigger=trigger, ref=ref,
                             status="succeeded", finished_at=datetime.now(UTC), total_effort_hours=99.0))
    body = backlog(local_client)
    assert 'data-chart="trend" data-points="4"' in body
    assert re.findall(r'data-hours="([\d.]+)"', body) == ["20", "15.5", "7", "99"]


@pytest.mark.parametrize(("query", "expected"), [
    ("state=all", ["flag-a", "clone-c", "input-d", "pins-b", "flag-e"]),
    ("state=fixed", ["input-d"]),
    ("state=dismissed", ["flag-e"]),
    ("state=sprint", ["flag-a", "clone-c"]),
    ("kind=dead-flag&state=all", ["flag-a", "flag-e"]),
    ("path=features&state=all", ["clone-c", "input-d"]),
    ("path=nowhere", []),
    ("sort=effort", ["clone-c", "flag-a", "pins-b"]),
    ("sort=effort&dir=asc", ["pins-b", "flag-a", "clone-c"]),
    ("sort=path", ["pins-b", "clone-c", "flag-a"]),
    ("sort=kind&state=all", ["flag-a", "flag-e", "clone-c", "input-d", "pins-b"]),
    ("sort=interest&dir=asc&state=all", ["flag-e", "pins-b", "input-d", "clone-c", "flag-a"]),
    ("sort=bogus&state=bogus", ["flag-a", "clone-c", "pins-b"]),  # unknown values fall back to the defaults
])
def test_filters_and_sort_work_from_query_parameters(local_client: Any, query: str, expected: list[str]) -> None:
    assert keys(backlog(local_client, query)) == expected


def test_totals_by_kind_follow_the_filters(local_client: Any) -> None:
    rows = re.findall(r'data-kind="([a-z-]+)" data-count="(\d+)" data-effort="([\d.]+)"',
                      backlog(local_client, "state=all"))
    assert rows == [("dead-flag", "2", "2.5"), ("duplicated-feature-logic", "1", "4"),
                    ("undocumented-input", "1", "1.5"), ("unpinned-dependency", "1", "1"), ("all", "5", "9")]
    rows = re.findall(r'data-kind="([a-z-]+)" data-count="(\d+)"', backlog(local_client, "kind=dead-flag"))
    assert rows == [("dead-flag", "1"), ("all", "1")]


def test_sort_links_keep_the_filters_and_reverse_the_current_column(local_client: Any) -> None:
    body = backlog(local_client, "kind=dead-flag&sort=effort")
    assert f'href="/repos/{LOCAL}?kind=dead-flag&amp;sort=effort&amp;dir=asc#items"' in body
    assert f'href="/repos/{LOCAL}?kind=dead-flag&amp;sort=score#items"' in body


def test_a_finding_message_with_script_is_rendered_as_text(local_client: Any) -> None:
    body = backlog(local_client)
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in body
    assert XSS not in body
    assert "<script" not in body  # the page needs no script at all


def test_backlog_exports_apply_the_filters_and_guard_csv_against_formulas(local_client: Any) -> None:
    data = json.loads(local_client.get(f"/repos/{LOCAL}/backlog.json?state=all&sort=effort&dir=asc").data)
    assert data["repository"] == LOCAL and data["commit"] == sha(103)
    assert [i["title"] for i in data["items"]][:1] == ['=HYPERLINK("http://evil.invalid","x")']  # JSON is exact
    assert [(i["rank"], i["path"], i["effort_hours"], i["state"]) for i in data["items"]] == [
        (1, "src/x.py", 0.5, "dismissed"), (2, "requirements.txt", 1.0, "open"),
        (3, "src/features/load.py", 1.5, "fixed"), (4, "src/flags.py", 2.0, "sprint"),
        (5, "src/features/a.py", 4.0, "sprint")]

    response = local_client.get(f"/repos/{LOCAL}/backlog.csv?state=all&sort=effort&dir=asc")
    assert response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:5] == ["rank", "kind", "title", "path", "line"]
    assert rows[1][2] == "'=HYPERLINK(\"http://evil.invalid\",\"x\")"
    assert rows[5][2] == XSS and len(rows) == 6


def test_csv_cells_that_a_spreadsheet_would_run_get_a_leading_quote() -> None:
    assert [csv_cell(v) for v in ("=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "plain", 3.5, None, "a=b")] == [
        "'=1+2", "'+1", "'-1", "'@SUM(A1)", "'\tx", "'\rx", "plain", 3.5, "", "a=b"]
    assert to_csv(["a", "b"], [{"a": "=cmd", "b": 2}]) == "a,b\r\n'=cmd,2\r\n"


def test_the_sprint_page_and_burndown_exports_have_the_known_figures(local_client: Any) -> None:
    expected = expected_burndown()
    response = local_client.get(f"/repos/{LOCAL}/sprints/4")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    shown = dict(re.findall(r'data-day="([\d-]+)" data-remaining="([\d.]+)"', body))
    assert {day: float(v) for day, v in shown.items()} == expected["remaining"]
    assert "Sprint &lt;4&gt; cleanup" in body and "<4>" not in body
    assert f'data-day="{expected["change_day"]}" data-change="added"' in body

    data = json.loads(local_client.get(f"/repos/{LOCAL}/sprints/4/burndown.json").data)
    assert {d["day"]: d["remaining"] for d in data["days"] if d["remaining"] is not None} == expected["remaining"]
    assert {d["day"]: d["ideal"] for d in data["days"]} == expected["ideal"]
    assert data["scope_changes"] == [{"day": expected["change_day"], "issue_number": 13, "change": "added",
                                      "effort_hours": 1.0}]
    rows = list(csv.reader(io.StringIO(local_client.get(f"/repos/{LOCAL}/sprints/4/burndown.csv")
                                       .get_data(as_text=True))))
    assert rows[0] == ["day", "remaining_hours", "ideal_hours", "scope_hours"]
    assert rows[1:3] == [[min(expected["remaining"]), "6.0", "6.0", "6.0"],
                         [sorted(expected["remaining"])[1], "6.0", "5.25", "6.0"]]
    assert rows[-1][1] == ""  # the due date is still to come


@pytest.mark.parametrize("path", ["/repos/octo-org/widgets", "/repos/octo-org/widgets/backlog.json",
                                  "/repos/octo-org/widgets/backlog.csv", "/repos/nobody/none",
                                  f"/repos/{LOCAL}/sprints/99", f"/repos/{LOCAL}/sprints/99/burndown.json"])
def test_repositories_out_of_view_answer_404_with_no_data(local_client: Any, path: str) -> None:
    response = local_client.get(path)
    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "widgets" not in body and "flags.py" not in body and "Sprint" not in body


def test_without_an_app_there_is_no_login(local_client: Any) -> None:
    response = local_client.get("/login")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert local_client.get("/login/callback?state=x&code=y").status_code == 404


# ---------------------------------------------------------------- GitHub login (OAuth), through the app factory


@pytest.fixture
def oauth_app(service_settings: Any, service_queues: Any, fake_github: Any, tmp_path: Path) -> Iterator[Any]:
    from paydown.service.intake import create_app
    from paydown.service.store import Store

    settings = dataclasses.replace(service_settings, oauth_client_id="Iv1.web", oauth_client_secret="web-secret",
                                   public_url="http://localhost")
    fake_github.oauth_client_id, fake_github.oauth_client_secret = "Iv1.web", "web-secret"
    fake_github.add_installation(7, account="octo-org")
    fake_github.add_installation(8, account="secret-org")
    for name, inst in (("octo-org/widgets", 7), ("octo-org/gadgets", 7), ("secret-org/vault", 8)):
        fake_github.add_repo(name, None, inst)
    fake_github.add_user("alice", token="gho_alice", installations=[7], repos=["octo-org/widgets"])
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = Store(settings.database_url)
    store.migrate()
    seed_repository(store, "octo-org/widgets", github_id=501)
    seed_repository(store, "octo-org/gadgets", github_id=502, sprint=False)
    seed_repository(store, "secret-org/vault", github_id=503)
    app = create_app(settings, store=store, queues=service_queues)
    app.config["TESTING"] = True
    yield app
    store.dispose()


def authorize(fake_github: Any, location: str, login: str = "alice") -> str:
    """What the browser does at GitHub: follow /login/oauth/authorize and return GitHub's redirect to paydown."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(f"{location}&login={login}", timeout=10).close()
    except urllib.error.HTTPError as answer:
        with answer:
            assert answer.code == 302
            return str(answer.headers["Location"])
    raise AssertionError("GitHub did not redirect back")


def log_in(client: Any, fake_github: Any, next_path: str = "/") -> Any:
    start = client.get(f"/login?next={next_path}")
    assert start.status_code == 302
    back = urlsplit(authorize(fake_github, start.headers["Location"]))
    assert back.path == "/login/callback"
    return client.get(f"{back.path}?{back.query}")


def test_login_shows_only_repositories_the_viewer_can_access_and_404s_the_rest(oauth_app: Any,
                                                                              fake_github: Any) -> None:
    client = oauth_app.test_client()
    assert client.get("/").status_code == 302
    assert client.get("/").headers["Location"].startswith("/login?next=")
    assert client.get("/repos/octo-org/widgets/backlog.json").status_code == 401

    done = log_in(client, fake_github, "/repos/octo-org/widgets")
    assert (done.status_code, done.headers["Location"]) == (302, "/repos/octo-org/widgets")
    cookie = done.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie

    listing = client.get("/").get_data(as_text=True)
    assert re.findall(r'<tr data-repo="([^"]+)"', listing) == ["octo-org/widgets"]
    assert "Signed in as <strong>alice</strong>" in listing
    body = backlog(client, name="octo-org/widgets")
    code_url = f'{fake_github.url}/octo-org/widgets/blob/{sha(103)}/src/flags.py#L10'
    assert f'href="{code_url}"' in body
    assert f'href="{fake_github.url}/octo-org/widgets/issues/11"' in body
    for hidden in ("/repos/secret-org/vault", "/repos/octo-org/gadgets", "/repos/secret-org/vault/backlog.csv",
                   "/repos/secret-org/vault/sprints/4", "/repos/secret-org/vault/sprints/4/burndown.json"):
        response = client.get(hidden)
        text = response.get_data(as_text=True)
        assert response.status_code == 404, hidden
        assert "vault" not in text and "gadgets" not in text and "flags.py" not in text and "Sprint" not in text

    assert client.post("/logout").status_code == 302
    assert client.get("/repos/octo-org/widgets").status_code == 302


def test_login_asks_github_once_then_trusts_the_session_briefly(oauth_app: Any, fake_github: Any) -> None:
    client = oauth_app.test_client()
    log_in(client, fake_github)
    for _ in range(3):
        assert client.get("/repos/octo-org/widgets").status_code == 200
    asked = [r.path for r in fake_github.requests if r.path.startswith("/user/installations")]
    assert asked == ["/user/installations", "/user/installations/7/repositories"]


@pytest.mark.parametrize("state", ["wrong", "", None])
def test_an_oauth_state_mismatch_is_refused_and_logs_nobody_in(oauth_app: Any, fake_github: Any,
                                                              state: str | None) -> None:
    client = oauth_app.test_client()
    start = client.get("/login")
    assert parse_qs(urlsplit(start.headers["Location"]).query)["redirect_uri"] == ["http://localhost/login/callback"]
    back = urlsplit(authorize(fake_github, start.headers["Location"]))
    code = parse_qs(back.query)["code"][0]
    query = f"code={code}" + (f"&state={state}" if state is not None else "")
    response = client.get(f"/login/callback?{query}")
    assert response.status_code == 403
    assert "Sign-in refused" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # still not logged in
    assert not [r for r in fake_github.requests if r.path == "/login/oauth/access_token"]


def test_a_code_github_does_not_accept_logs_nobody_in(oauth_app: Any, fake_github: Any) -> None:
    client = oauth_app.test_client()
    start = client.get("/login")
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    response = client.get(f"/login/callback?code=made-up&state={state}")
    assert response.status_code == 403 and "Sign-in not accepted" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_a_callback_without_a_login_started_here_is_refused(oauth_app: Any) -> None:
    assert oauth_app.test_client().get("/login/callback?code=abc&state=abc").status_code == 403


def test_login_never_redirects_off_site(oauth_app: Any, fake_github: Any) -> None:
    client = oauth_app.test_client()
    done = log_in(client, fake_github, "//evil.invalid/x")
    assert done.headers["Location"] == "/"


def test_an_app_without_an_oauth_client_shows_nothing(client: Any, service_store: Any) -> None:
    seed_repository(service_store, "octo-org/widgets", github_id=501)
    body = client.get("/").get_data(as_text=True)
    assert "PAYDOWN_GITHUB_CLIENT_ID" in body and "widgets" not in body
    assert client.get("/repos/octo-org/widgets").status_code == 404


# ---------------------------------------------------------------- `paydown scan PATH --save --history N`


def git(root: Path, *args: str, when: str = "2026-01-01T10:00:00+00:00") -> None:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x.invalid", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x.invalid", "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when,
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "PATH": os.environ["PATH"]}
    subprocess.run(["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args], cwd=root, env=env,
                   check=True, capture_output=True)


def commit(root: Path, files: dict[str, str], day: int) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", f"day {day}", when=f"2026-01-0{day}T10:00:00+00:00")


@pytest.fixture
def history_repo(tmp_path: Path) -> Path:
    """sub/ has three commits of its own (0.5 h, 1.5 h, 1 h of unpinned requirements) and one commit that
    touches only the top folder; the working tree has one more pin (0.5 h). Its git config tries to run code."""
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q")
    commit(root, {"sub/requirements.txt": "numpy\n"}, 1)
    commit(root, {"top.py": "x = 1\n"}, 2)
    commit(root, {"sub/requirements.txt": "numpy\npandas\nscikit-learn\n"}, 3)
    commit(root, {"sub/requirements.txt": "numpy==1.26.4\npandas\nscikit-learn\n", "sub/.gitattributes":
                  "*.txt filter=evil\n"}, 4)
    marker = tmp_path / "ran"
    with (root / ".git" / "config").open("a", encoding="utf-8") as config:
        config.write(f'[core]\n\tfsmonitor = "touch {marker}-fsmonitor"\n'
                     f'[filter "evil"]\n\tsmudge = "touch {marker}-smudge; cat"\n\tprocess = "touch {marker}-p"\n'
                     f'[log]\n\tshowSignature = true\n[gpg]\n\tprogram = "touch {marker}-gpg"\n')
    hook = root / ".git" / "hooks" / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {marker}-hook\n", encoding="utf-8")
    hook.chmod(0o755)
    (root / "sub" / "requirements.txt").write_text("numpy==1.26.4\npandas==2.2.0\nscikit-learn\n", encoding="utf-8")
    return root


def test_scan_save_history_stores_the_subtree_history_then_the_working_tree(
        history_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from paydown.cli import main
    from paydown.service.store import BacklogItem, Repository, Scan, Store

    monkeypatch.setenv("PAYDOWN_DATA_DIR", str(tmp_path / "dash"))
    for name in ("PAYDOWN_DATABASE_URL", "PAYDOWN_GITHUB_APP_ID", "PAYDOWN_GITHUB_PRIVATE_KEY"):
        monkeypatch.delenv(name, raising=False)
    sub = history_repo / "sub"
    assert main(["scan", str(sub), "--save", "--history", "2", "-o", str(tmp_path / "report.txt")]) == 0
    assert "saved 3 scans of" in capsys.readouterr().err
    assert main(["scan", str(sub), "--save", "--history", "2", "-o", str(tmp_path / "report.txt")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("ran")) == []  # nothing of the repo ran

    store = Store(f"sqlite:///{tmp_path / 'dash' / 'paydown.db'}")
    try:
        with store.session() as session:
            repo = session.scalars(select(Repository)).one()
            scans = session.scalars(select(Scan).order_by(Scan.id)).all()
            items = session.scalars(select(BacklogItem)).all()
            assert repo.full_name == f"local:{sub.resolve()}" and repo.local_path == str(sub.resolve())
            assert [(s.trigger, s.total_effort_hours, s.committed_at and s.committed_at.day) for s in scans] == [
                ("history", 1.5, 3), ("history", 1.0, 4), ("local", 0.5, None), ("local", 0.5, None)]
            assert scans[2].commit_sha.startswith("worktree-") and scans[2].commit_sha != scans[3].commit_sha
            assert [(i.kind, i.path, i.effort_hours, i.state) for i in items] == [
                ("unpinned-dependency", "requirements.txt", 0.5, "open")]
        app = web_app(local_settings(tmp_path / "dash"), store)
        body = backlog(app.test_client(), name=repo.full_name)
        assert 'data-chart="trend" data-points="4"' in body
        assert re.findall(r'data-day="([\d-]+)" data-hours="([\d.]+)"', body)[:2] == [("2026-01-03", "1.5"),
                                                                                         ("2026-01-04", "1")]
    finally:
        store.dispose()


def test_history_of_a_clean_tree_reuses_the_head_scan(history_repo: Path, tmp_path: Path) -> None:
    from paydown.analyzers.config import Config
    from paydown.service.store import Store
    from paydown.service.web import save_history, save_local_scan, worktree_sha

    (history_repo / "sub" / "requirements.txt").write_text("numpy==1.26.4\npandas\nscikit-learn\n", encoding="utf-8")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=history_repo, capture_output=True, text=True,
                          check=True).stdout.strip()
    assert worktree_sha(history_repo / "sub") == head
    store = Store(f"sqlite:///{tmp_path / 'clean.db'}")
    store.migrate()
    try:
        scans = save_history(store, history_repo / "sub", Config(), 10)
        assert [s.total_effort_hours for s in scans] == [0.5, 1.5, 1.0, 1.0]
        assert scans[-1].id == scans[-2].id  # the clean working tree is HEAD: its scan is reused
        from paydown.analyzers.runner import Report
        again = save_local_scan(store, history_repo / "sub", Report(root="x"), sha=head)
        assert again.id == scans[-1].id and again.total_effort_hours == 1.0  # the stored result, not the empty one
    finally:
        store.dispose()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("ran")) == []  # no filter, no hook ran


def test_scan_save_without_the_service_extra_says_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    from paydown.cli import main

    monkeypatch.setitem(sys.modules, "paydown.service.web.local", None)  # as if flask/sqlalchemy were not installed
    (tmp_path / "requirements.txt").write_text("numpy\n", encoding="utf-8")
    assert main(["scan", str(tmp_path), "--save", "-o", str(tmp_path / "out.txt")]) == 2
    assert "pip install 'paydown[service]'" in capsys.readouterr().err


def test_a_failed_scan_and_failed_jobs_are_shown_on_the_backlog(local_client: Any, web_store: Any) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import select

    from paydown.service.store import JobFailure, Repository, Scan

    assert 'id="problems"' not in backlog(local_client)
    with web_store.session() as session:
        repo = session.scalars(select(Repository).where(Repository.full_name == LOCAL)).one()
        session.add(Scan(repository_id=repo.id, commit_sha="f" * 40, status="failed", trigger="push",
                         error="archive has a path outside its folder: ../../etc/cron.d/x",
                         queued_at=datetime.now(UTC)))
        session.add(JobFailure(job_id="scan-1", job_kind="scan", repository=LOCAL, commit_sha="f" * 40,
                               reason="<b>JobTimeoutException</b>: too slow", retrying=False))
        session.add(JobFailure(job_id="scan-2", job_kind="scan", repository=LOCAL, commit_sha="e" * 40,
                               reason="retrying: not shown", retrying=True))
    body = backlog(local_client)
    problems = body[body.index('id="problems"'):body.index("Debt trend")]
    assert "fffffff" in problems and "path outside its folder" in problems
    assert "&lt;b&gt;JobTimeoutException&lt;/b&gt;" in problems  # escaped, like everything GitHub or a repo wrote
    assert "not shown" not in problems
