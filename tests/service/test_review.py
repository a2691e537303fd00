"""Pull-request review: diff parsing and classification (pure), then whole reviews against the GitHub stand-in
server with real git repositories, real scans, the real adapter and a real SQLite store."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from paydown.analyzers.config import Config
from paydown.service.github import PullFile
from paydown.service.review import apply as review
from paydown.service.review import checks, diffs
from paydown.service.review import text as review_text

GIT = ["git", "-c", "user.name=Paydown Tests", "-c", "user.email=tests@paydown.invalid", "-c",
       "init.defaultBranch=main", "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"]
GIT_ENV = {"GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z"}


def git(root: Path, *args: str) -> str:
    done = subprocess.run([*GIT, *args], cwd=root, env={**os.environ, **GIT_ENV}, check=True,
                          capture_output=True, text=True)
    return done.stdout


def commit_all(root: Path, message: str = "change") -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


def hunks_only(patch: str) -> str:
    """What GitHub's `patch` field holds: the hunks of one file, without the file header."""
    return patch[patch.index("@@"):]


# ---------------------------------------------------------------- diffs.py on real `git diff` output


def _numbered(count: int) -> list[str]:
    return [f"line {n}" for n in range(1, count + 1)]


@pytest.fixture
def edited(tmp_path: Path, make_repo: Any) -> tuple[Path, str]:
    """A 30-line file; then line 3 replaced, two lines inserted after line 20, line 28 deleted, and the last line
    left without a newline: three hunks."""
    root = make_repo(tmp_path, {"data.txt": "\n".join(_numbered(30)) + "\n"})
    lines = _numbered(30)
    lines[2] = "line 3 changed"
    lines[20:20] = ["inserted a", "inserted b"]
    del lines[29]  # the old line 28
    (root / "data.txt").write_text("\n".join(lines), encoding="utf-8")  # no newline at the end
    return root, git(root, "diff", "-U3")


def test_added_lines_of_a_multi_hunk_git_diff(edited: tuple[Path, str]) -> None:
    _, patch = edited
    assert patch.count("@@ -") == 3
    assert "\\ No newline at end of file" in patch
    # New numbering: 3 (replaced), 21-22 (inserted), 31 (the last line, rewritten without its newline).
    assert diffs.added_lines(patch) == {3, 21, 22, 31}
    assert diffs.added_lines(hunks_only(patch)) == {3, 21, 22, 31}


def test_commentable_lines_are_the_right_side_of_each_hunk(edited: tuple[Path, str]) -> None:
    root, patch = edited
    right = diffs.commentable_lines(patch)
    assert right == set(range(1, 7)) | set(range(18, 26)) | set(range(27, 32))
    head_lines = (root / "data.txt").read_text(encoding="utf-8").splitlines()
    assert len(head_lines) == 31 and max(right) == 31
    assert diffs.added_lines(patch) <= right


def test_file_headers_between_hunks_are_not_added_lines(tmp_path: Path, make_repo: Any) -> None:
    root = make_repo(tmp_path, {"a.txt": "a\n", "b.txt": "b\n"})
    (root / "a.txt").write_text("a\n+++ not a header\n", encoding="utf-8")
    (root / "b.txt").write_text("b\nb2\n", encoding="utf-8")
    whole = git(root, "diff")
    assert whole.count("+++ b/") == 2
    assert diffs.added_lines(whole) == {2}  # both files' line 2; a set of numbers
    assert len([line for line in diffs.parse_patch(whole) if line.op == "+"]) == 2


def test_new_file_deleted_file_and_zero_context(tmp_path: Path, make_repo: Any) -> None:
    root = make_repo(tmp_path, {"gone.txt": "x\ny\n", "keep.txt": "\n".join(_numbered(10)) + "\n"})
    (root / "gone.txt").unlink()
    (root / "new.txt").write_text("one\ntwo\n", encoding="utf-8")
    lines = _numbered(10)
    lines[4:4] = ["after four"]
    (root / "keep.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    git(root, "add", "-A")
    removed = git(root, "diff", "--cached", "--", "gone.txt")
    added = git(root, "diff", "--cached", "--", "new.txt")
    zero = git(root, "diff", "--cached", "-U0", "--", "keep.txt")
    assert diffs.added_lines(removed) == set() and diffs.commentable_lines(removed) == set()
    assert diffs.added_lines(added) == {1, 2} == diffs.commentable_lines(added)
    assert "@@ -4,0 +5 @@" in zero
    assert diffs.added_lines(zero) == {5}
    assert diffs.touches_span(zero, 4, 5) and not diffs.touches_span(zero, 5, 9) and not diffs.touches_span(zero, 1, 4)
    assert diffs.added_lines(None) == set() and diffs.added_lines("Binary files differ") == set()


def test_changed_lines_uses_the_new_path_of_a_rename(tmp_path: Path, make_repo: Any) -> None:
    root = make_repo(tmp_path, {"old/name.py": "\n".join(_numbered(12)) + "\n", "drop.py": "x = 1\n"})
    (root / "new").mkdir()
    git(root, "mv", "old/name.py", "new/name.py")
    lines = _numbered(12)
    lines[7] = "line 8 edited"
    (root / "new/name.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "drop.py").unlink()
    git(root, "add", "-A")
    patch = git(root, "diff", "--cached", "-M", "--", "old/name.py", "new/name.py")
    assert "rename from old/name.py" in patch
    files = [PullFile("new/name.py", "renamed", hunks_only(patch), previous_filename="old/name.py"),
             PullFile("drop.py", "removed", "@@ -1 +0,0 @@\n-x = 1"),
             PullFile("model.bin", "added", None)]
    assert diffs.changed_lines(files) == {"new/name.py": {8}}


def test_first_change_in_span_maps_base_lines_to_a_head_line(tmp_path: Path, make_repo: Any) -> None:
    root = make_repo(tmp_path, {"f.py": "\n".join(_numbered(40)) + "\n"})
    lines = _numbered(40)
    lines[0:0] = ["new 1", "new 2"]  # shifts everything by two
    del lines[2 + 24]  # base line 25 deleted, nothing added there
    (root / "f.py").write_text("\n".join(lines) + "\n", encoding="utf-8")
    patch = hunks_only(git(root, "diff"))
    assert diffs.first_change_in_span(patch, 20, 30) == 27  # head line of base line 26, after the deleted one
    assert diffs.first_change_in_span(patch, 1, 10) is None  # lines inserted before a block are not in it
    assert diffs.first_change_in_span(patch, 31, 40) is None
    assert diffs.touches_span(patch, 25, 25)
    assert diffs.first_change_in_span(patch, 20, 30) in diffs.commentable_lines(patch)


# ---------------------------------------------------------------- classification and rendering (pure)


def finding(fp: str, rule: str = "PD201", path: str = "requirements.txt", line: int = 1, *, priority: str = "high",
            effort: float = 0.5, score: float = 16.0, message: str = "numpy is not pinned",
            locations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    kind = {"PD201": "unpinned-dependency", "PD102": "dead-flag", "PD301": "duplicated-feature-logic"}[rule]
    return {"rule": rule, "kind": kind, "message": message, "path": path, "line": line, "column": 1,
            "end_line": line, "symbol": fp, "fingerprint": fp,
            "impact": {"effort_hours": effort, "risk": "high", "risk_reason": "A new release can change results.",
                       "interest_hours_per_month": 2.0, "score": score, "priority": priority},
            "fix": "Pin an exact version.",
            "locations": locations or [{"path": path, "line": line, "column": 1, "end_line": line, "end_column": 0}]}


def test_classify_by_fingerprint_highest_priority_first() -> None:
    base = [finding("a"), finding("b", priority="low", score=0.5), finding("c")]
    head = [finding("b", line=9, priority="low", score=0.5), finding("d", priority="low", score=0.2),
            finding("e", priority="high", score=20.0)]
    found = review.classify(head, base)
    assert [f["fingerprint"] for f in found.new] == ["e", "d"]
    assert [f["fingerprint"] for f in found.fixed] == ["a", "c"]
    assert [(f["fingerprint"], f["line"]) for f in found.unchanged] == [("b", 9)]
    assert review.classify([], []) == review.Classification([], [], [])


def test_escape_markdown_keeps_code_and_neutralises_the_rest() -> None:
    text = "ping @octocat about #12 <b>x</b> `keep @x <y>` *bold* <!-- paydown:finding=ab --> done"
    escaped = review_text.escape_markdown(text)
    assert "@\u200boctocat" in escaped and "#\u200b12" in escaped
    assert "\\<b\\>x\\</b\\>" in escaped and "\\*bold\\*" in escaped
    assert "`keep @x <y>`" in escaped  # a code span is shown as written
    assert "<!-- paydown:" not in escaped and review._parse_marker(escaped) is None
    assert review_text.escape_markdown("a\n\n# heading\nb") == "a # heading b"
    assert review_text.code_span("a`b") == "``a`b``" and review_text.code_span("`x") == "`` `x ``"


def test_fit_cuts_between_items() -> None:
    def render(k: int) -> str:
        return "".join(f"- item {i}\n" for i in range(k)) + (f"...and {100 - k} more\n" if k < 100 else "")

    text = checks.fit(render, 100, limit=120)
    assert len(text) <= 120 and text.endswith("more\n") and text.startswith("- item 0\n")
    assert text == render(text.count("- item"))
    assert checks.fit(render, 100, limit=10_000) == render(100)


LINKS = review_text._Links("https://github.example", "acme/ml", "a" * 40, "b" * 40)


def test_line_comment_template_renders_a_dependency_finding() -> None:
    data = finding("f1", message="numpy is not pinned: no version; pin e.g. numpy==<version you test with>",
                   line=2)
    assert review.render_line_comment(data, LINKS) == (
        "**Unpinned dependency** (PD201) · high priority · about 0.5 h to fix\n\n"
        "numpy is not pinned: no version; pin e.g. numpy==\\<version you test with\\>\n\n"
        "**Why it matters here:** A new release can change results.\n\n"
        "**How to fix:** Pin an exact version.\n\n"
        "<sub>paydown flags ML technical debt. If this is intended, `# paydown: ignore[PD201]` on the line "
        "silences it.</sub>\n\n"
        "<!-- paydown:finding=f1 -->\n")


def test_line_comment_for_a_clone_links_the_other_copy() -> None:
    copies = [{"path": "train.py", "line": 5, "end_line": 11}, {"path": "serve.py", "line": 4, "end_line": 10}]
    data = finding("c1", "PD301", "train.py", 5, message="Copies of feature logic have diverged: `fillna(0.0)` in "
                   "training (train.py:7) is `fillna(-1.0)` in serving (serve.py:6).", locations=copies)
    body = review.render_line_comment(data, LINKS)
    assert body.startswith("**Duplicated preprocessing** (PD301) · high priority · about 0.5 h to fix\n\nCopies")
    assert "`fillna(0.0)` in training (train.py:7) is `fillna(-1.0)` in serving (serve.py:6)" in body
    assert f"**The other copy:** [serve.py:4](https://github.example/acme/ml/blob/{'a' * 40}/serve.py#L4-L10)" in body
    assert body.endswith("<!-- paydown:finding=c1 -->\n")


def test_check_run_summary_and_text_stay_under_githubs_limit() -> None:
    new = [finding(f"n{i:05d}", path=f"services/{'deep/' * 30}req{i}.txt", line=i + 1,
                   message="x is not pinned " * 20) for i in range(3000)]
    found = review.Classification(new=new, fixed=[finding("old", priority="low", score=0.1)], unchanged=[])
    plan = review.ReviewPlan(outside_diff=new)
    title, summary, text = checks._check_output(found, plan, new, LINKS, Config(), "neutral", 0)
    assert title == "Adds 1499.5 h of debt (3000 new, 1 fixed)"
    assert len(summary) <= checks.SUMMARY_LIMIT and len(text) <= checks.SUMMARY_LIMIT
    assert summary.startswith("**This pull request adds 1499.5 h of debt.**")
    assert "every new finding is annotated on the changed files" in summary
    listed = [line for line in summary.split("### New debt\n", 1)[1].split("### Paid down", 1)[0].splitlines() if line]
    assert listed[-1] == f"- …and {3000 - len(listed) + 1} more; every new finding is annotated on the changed files."
    assert all(line.startswith("- **PD201** [services/") for line in listed[:-1]) and len(listed) > 10
    assert "3000 new findings are outside the changed lines and listed here only" in summary


def test_twin_warning_needs_one_copy_changed_and_the_group_still_in_the_head() -> None:
    copies = [{"path": "train.py", "line": 5, "end_line": 11}, {"path": "serve.py", "line": 4, "end_line": 10}]
    group = finding("g1", "PD301", "train.py", 5, locations=copies)
    train_patch = "@@ -6,3 +6,3 @@ def build(df):\n     a\n-    b\n+    b2\n     c\n"
    serve_patch = "@@ -7,1 +7,1 @@\n-    x\n+    y\n"
    outside = "@@ -20,1 +20,1 @@\n-    x\n+    y\n"
    only_train = [PullFile("train.py", "modified", train_patch)]
    (warning,) = review.twin_warnings([group], [group], only_train, LINKS)
    assert (warning.draft.path, warning.draft.line, warning.kind) == ("train.py", 7, "twin")
    assert f"[serve.py:4](https://github.example/acme/ml/blob/{'b' * 40}/serve.py#L4-L10)" in warning.draft.body
    assert warning.key.startswith("twin:g1/")
    assert warning.draft.body.endswith(f"<!-- paydown:twin={warning.key.removeprefix('twin:')} -->\n")
    both = [*only_train, PullFile("serve.py", "modified", serve_patch)]
    assert review.twin_warnings([group], [group], both, LINKS) == []
    assert review.twin_warnings([group], [], only_train, LINKS) == []  # the copy was extracted: no clone left
    assert review.twin_warnings([group], [group], [PullFile("train.py", "modified", outside)], LINKS) == []
    renamed = [PullFile("ml/train.py", "renamed", train_patch, previous_filename="train.py")]
    moved = {**group, "locations": [{**copies[0], "path": "ml/train.py"}, copies[1]]}
    (warning,) = review.twin_warnings([group], [moved], renamed, LINKS)
    assert (warning.draft.path, warning.draft.line) == ("ml/train.py", 7)



def test_notebook_findings_and_other_peoples_markers() -> None:
    from paydown.service.github import ReviewCommentRecord

    cell = {**finding("nb", "PD201", "train.ipynb", 2), "cell": 3}
    found = review.Classification(new=[cell], fixed=[], unchanged=[])
    files = [PullFile("train.ipynb", "modified", "@@ -1,2 +1,3 @@\n a\n+b\n c\n")]
    plan = review._plan(found, [], files, review._Known(), set(), 20, LINKS)
    assert plan.comments == [] and plan.outside_diff == [cell]  # cell lines are not the .ipynb's lines
    (note,) = checks._annotations([cell], Config())
    assert (note.start_line, note.message.split(":")[0]) == (1, "Cell 3, line 2")
    # A report that knows the .ipynb line of the cell's line: the comment and the annotation go there.
    placed = {**cell, "file_line": 2}
    plan = review._plan(review.Classification(new=[placed], fixed=[], unchanged=[]), [], files, review._Known(),
                        set(), 20, LINKS)
    assert [(c.draft.path, c.draft.line) for c in plan.comments] == [("train.ipynb", 2)]
    (note,) = checks._annotations([placed], Config())
    assert (note.start_line, note.message.split(":")[0]) == (2, "Cell 3, line 2")
    elsewhere = {**cell, "file_line": 3}  # a context line of the diff, not an added one
    plan = review._plan(review.Classification(new=[elsewhere], fixed=[], unchanged=[]), [], files, review._Known(),
                        set(), 20, LINKS)
    assert plan.comments == [] and plan.outside_diff == [elsewhere]
    spoof = ReviewCommentRecord(1, "a.py", 1, "RIGHT", "<!-- paydown:finding=nb -->", "alice", None, "s")
    mine = ReviewCommentRecord(2, "a.py", 1, "RIGHT", "x\n<!-- paydown:finding=nb -->", "paydown[bot]", None, "s")
    known = review._Known()
    review._read_comments(known, [spoof, mine], "paydown[bot]")
    assert known.comments == {"nb": mine}


# ---------------------------------------------------------------- end to end: fake GitHub, real adapter, store, scans

INSTALLATION_ID = 77
REPO = "acme/churn"
NO_422 = {"status": 422}

TRAIN = '''import numpy as np
import pandas as pd


def build_features(df):
    df = df.copy()
    df["age"] = df["age"].fillna(0.0)
    df["ratio"] = df["income"] / df["debt"]
    df["log_income"] = df["income"].clip(lower=0).apply(np.log1p)
    df = pd.get_dummies(df, columns=["city"])
    return df.astype("float32")
'''
SERVE = TRAIN.replace("build_features(df)", "features_for_request(frame)").replace("df", "frame")
CLI = '''import argparse

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
args = parser.parse_args()
print(args.lr)
'''
CLI_WITH_UNREAD = CLI.replace('args = parser', 'parser.add_argument("--chunk-size", type=int)\nargs = parser')


class World:
    """One repository on the stand-in GitHub, backed by a real git repository, reviewed the way the job does it."""

    def __init__(self, tmp_path: Path, make_repo: Any, fake: Any, settings: Any, store: Any,
                 files: dict[str, str]) -> None:
        from paydown.service import store as db
        from paydown.service.github import GitHubApp, InstallationRecord, RepoRecord

        self.tmp_path, self.fake, self.settings, self.store = tmp_path, fake, settings, store
        self.root = make_repo(tmp_path, files, name="churn")
        self.base = git(self.root, "rev-parse", "HEAD").strip()
        fake.add_installation(INSTALLATION_ID, account="acme")
        fake.add_repo(REPO, self.root, INSTALLATION_ID)
        self.app = GitHubApp(settings)
        self.client = self.app.installation(INSTALLATION_ID)
        with store.session() as session:
            db.upsert_installation(session, InstallationRecord(INSTALLATION_ID, "acme", "Organization"))
            db.upsert_repository(session, RepoRecord(fake.repo(REPO).id, REPO, "main", False), INSTALLATION_ID)
        self.scans: dict[str, int] = {}

    def close(self) -> None:
        self.app.forget_installation(INSTALLATION_ID)

    def commit(self, files: dict[str, str], *, branch: str = "feature", start: str | None = None) -> str:
        git(self.root, "checkout", "-q", "-B", branch, start or "HEAD")
        for rel, text in files.items():
            target = self.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        return commit_all(self.root, f"edit {', '.join(files)}")

    def scan(self, sha: str) -> int:
        """A real scan of exactly `sha` (its `git archive`, as the tarball would hold it), stored."""
        from paydown.analyzers import ALL_RULES
        from paydown.analyzers.config import load_config
        from paydown.analyzers.runner import scan
        from paydown.service import store as db

        if sha in self.scans:
            return self.scans[sha]
        tree = self.tmp_path / "trees" / sha
        tree.mkdir(parents=True)
        archive = subprocess.run([*GIT, "archive", "--format=tar", sha], cwd=self.root, check=True,
                                 capture_output=True, env={**os.environ, **GIT_ENV}).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        config = load_config(tree, ALL_RULES)
        report = scan(tree, config)
        with self.store.session() as session:
            repo = db.repository_by_name(session, REPO)
            row, _ = db.claim_scan(session, repo.id, sha, trigger="pull_request", ref=None)
            db.finish_scan(session, row, report)
            self.scans[sha] = row.id
        return self.scans[sha]

    def review(self, number: int, *, config: Any = None) -> review.ReviewOutcome:
        """What the lead's job does: check run at once, scan head and base, then the review."""
        from paydown.service import store as db
        from paydown.service.store import Repository, Scan

        pull = self.client.get_pull(REPO, number)
        with self.store.session() as session:
            repo = db.repository_by_name(session, REPO)
            run_id = review.start_check_run(session, self.client, repo, pull.head_sha, number)
        head_id, base_id = self.scan(pull.head_sha), self.scan(pull.base_sha)
        with self.store.session() as session:
            repo = session.scalars(__import__("sqlalchemy").select(Repository).filter_by(full_name=REPO)).one()
            return review.review_pull_request(session, self.client, repo, pull, session.get(Scan, head_id),
                                              session.get(Scan, base_id), config or Config(), self.settings,
                                              check_run_id=run_id)

    def comments(self, number: int) -> list[Any]:
        return sorted(self.fake.review_comments(REPO, number), key=lambda c: c.id)

    def review_posts(self) -> int:
        return self.fake.count("POST", r"/pulls/\d+/reviews$")

    def assert_clean(self) -> None:
        assert self.fake.count(status=422) == 0, [r.json for r in self.fake.requests if r.status == 422]
        assert not self.fake.errors
        assert not self.fake.deprecations  # never `position`


@pytest.fixture
def world_factory(tmp_path: Path, make_repo: Any, fake_github: Any, service_settings: Any,
                  service_store: Any) -> Any:
    made: list[World] = []

    def make(files: dict[str, str]) -> World:
        world = World(tmp_path, make_repo, fake_github, service_settings, service_store, files)
        made.append(world)
        return world

    yield make
    for world in made:
        world.close()
    assert not fake_github.errors, fake_github.errors[0]


def test_new_unpinned_requirement_and_unread_option_get_exactly_two_comments(world_factory: Any) -> None:
    world = world_factory({"requirements.txt": "pandas>=2\nrequests==2.32.3\n", "train.py": CLI,
                           "README.md": "# churn\n"})
    head = world.commit({"requirements.txt": "pandas>=2\nrequests==2.32.3\nnumpy\n", "train.py": CLI_WITH_UNREAD})
    world.fake.add_pull(REPO, 5, world.base, head)
    outcome = world.review(5)
    comments = world.comments(5)
    assert sorted((c.path, c.line, c.side) for c in comments) == [("requirements.txt", 3, "RIGHT"),
                                                                    ("train.py", 5, "RIGHT")]
    assert all(c.user == world.fake.bot_login and c.commit_id == head for c in comments)
    assert world.review_posts() == 1 and world.fake.reviews(REPO, 5)[0].state == "COMMENTED"
    assert world.fake.reviews(REPO, 5)[0].body in ("", None)  # no conversation text, only line comments
    assert world.fake.count("POST", r"/issues/\d+/comments$") == 0
    by_path = {c.path: c.body for c in comments}
    assert by_path["requirements.txt"].startswith("**Unpinned dependency** (PD201)")
    assert "numpy is not pinned" in by_path["requirements.txt"]
    assert "--chunk-size" in by_path["train.py"] and "(PD102)" in by_path["train.py"]
    assert (outcome.new, outcome.fixed, outcome.unchanged, outcome.comments) == (2, 0, 1, 2)
    (run,) = world.fake.check_runs_for(REPO, head)
    if os.environ.get("SHOW_REVIEW"):
        print(by_path["requirements.txt"], by_path["train.py"], run.output["title"], run.output["summary"],
              run.output["text"], run.annotations, sep="\n=====\n")
    assert (run.name, run.status, run.conclusion) == ("paydown", "completed", "neutral")
    assert run.output["summary"].startswith("**This pull request adds 1 h of debt.**")
    assert sorted((a["path"], a["start_line"]) for a in run.annotations) == [("requirements.txt", 3),
                                                                            ("train.py", 5)]
    from paydown.service.store import ReviewComment

    with world.store.session() as session:
        rows = session.query(ReviewComment).all()
        assert sorted((r.path, r.line, r.pull_number) for r in rows) == [("requirements.txt", 3, 5),
                                                                         ("train.py", 5, 5)]
        assert {r.comment_id for r in rows} == {c.id for c in comments}
    world.assert_clean()


def test_touching_other_lines_of_a_file_with_debt_gets_no_comment(world_factory: Any) -> None:
    world = world_factory({"requirements.txt": "pandas>=2\nrequests==2.32.3\n", "train.py": CLI_WITH_UNREAD})
    # Lines above the debt move it down; the edited lines carry none.
    head = world.commit({"requirements.txt": "# model stack\npandas>=2\nrequests==2.32.4\n",
                         "train.py": "# entry point\n" + CLI_WITH_UNREAD})
    world.fake.add_pull(REPO, 6, world.base, head)
    outcome = world.review(6)
    assert (outcome.new, outcome.fixed, outcome.unchanged, outcome.comments) == (0, 0, 2, 0)
    assert world.review_posts() == 0 and world.comments(6) == []
    (run,) = world.fake.check_runs_for(REPO, head)
    assert (run.status, run.conclusion, run.annotations) == ("completed", "neutral", [])
    assert run.output["title"] == "No change in debt"
    assert "| Remaining in " in run.output["summary"] and "| 2 | 0.75 h |" in run.output["summary"]
    world.assert_clean()


def test_a_pull_request_that_fixes_debt_gets_a_passing_check_run(world_factory: Any) -> None:
    world = world_factory({"requirements.txt": "numpy\npandas>=2\n", "train.py": CLI_WITH_UNREAD})
    head = world.commit({"requirements.txt": "numpy==1.26.4\npandas>=2\n", "train.py": CLI})
    world.fake.add_pull(REPO, 7, world.base, head)
    outcome = world.review(7)
    assert (outcome.new, outcome.fixed, outcome.conclusion, outcome.net_effort_hours) == (0, 2, "success", 1.0)
    (run,) = world.fake.check_runs_for(REPO, head)
    assert (run.status, run.conclusion) == ("completed", "success")
    assert run.output["title"] == "Pays down 1 h of debt (0 new, 2 fixed)"
    summary = run.output["summary"]
    assert summary.startswith("**This pull request pays down 1 h of debt.**")
    assert "This pull request only removes debt." in summary and "### Paid down" in summary
    assert f"/blob/{world.base}/requirements.txt#L1" in summary  # a fixed finding links to where it was
    assert world.review_posts() == 0 and run.annotations == []
    world.assert_clean()


def test_fail_on_makes_new_high_priority_debt_fail_the_check(world_factory: Any) -> None:
    from paydown.analyzers.finding import Priority

    world = world_factory({"requirements.txt": "requests==2.32.3\n"})
    head = world.commit({"requirements.txt": "requests==2.32.3\nnumpy\n"})
    world.fake.add_pull(REPO, 8, world.base, head)
    outcome = world.review(8, config=Config(fail_on=Priority.HIGH))
    (run,) = world.fake.check_runs_for(REPO, head)
    assert (outcome.conclusion, run.conclusion) == ("failure", "failure")
    assert [a["annotation_level"] for a in run.annotations] == ["failure"]
    assert 'New debt reaches the `fail_on = "high"` priority' in run.output["summary"]
    world.assert_clean()


def test_synchronize_rerun_and_fix_post_nothing_twice(world_factory: Any) -> None:
    world = world_factory({"requirements.txt": "requests==2.32.3\n", "train.py": CLI, "README.md": "# churn\n"})
    first = world.commit({"requirements.txt": "requests==2.32.3\nnumpy\n", "train.py": CLI_WITH_UNREAD})
    world.fake.add_pull(REPO, 9, world.base, first)
    assert world.review(9).comments == 2
    posted = [(c.id, c.body) for c in world.comments(9)]
    writes = len(world.fake.writes())

    # A synchronize that changes nothing new: a new head, the same findings.
    second = world.commit({"README.md": "# churn\n\nNow with docs.\n"})
    world.fake.move_head(REPO, 9, second)
    outcome = world.review(9)
    assert (outcome.new, outcome.comments, outcome.resolved_replies) == (2, 0, 0)
    assert world.review_posts() == 1 and [(c.id, c.body) for c in world.comments(9)] == posted
    new_writes = [(w.method, w.path) for w in world.fake.writes()[writes:]]
    assert [m for m, _ in new_writes] == ["POST", "PATCH"]  # the new head's check run, then its result
    assert len(world.fake.check_runs_for(REPO, second)[0].annotations) == 2

    # Re-requested on the same commit: a fresh check run, no review, no duplicate comment.
    from paydown.service.store import CheckRun

    with world.store.session() as session:
        session.query(CheckRun).filter_by(head_sha=second).one().status = "rerequested"
    again = world.review(9)
    assert (again.comments, again.resolved_replies) == (0, 0)
    assert world.review_posts() == 1 and len(world.comments(9)) == 2
    runs = world.fake.check_runs_for(REPO, second)
    assert len(runs) == 2 and all(r.status == "completed" for r in runs)
    assert [len(r.annotations) for r in runs] == [2, 2]

    # The unpinned requirement is fixed by a later push: one reply, once.
    third = world.commit({"requirements.txt": "requests==2.32.3\nnumpy==1.26.4\n"})
    world.fake.move_head(REPO, 9, third)
    fixed = world.review(9)
    assert (fixed.resolved_replies, fixed.comments) == (1, 0)
    replies = [c for c in world.comments(9) if c.in_reply_to_id is not None]
    (numpy_comment,) = [c for c in world.comments(9) if c.path == "requirements.txt" and c.in_reply_to_id is None]
    assert [(r.in_reply_to_id, r.user) for r in replies] == [(numpy_comment.id, world.fake.bot_login)]
    assert replies[0].body.startswith(f"Resolved in {third[:7]}: paydown no longer finds this unpinned dependency")
    world.fake.move_head(REPO, 9, world.commit({"README.md": "# churn\n\nMore docs.\n"}))
    assert world.review(9).resolved_replies == 0
    assert len([c for c in world.comments(9) if c.in_reply_to_id is not None]) == 1
    from paydown.service.store import ReviewComment

    with world.store.session() as session:
        row = session.query(ReviewComment).filter_by(path="requirements.txt").one()
        assert row.resolved_reply_id == replies[0].id
    world.assert_clean()


def test_120_new_findings_give_20_comments_and_120_annotations_in_three_requests(world_factory: Any) -> None:
    world = world_factory({"requirements.txt": "requests==2.32.3\n"})
    packages = "".join(f"package-{n:03d}>={n}.0\n" for n in range(120))
    head = world.commit({"requirements.txt": "requests==2.32.3\n" + packages})
    world.fake.add_pull(REPO, 10, world.base, head)
    world.fake.clear_log()
    outcome = world.review(10)
    assert (outcome.new, outcome.comments, outcome.annotations) == (120, 20, 120)
    assert world.review_posts() == 1 and len(world.comments(10)) == 20
    (run,) = world.fake.check_runs_for(REPO, head)
    assert len(run.annotations) == 120 and run.annotation_batches == [50, 50, 20]
    assert world.fake.count("PATCH", rf"/check-runs/{run.id}$") == 3
    assert "100 more are over the limit of 20 comments per review and listed here only" in run.output["summary"]
    assert len(run.output["summary"]) <= 65535
    # The next push brings none of the 100 up again.
    world.fake.move_head(REPO, 10, world.commit({"README.md": "docs\n"}))
    assert world.review(10).comments == 0 and world.review_posts() == 1
    world.assert_clean()


def test_a_pull_request_from_a_fork_is_reviewed(world_factory: Any) -> None:
    world = world_factory({"requirements.txt": "requests==2.32.3\n"})
    head = world.commit({"requirements.txt": "requests==2.32.3\ntorch\n"}, branch="fork-main")
    world.fake.add_pull(REPO, 11, world.base, head, head_ref="main", head_full_name="mallory/churn")
    pull = world.client.get_pull(REPO, 11)
    assert pull.head_repo_full_name == "mallory/churn"
    outcome = world.review(11)
    assert outcome.comments == 1
    (comment,) = world.comments(11)
    assert (comment.path, comment.line) == ("requirements.txt", 2) and "torch" in comment.body
    (run,) = world.fake.check_runs_for(REPO, head)
    assert run.status == "completed"
    world.assert_clean()


def test_a_failed_job_completes_its_check_run_with_the_reason(world_factory: Any) -> None:
    from paydown.service import store as db
    from paydown.service.github import Forbidden

    world = world_factory({"requirements.txt": "requests==2.32.3\n"})
    head = world.commit({"requirements.txt": "requests==2.32.3\nnumpy\n"})
    world.fake.add_pull(REPO, 12, world.base, head)
    world.fake.fail("GET", r"/pulls/12/files", "forbidden_integration", times=None)
    with pytest.raises(Forbidden) as failure:
        world.review(12)
    (run,) = world.fake.check_runs_for(REPO, head)
    assert run.status == "in_progress"
    with world.store.session() as session:
        review.fail_check_run(session, world.client, db.repository_by_name(session, REPO), head, str(failure.value))
    assert (run.status, run.conclusion) == ("completed", "neutral")
    assert run.output["title"] == "paydown could not finish the review"
    assert "Resource not accessible by integration" in run.output["summary"]
    assert world.fake.count("GET", r"/pulls/12/files") == 1  # a missing permission is not retried
    assert world.review_posts() == 0
    writes = len(world.fake.writes())
    with world.store.session() as session:  # RQ's failure callback reporting the same failure again
        review.fail_check_run(session, world.client, db.repository_by_name(session, REPO), head, "a second report")
    assert len(world.fake.writes()) == writes and "a second report" not in run.output["summary"]
    # Re-run after the fault is gone: a new run, and the review happens.
    world.fake.clear_faults()
    assert world.review(12).comments == 1
    assert [r.status for r in world.fake.check_runs_for(REPO, head)] == ["completed", "completed"]
    world.assert_clean()


def test_changing_the_training_copy_and_not_the_serving_copy_warns_about_the_twin(world_factory: Any) -> None:
    world = world_factory({"train.py": TRAIN, "serve.py": SERVE})
    head = world.commit({"train.py": TRAIN.replace("fillna(0.0)", "fillna(0.5)")})
    world.fake.add_pull(REPO, 13, world.base, head)
    outcome = world.review(13)
    assert outcome.twin_warnings == 1
    (comment,) = [c for c in world.comments(13) if c.body.startswith("**Twin not changed**")]
    assert (comment.path, comment.line) == ("train.py", 7)
    assert f"[serve.py:5]({world.fake.web_url}/{REPO}/blob/{world.base}/serve.py#L5-L11)" in comment.body
    assert "changes this copy but not its twin" in comment.body
    assert '`df["age"] = df["age"].fillna(0.5)` at train.py:7 became `frame["age"] = ' in comment.body
    if os.environ.get("SHOW_REVIEW"):
        print(comment.body, [c.body for c in world.comments(13)], sep="\n=====\n")
    assert outcome.comments == len(world.comments(13))
    # Editing both copies the same way is no twin change.
    both = world.commit({"serve.py": SERVE.replace("fillna(0.0)", "fillna(0.5)")})
    world.fake.add_pull(REPO, 14, world.base, both)
    assert world.review(14).twin_warnings == 0
    world.assert_clean()


def test_dismissed_findings_are_never_commented(world_factory: Any) -> None:
    from paydown.service import store as db
    from paydown.service.store import BacklogItem, ScanFinding

    world = world_factory({"requirements.txt": "requests==2.32.3\n"})
    head = world.commit({"requirements.txt": "requests==2.32.3\nnumpy\nscipy\n"})
    world.fake.add_pull(REPO, 15, world.base, head)
    scan_id = world.scan(head)
    with world.store.session() as session:
        numpy = session.query(ScanFinding).filter_by(scan_id=scan_id, line=2).one()
        repo = db.repository_by_name(session, REPO)
        session.add(BacklogItem(repository_id=repo.id, key="k1", kind="unpinned-dependency", title="numpy",
                                path="requirements.txt", line=2, fingerprints=[numpy.fingerprint], effort_hours=0.5,
                                risk="high", interest_hours_per_month=2.0, priority="high", score=16.0,
                                state="dismissed"))
    outcome = world.review(15)
    assert outcome.comments == 1 and [c.line for c in world.comments(15)] == [3]
    (run,) = world.fake.check_runs_for(REPO, head)
    assert "1 belongs to dismissed backlog items and is not commented on" in run.output["summary"]
    world.assert_clean()


def test_an_ambiguous_review_post_is_not_repeated(world_factory: Any) -> None:
    world = world_factory({"requirements.txt": "requests==2.32.3\n"})
    head = world.commit({"requirements.txt": "requests==2.32.3\nnumpy\n"})
    world.fake.add_pull(REPO, 16, world.base, head)
    world.fake.fail("POST", r"/pulls/16/reviews$", "after_success", times=1)
    with pytest.raises(Exception, match=r"502|may have been applied"):
        world.review(16)
    assert len(world.comments(16)) == 1  # GitHub has it, paydown did not hear back
    outcome = world.review(16)  # the retried job
    assert outcome.comments == 0 and len(world.comments(16)) == 1 and world.review_posts() == 1
    from paydown.service.store import ReviewComment

    with world.store.session() as session:
        assert session.query(ReviewComment).filter_by(pull_number=16).one().comment_id == world.comments(16)[0].id
    world.assert_clean()


def test_a_new_copy_of_feature_logic_is_commented_with_where_the_other_copy_is(world_factory: Any) -> None:
    world = world_factory({"train.py": TRAIN, "README.md": "# churn\n"})
    head = world.commit({"serve.py": SERVE.replace("fillna(0.0)", "fillna(-1.0)")})
    world.fake.add_pull(REPO, 17, world.base, head)
    outcome = world.review(17)
    assert (outcome.new, outcome.comments) == (1, 1)
    (comment,) = world.comments(17)
    assert (comment.path, comment.line) == ("serve.py", 5)  # the added copy; the training copy is old code
    assert comment.body.startswith("**Duplicated preprocessing** (PD301) · medium priority · about 1.3 h to fix")
    assert f"**The other copy:** [train.py:5]({world.fake.web_url}/{REPO}/blob/{head}/train.py#L5-L11)" \
        in comment.body
    assert "`df[\"age\"] = df[\"age\"].fillna(0.0)` at train.py:7 became " \
           "`frame[\"age\"] = frame[\"age\"].fillna(-1.0)` at serve.py:7" in comment.body
    world.assert_clean()


def test_the_review_job_reviews_a_fork_pull_request_from_the_base_repository(world_factory: Any, job_context: Any,
                                                                            redis_conn: Any) -> None:
    """The lead's job end to end: tarballs of both commits from the base repository, scans, review, check run."""
    from paydown.service import jobs

    world = world_factory({"requirements.txt": "requests==2.32.3\n", "train.py": CLI})
    head = world.commit({"requirements.txt": "requests==2.32.3\nnumpy\n", "train.py": CLI_WITH_UNREAD},
                        branch="fork-main")
    world.fake.add_pull(REPO, 21, world.base, head, head_ref="main", head_full_name="mallory/churn")
    outcome = jobs.run_review(key=f"review:{REPO}#21", installation_id=INSTALLATION_ID, repository=REPO,
                              pull_number=21, head_sha=head)
    assert isinstance(outcome, review.ReviewOutcome) and outcome.comments == 2
    assert sorted((c.path, c.line) for c in world.comments(21)) == [("requirements.txt", 2), ("train.py", 5)]
    assert world.fake.count("GET", rf"/repos/{REPO}/tarball/{head}") == 1  # the head from the base repository
    (run,) = world.fake.check_runs_for(REPO, head)
    assert (run.status, run.conclusion) == ("completed", "neutral")
    world.assert_clean()
