"""A hostile tree: bad files become report errors, good findings still come out; walking rules; notebooks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from paydown.analyzers.config import Config
from paydown.analyzers.runner import analyze, scan
from paydown.analyzers.snapshot import MAX_FILE_BYTES, take_snapshot
from paydown.cli import main


def _scan(root: Path, config: Config | None = None):
    return scan(root, config or Config(), use_cache=False, jobs=1)


def _keys(report) -> set[tuple[str, str, int, str]]:
    return {(f.rule_id, f.location.path, f.location.line, f.fingerprint) for f in report.findings}


def _odd_folder(tmp_path: Path) -> str:
    """A folder name with spaces, unicode, a leading dash and, where the filesystem allows it, a newline."""
    name = "-odd dir ü €\nline"
    try:
        (tmp_path / name).mkdir()
    except OSError:
        name = "-odd dir ü €"
    else:
        (tmp_path / name).rmdir()
    return name


GOOD = {
    "requirements.txt": "numpy>=1.2\nrequests==2.31.0\n",
    "app/model.py": "def predict(x):\n    return x * 2\n",
}


@pytest.fixture
def hostile(tmp_path: Path, make_repo) -> tuple[Path, dict[str, str], str]:
    odd = _odd_folder(tmp_path)
    bad = {
        "bad/binary.py": b"x = 1\x00\x00\x01\n",
        "bad/latin1.py": "name = 'café'\n".encode("latin-1"),
        "bad/syntax.py": "def broken(:\n    pass\n",
        "bad/huge.py": b"x = 1\n" * (10 * 1024 * 1024 // 6 + 1),
        "bad/nested.py": "x = " + "(" * 5000 + ")" * 5000 + "\n",
    }
    good = {**GOOD, f"{odd}/requirements.txt": "pandas\n"}
    root = make_repo(tmp_path, {**good, **bad}, commit=False)
    os.symlink("..", root / "bad" / "loop")
    (root / "linked").mkdir()
    os.symlink("/etc/passwd", root / "linked" / "requirements.txt")
    expected_errors = {*bad, "bad/loop", "linked/requirements.txt"}
    return root, good, expected_errors


def test_hostile_tree_reports_each_bad_file_and_keeps_good_findings(hostile, tmp_path: Path, make_repo) -> None:
    root, good, expected_errors = hostile
    assert (root / "bad" / "huge.py").stat().st_size > MAX_FILE_BYTES
    report = _scan(root)
    errors = {e.path: e for e in report.errors}
    assert expected_errors <= set(errors), expected_errors - set(errors)
    assert set(errors) == expected_errors, set(errors) - expected_errors
    assert errors["bad/huge.py"].reason == "too-large"
    assert errors["bad/syntax.py"].reason == "syntax-error"
    assert errors["bad/nested.py"].reason in {"crashed", "too-deep", "syntax-error"}
    assert errors["bad/loop"].reason == "symlink"
    assert errors["linked/requirements.txt"].reason == "symlink"
    assert "root:" not in json.dumps(report.to_dict()), "the symlink target must never be read"
    for error in report.errors:
        assert error.message

    clean = _scan(make_repo(tmp_path, good, name="clean"))
    assert clean.errors == []
    assert _keys(report) == _keys(clean)
    odd_paths = [p for p in good if p != "requirements.txt" and p.endswith("requirements.txt")]
    assert any(f.location.path == odd_paths[0] for f in report.findings), "the odd path's finding is reported"
    assert ("requirements.txt", 1) in {(f.location.path, f.location.line) for f in report.findings}


def test_hostile_tree_through_the_cli(hostile, capsys) -> None:
    root, _, expected_errors = hostile
    assert main(["scan", str(root), "--format", "json", "--no-cache", "-j", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {e["path"] for e in report["errors"]} == expected_errors
    assert all({"path", "reason", "message"} <= set(e) for e in report["errors"])
    assert main(["scan", str(root), "--no-cache", "-j", "1"]) == 0
    text = capsys.readouterr().out
    assert "Files that could not be analysed" in text and "bad/syntax.py" in text


def test_each_bad_kind_alone_is_reported_beside_a_finding(tmp_path: Path, make_repo) -> None:
    for index, (name, content) in enumerate({
        "binary.py": b"\x00\x01",
        "latin1.py": b"s = '\xe9'\n",
        "syntax.py": "if\n",
        "broken.ipynb": "{not json",
    }.items()):
        root = make_repo(tmp_path, {**GOOD, name: content}, name=f"r{index}")
        report = _scan(root)
        assert [e.path for e in report.errors] == [name]
        assert ("requirements.txt", 1) in {(f.location.path, f.location.line) for f in report.findings}


def test_gitignore_is_honoured(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {
        ".gitignore": "secret/\n*.local.txt\n",
        "requirements.txt": "numpy>=1.2\n",
        "secret/requirements.txt": "pandas\n",
        "requirements.local.txt": "scipy\n",
        "sub/.gitignore": "generated.py\nrequirements-extra.txt\n",
        "sub/generated.py": "def (\n",
        "sub/requirements-extra.txt": "torch\n",
        "generated.py": "x = 1\n",
        "sub/kept.py": "y = 2\n",
    })
    files = set(take_snapshot(root).files)
    assert {"requirements.txt", "generated.py", "sub/kept.py"} <= files
    assert not files & {"secret/requirements.txt", "requirements.local.txt", "sub/generated.py",
                        "sub/requirements-extra.txt"}
    report = _scan(root)
    assert {f.location.path for f in report.findings} == {"requirements.txt"}
    assert report.errors == [], "the nested .gitignore hides the broken generated.py"


def test_exclude_patterns(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {
        "requirements.txt": "numpy>=1.2\n",
        "gen/requirements.txt": "pandas\n",
        "deep/er/skip.py": "def (\n",
        "deep/keep.py": "x = 1\n",
    })
    files = set(take_snapshot(root, ["gen/", "**/er/*.py"]).files)
    assert "requirements.txt" in files and "deep/keep.py" in files
    assert "gen/requirements.txt" not in files and "deep/er/skip.py" not in files
    report = _scan(root, Config(exclude=("gen/", "**/er/*.py")))
    assert {f.location.path for f in report.findings} == {"requirements.txt"}
    assert report.errors == []


@pytest.mark.parametrize("folder", ["venv", ".venv", "node_modules", "build", "dist", "__pycache__",
                                    "pkg.egg-info", "nested/venv"])
def test_environment_and_build_folders_are_skipped(tmp_path: Path, make_repo, folder: str) -> None:
    root = make_repo(tmp_path, {"requirements.txt": "numpy==1.26.4\n", f"{folder}/requirements.txt": "pandas\n",
                                f"{folder}/lib/broken.py": "def (\n"})
    assert not any(path.startswith(folder) for path in take_snapshot(root).files)
    report = _scan(root)
    assert report.findings == [] and report.errors == []


def _notebook(*cells: tuple[str, str]) -> str:
    return json.dumps({
        "cells": [{"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True),
                   **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                  for kind, source in cells],
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
    })


NOTEBOOK = _notebook(
    ("markdown", "# Training\n"),
    ("code", "import os\nx = 1\n"),
    ("markdown", "Install what we need\n"),
    ("code", "import pandas as pd\n%pip install pandas\ndf = pd.DataFrame()\n"),
)


def test_notebook_magic_finding_is_located_in_its_cell(tmp_path: Path, make_repo, capsys) -> None:
    root = make_repo(tmp_path, {"notebooks/train.ipynb": NOTEBOOK})
    report = _scan(root)
    assert report.errors == []
    located = {(f.location.path, f.location.cell, f.location.line) for f in report.findings}
    assert located == {("notebooks/train.ipynb", 4, 2)}, "the fourth cell (markdown counts, as Jupyter shows), line 2"
    assert main(["scan", str(root), "--format", "json", "--no-cache", "-j", "1"]) == 0
    finding = json.loads(capsys.readouterr().out)["findings"][0]
    assert (finding["path"], finding["cell"], finding["line"]) == ("notebooks/train.ipynb", 4, 2)
    assert finding["locations"][0]["cell"] == 4


def test_notebook_code_is_python_with_magics_blanked(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"nb.ipynb": NOTEBOOK})
    source = take_snapshot(root).files["nb.ipynb"]
    assert source.is_python and source.is_notebook
    assert "%pip" not in source.text
    assert [magic for _, magic in source.magics] == ["%pip install pandas"]
    assert _scan(root).stats["python_files"] == 1


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"cells": 3}'])
def test_broken_notebook_is_an_error(tmp_path: Path, make_repo, text: str) -> None:
    root = make_repo(tmp_path, {"broken.ipynb": text, "requirements.txt": "numpy>=1.2\n"})
    report = _scan(root)
    assert [e.path for e in report.errors] == ["broken.ipynb"]
    assert [f.location.path for f in report.findings] == ["requirements.txt"]


def test_a_stuck_parse_times_out_and_the_scan_goes_on(tmp_path: Path, make_repo) -> None:
    # ~100,000 statements: libcst needs seconds; the worker is killed after a fraction of one.
    root = make_repo(tmp_path, {"a_big.py": "x = 1\n" * 100_000, "b_small.py": "y = 2\n",
                                "requirements.txt": "numpy>=1.2\n"}, commit=False)
    snapshot = take_snapshot(root)
    report = analyze(snapshot, Config(), jobs=1, use_cache=False, timeout=0.5)
    errors = {e.path: e.reason for e in report.errors}
    assert errors == {"a_big.py": "timeout"}
    assert report.stats["parsed"] == 2
    assert [f.location.path for f in report.findings] == ["requirements.txt"]


def test_a_crashing_parser_costs_one_file(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"a_nested.py": "x = " + "(" * 5000 + ")" * 5000 + "\n", "b_fine.py": "y = 2\n",
                                "requirements.txt": "numpy>=1.2\n"})
    report = _scan(root)
    assert [e.path for e in report.errors] == ["a_nested.py"]
    assert [f.location.path for f in report.findings] == ["requirements.txt"]


def test_a_named_pipe_is_an_error_and_never_read(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, {"requirements.txt": "numpy>=1.2\n"})
    os.mkfifo(root / "pipe.py")  # reading it would block forever
    report = _scan(root)
    assert [(e.path, e.message) for e in report.errors] == [("pipe.py", "not a regular file")]
    assert [f.location.path for f in report.findings] == ["requirements.txt"]


def test_a_file_swapped_for_a_link_after_its_check_is_not_followed(tmp_path: Path) -> None:
    """The lstat check and the open are two steps: a file replaced by a link between them is refused at the open."""
    from paydown.analyzers.snapshot import read_file

    outside = tmp_path / "outside.py"
    outside.write_text("SECRET = 1\n")
    root = tmp_path / "repo"
    root.mkdir()
    regular = os.lstat(outside)

    class SwappedPath(type(root)):  # lstat still sees the regular file that was there when it was checked
        def lstat(self) -> os.stat_result:
            return regular

    (root / "a.py").symlink_to(outside)
    with pytest.raises(ValueError, match="symbolic link"):
        read_file("a.py", SwappedPath(root / "a.py"))
