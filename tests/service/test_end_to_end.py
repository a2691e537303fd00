"""The service end to end: signed deliveries -> the webhook -> RQ on a real Redis -> a worker -> the scan of that
exact commit in the store, with GitHub played by the stand-in server and code from real git repositories."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import os
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from rq import SimpleWorker
from rq.registry import FailedJobRegistry, StartedJobRegistry
from sqlalchemy import func, select

from paydown.service.store import BacklogItem, Delivery, JobFailure, Repository, Scan, ScanFinding

from .churn import FILES, INSTALLATION_ID, REPO

WEBHOOKS = Path(__file__).resolve().parents[3] / "shared" / "github" / "webhooks"
if not WEBHOOKS.is_dir():
    WEBHOOKS = Path(__file__).resolve().parents[2].parent / "shared" / "github" / "webhooks"


def payload(name: str) -> dict[str, Any]:
    return json.loads((WEBHOOKS / f"{name}.json").read_text(encoding="utf-8"))


def installation_created() -> dict[str, Any]:
    body = payload("installation.created")
    body["installation"]["id"] = INSTALLATION_ID
    body["installation"]["account"]["login"] = "octo-org"
    body["repositories"] = [{"id": 1, "name": "churn", "full_name": REPO, "private": False}]
    return body


def push(sha: str, before: str = "0" * 40) -> dict[str, Any]:
    body = payload("push.with-installation")
    body["ref"], body["before"], body["after"], body["deleted"] = "refs/heads/main", before, sha, False
    body["repository"]["full_name"], body["repository"]["name"] = REPO, "churn"
    body["repository"]["owner"]["login"] = "octo-org"
    body["repository"]["default_branch"] = "main"
    body["installation"] = {"id": INSTALLATION_ID}
    return body


def deliver(client: Any, event: str, body: dict[str, Any], *, secret: str = "test-webhook-secret",
            delivery: str | None = None, signature: str | None = None) -> Any:
    raw = json.dumps(body).encode()
    digest = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
               "X-Hub-Signature-256": signature if signature is not None else digest,
               "Content-Type": "application/json"}
    return client.post("/webhook", data=raw, headers=headers)


def git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], cwd=root,
                          env=env, check=True, capture_output=True, text=True).stdout.strip()


class FormatEverything(logging.Handler):
    """Formats every record with its extra fields, as a JSON log shipper would, and keeps the lines."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.dumps({**vars(record), "message": record.getMessage()}, default=str))


@pytest.fixture(autouse=True)
def production_logging(request: pytest.FixtureRequest) -> Any:
    """paydown's loggers at the level `serve` and `worker` set (INFO; DEBUG where a test is marked so): a record
    that cannot be made at that level fails the job it is logged in, as it would in production."""
    marker = request.node.get_closest_marker("log_level")
    level = marker.args[0] if marker else logging.INFO
    logger, handler = logging.getLogger("paydown"), FormatEverything()
    previous = logger.level
    logger.setLevel(level)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(previous)


def work(context: Any) -> None:
    """Run every queued job in this process, as `paydown worker --burst` does (without forking)."""
    SimpleWorker(context.queues.all(), connection=context.redis).work(burst=True)


def scans(store: Any) -> list[Scan]:
    with store.session() as session:
        rows = session.scalars(select(Scan).order_by(Scan.id)).all()
        session.expunge_all()
        return list(rows)


def test_installation_then_push_stores_the_scan_of_that_exact_commit(client: Any, job_context: Any, repo: Path,
                                                                     fake_github: Any) -> None:
    assert deliver(client, "installation", installation_created()).status_code == 202
    work(job_context)
    first = git(repo, "rev-parse", "HEAD")
    (repo / "serve.py").write_text("import requests\n\nAPI = 'https://features.internal/api'\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "serving")
    second = git(repo, "rev-parse", "HEAD")
    assert deliver(client, "push", push(second, before=first)).status_code == 202
    work(job_context)
    done = {scan.commit_sha: scan for scan in scans(job_context.store)}
    assert set(done) == {first, second}
    assert all(scan.status == "succeeded" for scan in done.values())
    with job_context.store.session() as session:
        paths = set(session.scalars(select(ScanFinding.path).where(ScanFinding.scan_id == done[first].id)))
        repository = session.scalars(select(Repository).where(Repository.full_name == REPO)).one()
        assert repository.installation_id == INSTALLATION_ID
    assert paths == {"requirements.txt", "train.py"}
    assert done[first].finding_count >= 3  # two loose requirements and the undocumented s3 input
    tarballs = [r for r in fake_github.requests if "/tarball/" in r.path]
    assert sorted(r.path.rsplit("/", 1)[1] for r in tarballs) == sorted([first, second])


def test_a_forged_delivery_is_refused_and_nothing_is_queued(client: Any, job_context: Any, repo: Path) -> None:
    sha = git(repo, "rev-parse", "HEAD")
    assert deliver(client, "push", push(sha), secret="wrong").status_code == 401
    assert deliver(client, "push", push(sha), signature="").status_code == 401
    assert sum(queue.count for queue in job_context.queues.all()) == 0
    with job_context.store.session() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_the_same_delivery_twice_makes_one_job(client: Any, job_context: Any, repo: Path) -> None:
    sha = git(repo, "rev-parse", "HEAD")
    deliver(client, "installation", installation_created())
    work(job_context)
    body = push(sha)
    assert deliver(client, "push", body, delivery="d-1").status_code == 202
    assert deliver(client, "push", body, delivery="d-1").status_code == 202
    assert job_context.queues.scans.count == 1


def test_ten_pushes_in_a_row_scan_only_the_newest_head(client: Any, job_context: Any, repo: Path) -> None:
    deliver(client, "installation", installation_created())
    work(job_context)
    shas = []
    for n in range(10):
        (repo / f"step_{n}.py").write_text(f"STEP = {n}\n")
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"step {n}")
        shas.append(git(repo, "rev-parse", "HEAD"))
        assert deliver(client, "push", push(shas[-1])).status_code == 202
    assert job_context.queues.scans.count == 1
    work(job_context)
    scanned = [scan.commit_sha for scan in scans(job_context.store)]
    assert shas[-1] in scanned and not set(shas[:-1]) & set(scanned)


def installed_then_committed(client: Any, job_context: Any, repo: Path) -> str:
    """The App installed and its first scan done, then one more commit on the default branch: its sha."""
    deliver(client, "installation", installation_created())
    work(job_context)
    (repo / "more.py").write_text("X = 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "more")
    return git(repo, "rev-parse", "HEAD")


def test_github_failing_twice_then_answering_the_job_succeeds(client: Any, job_context: Any, repo: Path,
                                                              fake_github: Any) -> None:
    sha = installed_then_committed(client, job_context, repo)
    fake_github.fail("GET", r"/repos/.*/tarball/.*", "status", status=502, times=2)
    deliver(client, "push", push(sha))
    work(job_context)
    done = {scan.commit_sha: scan.status for scan in scans(job_context.store)}
    assert done[sha] == "succeeded"


def test_a_tarball_github_refuses_fails_the_scan_instead_of_leaving_it_running(client: Any, job_context: Any,
                                                                              repo: Path, fake_github: Any) -> None:
    sha = installed_then_committed(client, job_context, repo)
    fake_github.fail("GET", r"/repos/.*/tarball/.*", "status", status=404, times=None)
    deliver(client, "push", push(sha))
    work(job_context)
    done = {scan.commit_sha: scan for scan in scans(job_context.store)}
    assert done[sha].status == "failed" and "GitHub refused the download" in (done[sha].error or "")


def hostile(tmp_path: Path, kind: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        def add(name: str, data: bytes = b"x = 1\n", **fields: Any) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data) if fields.get("type", tarfile.REGTYPE) == tarfile.REGTYPE else 0
            for key, value in fields.items():
                setattr(info, key, value)
            archive.addfile(info, io.BytesIO(data) if info.size else None)

        add("octo-org-churn-abc1234/", type=tarfile.DIRTYPE)
        add("octo-org-churn-abc1234/ok.py")
        if kind == "dotdot":
            add("octo-org-churn-abc1234/../../escaped.py")
        elif kind == "absolute":
            add(str(tmp_path / "absolute-escape.py"))
        elif kind == "symlink":
            add("octo-org-churn-abc1234/link", type=tarfile.SYMTYPE, linkname=str(tmp_path))
            add("octo-org-churn-abc1234/link/through-link.py")
        elif kind == "too-big":
            add("octo-org-churn-abc1234/big.py", b"#" * (3 * 1024 * 1024))
    return buffer.getvalue()


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "too-big"])
def test_a_hostile_tarball_is_refused_and_the_scan_recorded_failed(client: Any, job_context: Any, repo: Path,
                                                                   fake_github: Any, tmp_path: Path,
                                                                   kind: str) -> None:
    deliver(client, "installation", installation_created())
    sha = git(repo, "rev-parse", "HEAD")
    fake_github.set_tarball(REPO, sha, hostile(tmp_path, kind))
    import dataclasses

    job_context.settings = dataclasses.replace(job_context.settings, tarball_max_bytes=1024 * 1024,
                                               extract_max_file_bytes=1024 * 1024)
    before = {p for p in tmp_path.parent.rglob("*")}
    work(job_context)
    (scan,) = scans(job_context.store)
    if kind == "symlink":
        # A link is skipped and listed, never followed; the file "through" it lands inside the tree or nowhere.
        assert scan.status in {"succeeded", "failed"}
    else:
        assert scan.status == "failed" and scan.error
    escaped = {p for p in tmp_path.parent.rglob("*") if p not in before and job_context.settings.data_dir not in
               p.parents and p != job_context.settings.data_dir}
    assert not {p.name for p in escaped} & {"escaped.py", "absolute-escape.py", "through-link.py"}
    assert not (tmp_path / "through-link.py").exists() and not (tmp_path / "absolute-escape.py").exists()
    assert not list((job_context.settings.data_dir / "jobs").iterdir())  # the job folder is gone
    with job_context.store.session() as session:
        if scan.status == "failed":
            assert session.scalar(select(func.count()).select_from(JobFailure)) == 1


def test_a_worker_killed_mid_scan_the_scan_completes_on_the_next_worker_once(
        client: Any, job_context: Any, repo: Path, fake_github: Any, redis_conn: Any, tmp_path: Path) -> None:
    deliver(client, "installation", installation_created())
    with job_context.store.session() as session:
        assert session.scalar(select(func.count()).select_from(Scan)) == 0
    sha = git(repo, "rev-parse", "HEAD")
    fake_github.tarball_rate = 200  # bytes per second: the first worker is still downloading when it is killed
    settings = job_context.settings
    env = {**os.environ, "PAYDOWN_DATA_DIR": str(settings.data_dir), "PAYDOWN_DATABASE_URL": settings.database_url,
           "PAYDOWN_REDIS_URL": f"unix://{redis_conn.socket_file}", "PAYDOWN_GITHUB_API_URL": fake_github.url,
           "PAYDOWN_GITHUB_APP_ID": str(fake_github.app_id), "PAYDOWN_GITHUB_PRIVATE_KEY": fake_github.private_key_pem,
           "PAYDOWN_WEBHOOK_SECRET": "test-webhook-secret", "PAYDOWN_WRITE_GAP_SECONDS": "0",
           "PAYDOWN_RETRY_INTERVALS": "0,0,0"}
    worker = subprocess.Popen([sys.executable, "-m", "paydown", "worker", "--burst"], env=env,
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any("/_codeload/" in r.path or "legacy.tar.gz" in r.path
                                                  for r in fake_github.requests):
        time.sleep(0.1)
    time.sleep(0.5)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    assert scans(job_context.store)[0].status == "running"
    fake_github.tarball_rate = None
    # RQ notices the dead worker once the job's heartbeat lapses; move the clock past it instead of waiting.
    StartedJobRegistry(queue=job_context.queues.scans).cleanup(timestamp=time.time() + 3600)
    assert job_context.queues.scans.count == 1  # requeued: it had retries left
    work(job_context)
    done = scans(job_context.store)
    assert [(scan.commit_sha, scan.status) for scan in done] == [(sha, "succeeded")]
    with job_context.store.session() as session:
        assert session.scalar(select(func.count()).select_from(ScanFinding)) == done[0].finding_count
    assert FailedJobRegistry(queue=job_context.queues.scans).count == 0


def pull_request(action: str, number: int, head: str, base: str) -> dict[str, Any]:
    body = payload("pull_request.opened")
    body["action"], body["number"] = action, number
    pull = body["pull_request"]
    pull["number"], pull["state"], pull["draft"] = number, "open", False
    pull["head"]["sha"], pull["base"]["sha"] = head, base
    pull["head"]["repo"]["full_name"] = pull["base"]["repo"]["full_name"] = REPO
    body["repository"]["full_name"], body["repository"]["name"] = REPO, "churn"
    body["installation"] = {"id": INSTALLATION_ID}
    return body


def branch_with(repo: Path, files: dict[str, str]) -> tuple[str, str]:
    base = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-qb", f"feature-{uuid.uuid4().hex[:6]}")
    for name, text in files.items():
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "feature")
    head = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    return base, head


def test_a_pull_request_delivery_is_reviewed_on_exactly_its_added_lines(client: Any, job_context: Any, repo: Path,
                                                                       fake_github: Any) -> None:
    deliver(client, "installation", installation_created())
    work(job_context)
    base, head = branch_with(repo, {"requirements.txt": FILES["requirements.txt"] + "numpy\n"})
    fake_github.add_pull(REPO, 7, base, head)
    assert deliver(client, "pull_request", pull_request("opened", 7, head, base)).status_code == 202
    work(job_context)
    comments = fake_github.review_comments(REPO, 7)
    assert [(c.path, c.line, c.side) for c in comments] == [("requirements.txt", 3, "RIGHT")]
    (run,) = fake_github.check_runs_for(REPO, head)
    assert (run.status, run.conclusion) == ("completed", "neutral")
    assert not any(r.status == 422 for r in fake_github.requests)
    # GitHub redelivers and a person asks for the check again: nothing is posted twice.
    deliver(client, "pull_request", pull_request("synchronize", 7, head, base))
    work(job_context)
    assert len(fake_github.review_comments(REPO, 7)) == 1


def test_a_review_whose_pull_request_moved_on_posts_nothing(client: Any, job_context: Any, repo: Path,
                                                            fake_github: Any) -> None:
    deliver(client, "installation", installation_created())
    work(job_context)
    base, head = branch_with(repo, {"requirements.txt": FILES["requirements.txt"] + "numpy\n"})
    _, newer = branch_with(repo, {"requirements.txt": FILES["requirements.txt"] + "numpy==2.1.0\n"})
    fake_github.add_pull(REPO, 8, base, head)
    deliver(client, "pull_request", pull_request("opened", 8, head, base))
    fake_github.move_head(REPO, 8, newer)  # a push lands while the review job waits in the queue
    work(job_context)
    assert fake_github.review_comments(REPO, 8) == []
    (run,) = fake_github.check_runs_for(REPO, head)
    assert (run.status, run.conclusion) == ("completed", "skipped")


def test_a_review_that_cannot_fetch_the_code_completes_its_check_run_with_the_reason(
        client: Any, job_context: Any, repo: Path, fake_github: Any, waits: list[float]) -> None:
    deliver(client, "installation", installation_created())
    work(job_context)
    base, head = branch_with(repo, {"serve.py": "X = 1\n"})
    fake_github.add_pull(REPO, 9, base, head)
    fake_github.fail("GET", rf"/repos/{REPO}/tarball/{head}", "status", status=502, times=None)
    deliver(client, "pull_request", pull_request("opened", 9, head, base))
    work(job_context)  # three retries (intervals 0 in the tests), then the failure handler
    (run,) = fake_github.check_runs_for(REPO, head)
    assert run.status == "completed" and run.conclusion == "neutral"
    assert "502 Bad Gateway" in run.output["summary"] and "Re-run the check" in run.output["summary"]
    assert FailedJobRegistry(queue=job_context.queues.reviews).count == 1
    with job_context.store.session() as session:
        reasons = session.scalars(select(JobFailure.reason).where(JobFailure.job_kind == "review")).all()
    assert reasons and all(reasons)
    assert len(waits) == 4 * 3  # each of the job's four runs backed off before each of its three retries


def test_installation_deleted_purges_its_data_and_a_queued_scan_is_skipped(client: Any, job_context: Any,
                                                                           repo: Path, fake_github: Any) -> None:
    deliver(client, "installation", installation_created())
    work(job_context)
    assert scans(job_context.store)
    (repo / "more.py").write_text("Y = 2\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "more")
    deliver(client, "push", push(git(repo, "rev-parse", "HEAD")))
    deleted = payload("installation.deleted")
    deleted["installation"]["id"] = INSTALLATION_ID
    deliver(client, "installation", deleted)
    fake_github.remove_installation(INSTALLATION_ID)
    fake_github.clear_log()
    work(job_context)  # events (the deletion) run before scans
    assert scans(job_context.store) == []
    with job_context.store.session() as session:
        assert session.scalar(select(func.count()).select_from(Repository)) == 0
    assert fake_github.writes() == []


def test_a_scan_over_its_job_timeout_fails_with_the_reason_and_leaves_no_files(
        client: Any, app: Any, job_context: Any, repo: Path, fake_github: Any) -> None:
    import dataclasses

    settings = dataclasses.replace(app.config["PAYDOWN_SETTINGS"], job_timeout_seconds=2, retry_intervals=(0,))
    app.config["PAYDOWN_SETTINGS"] = job_context.settings = settings
    fake_github.add_installation(INSTALLATION_ID + 1, account="octo-org")
    with job_context.store.session() as session:
        from paydown.service.github import InstallationRecord, RepoRecord
        from paydown.service.store import upsert_installation, upsert_repository

        upsert_installation(session, InstallationRecord(INSTALLATION_ID, "octo-org", "Organization"))
        upsert_repository(session, RepoRecord(1, REPO, "main", False), INSTALLATION_ID)
    fake_github.tarball_rate = 40  # bytes per second: the archive takes longer than the job may
    deliver(client, "push", push(git(repo, "rev-parse", "HEAD")))
    work(job_context)
    (scan,) = scans(job_context.store)
    assert scan.status == "failed" and "timeout" in scan.error.lower()
    assert FailedJobRegistry(queue=job_context.queues.scans).count == 1
    assert not list((settings.data_dir / "jobs").iterdir())


def test_two_jobs_scanning_one_commit_at_once_make_one_scan_and_one_issue_per_item(
        job_context: Any, repo: Path, fake_github: Any) -> None:
    import threading

    from paydown.service import jobs
    from paydown.service.github import InstallationRecord
    from paydown.service.store import upsert_installation

    with job_context.store.session() as session:
        upsert_installation(session, InstallationRecord(INSTALLATION_ID, "octo-org", "Organization"))
    sha = git(repo, "rev-parse", "HEAD")
    errors: list[BaseException] = []

    def scan(key: str) -> None:
        try:
            jobs.run_scan(key, INSTALLATION_ID, REPO, sha, "refs/heads/main", "push")
        except BaseException as err:  # reported by the assertion below
            errors.append(err)

    threads = [threading.Thread(target=scan, args=(f"scan:{REPO}:{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [(s.commit_sha, s.status) for s in scans(job_context.store)] == [(sha, "succeeded")]
    titles = [issue.title for issue in fake_github.issue_list(REPO)]
    assert titles and len(titles) == len(set(titles))
    bodies = [issue.body for issue in fake_github.issue_list(REPO)]
    assert sum("paydown:dashboard" in body for body in bodies) == 1


def test_the_same_scan_enqueued_from_ten_threads_runs_once(job_context: Any, repo: Path, fake_github: Any) -> None:
    import threading

    from paydown.service.jobs import JobRequest, enqueue

    sha = git(repo, "rev-parse", "HEAD")
    request = JobRequest("scan", f"scan:{REPO}", {"installation_id": INSTALLATION_ID, "repository": REPO,
                                                  "sha": sha, "ref": "refs/heads/main"})
    ids: list[str | None] = []
    threads = [threading.Thread(target=lambda: ids.append(enqueue(job_context.queues, request, delivery_id="t")))
               for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len([job_id for job_id in ids if job_id]) == 1 and job_context.queues.scans.count == 1


def test_a_forks_check_suite_rerequested_reviews_its_pull_request_again(client: Any, job_context: Any, repo: Path,
                                                                        fake_github: Any) -> None:
    deliver(client, "installation", installation_created())
    work(job_context)
    base, head = branch_with(repo, {"requirements.txt": FILES["requirements.txt"] + "numpy\n"})
    fake_github.add_pull(REPO, 11, base, head, head_full_name="someone/churn")
    deliver(client, "pull_request", pull_request("opened", 11, head, base))
    work(job_context)
    suite = payload("check_suite.rerequested")
    suite["check_suite"]["head_sha"], suite["check_suite"]["pull_requests"] = head, []  # GitHub: none for forks
    suite["repository"]["full_name"], suite["repository"]["name"] = REPO, "churn"
    suite["installation"] = {"id": INSTALLATION_ID}
    assert deliver(client, "check_suite", suite).status_code == 202
    work(job_context)
    runs = fake_github.check_runs_for(REPO, head)
    assert [(run.status, run.conclusion) for run in runs] == [("completed", "neutral")] * 2
    assert len(fake_github.review_comments(REPO, 11)) == 1  # the comment is not posted twice


def synced_backlog(job_context: Any) -> tuple[int, int]:
    with job_context.store.session() as session:
        return (session.scalar(select(func.count()).select_from(BacklogItem)),
                session.scalar(select(func.count()).select_from(JobFailure)))


def test_a_push_syncs_the_backlog_with_logging_at_info(client: Any, job_context: Any, repo: Path,
                                                        fake_github: Any, production_logging: Any) -> None:
    deliver(client, "installation", installation_created())
    work(job_context)
    items, failures = synced_backlog(job_context)
    assert failures == 0 and items >= 2  # the loose requirements and the undocumented input, kept in the store
    assert any(issue.title.startswith("Technical debt dashboard") for issue in fake_github.issue_list(REPO))
    synced = [json.loads(line) for line in production_logging.lines if '"backlog synced"' in line]
    assert synced and synced[0]["issues_created"] >= 2 and synced[0]["repository"] == REPO


@pytest.mark.log_level(logging.DEBUG)
def test_a_push_syncs_the_backlog_with_logging_at_debug(client: Any, job_context: Any, repo: Path) -> None:
    deliver(client, "installation", installation_created())
    work(job_context)
    items, failures = synced_backlog(job_context)
    assert failures == 0 and items >= 2


def test_two_pushes_of_one_tree_make_zero_writes_on_the_second(client: Any, job_context: Any, repo: Path,
                                                               fake_github: Any) -> None:
    deliver(client, "installation", installation_created())
    work(job_context)
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "commit", "-q", "--allow-empty", "-m", "the same tree again")
    second = git(repo, "rev-parse", "HEAD")
    before = len(fake_github.writes())
    assert deliver(client, "push", push(second, before=first)).status_code == 202
    work(job_context)
    assert {scan.commit_sha for scan in scans(job_context.store)} == {first, second}  # the second push was scanned
    assert [(r.method, r.path) for r in fake_github.writes()[before:]] == []


def test_a_push_that_changes_no_finding_makes_zero_writes(client: Any, job_context: Any, repo: Path,
                                                          fake_github: Any) -> None:
    first = git(repo, "rev-parse", "HEAD")
    second = installed_then_committed(client, job_context, repo)  # a new file without findings
    before = len(fake_github.writes())
    assert deliver(client, "push", push(second, before=first)).status_code == 202
    work(job_context)
    assert {scan.commit_sha for scan in scans(job_context.store)} == {first, second}
    assert [(r.method, r.path) for r in fake_github.writes()[before:]] == []
