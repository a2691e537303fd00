"""The fact cache: a second scan parses nothing, a change re-parses one file, corruption is survived."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from paydown.analyzers.config import Config
from paydown.analyzers.runner import analyze, analyzers_version, scan
from paydown.analyzers.snapshot import take_snapshot
from paydown.analyzers.workers import FactCache, default_cache_dir

FILES = {
    "requirements.txt": "numpy>=1.2\n",
    "app/a.py": "def a():\n    return 1\n",
    "app/b.py": "import numpy\n\nB = numpy.zeros(3)\n",
    "app/c.py": "class C:\n    pass\n",
    "app/broken.py": "def broken(:\n",
}
PYTHON_FILES = 4


def _scan(root: Path, **options):
    return scan(root, Config(), jobs=1, **options)


def _dicts(report) -> tuple[list, list]:
    return [f.to_dict() for f in report.findings], [e.to_dict() for e in report.errors]


def _entries(cache: Path) -> list[Path]:
    return sorted(p for p in (cache / "facts").rglob("*") if p.is_file())


def test_the_cache_folder_comes_from_the_environment(isolated_cache: Path) -> None:
    assert default_cache_dir() == isolated_cache


def test_second_scan_parses_nothing_and_gives_the_same_report(tmp_path: Path, make_repo,
                                                              isolated_cache: Path) -> None:
    root = make_repo(tmp_path, FILES)
    first = _scan(root)
    assert (first.stats["parsed"], first.stats["cached"]) == (PYTHON_FILES, 0)
    assert len(_entries(isolated_cache)) == PYTHON_FILES, "syntax errors are cached too"
    second = _scan(root)
    assert (second.stats["parsed"], second.stats["cached"]) == (0, PYTHON_FILES)
    assert _dicts(second) == _dicts(first)
    assert second.findings


def test_changing_one_file_reparses_only_it(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, FILES)
    _scan(root)
    (root / "app" / "a.py").write_text("def a():\n    return 2\n", encoding="utf-8")
    report = _scan(root)
    assert (report.stats["parsed"], report.stats["cached"]) == (1, PYTHON_FILES - 1)


def test_renaming_a_file_reparses_it(tmp_path: Path, make_repo) -> None:
    root = make_repo(tmp_path, FILES)
    _scan(root)
    (root / "app" / "c.py").rename(root / "app" / "d.py")
    assert _scan(root).stats["parsed"] == 1


@pytest.mark.parametrize("garbage", [
    pytest.param(b"", id="empty"),
    pytest.param(b"not a pickle", id="text"),
    pytest.param(b"\x80\x05\x95garbage", id="truncated"),
    pytest.param(b"\x80\x05\x95" + b"\x00" * 7 + b"\xeb" + b"K\x01.", id="frame-overflow"),
    pytest.param(pickle.dumps(5), id="an-int"),
    pytest.param(pickle.dumps("ok"), id="a-string"),
    pytest.param(pickle.dumps(("ok", 3)), id="ok-without-facts"),
    pytest.param(pickle.dumps(("ok", {}, "extra")), id="a-triple"),
])
def test_a_corrupt_entry_is_ignored_and_reparsed(tmp_path: Path, make_repo, isolated_cache: Path,
                                                 garbage: bytes) -> None:
    root = make_repo(tmp_path, FILES)
    first = _scan(root)
    entries = _entries(isolated_cache)
    entries[0].write_bytes(garbage)
    second = _scan(root)
    assert (second.stats["parsed"], second.stats["cached"]) == (1, PYTHON_FILES - 1)
    assert _dicts(second) == _dicts(first)
    third = _scan(root)
    assert third.stats["parsed"] == 0, "the re-parsed entry is written back"


def test_an_unwritable_cache_only_costs_speed(tmp_path: Path, make_repo, monkeypatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    monkeypatch.setenv("PAYDOWN_CACHE_DIR", str(blocker))
    root = make_repo(tmp_path, FILES)
    first = _scan(root)
    second = _scan(root)
    assert second.stats["parsed"] == PYTHON_FILES
    assert _dicts(second) == _dicts(first)


def test_use_cache_false_parses_everything(tmp_path: Path, make_repo, isolated_cache: Path) -> None:
    root = make_repo(tmp_path, FILES)
    _scan(root)
    report = _scan(root, use_cache=False)
    assert (report.stats["parsed"], report.stats["cached"]) == (PYTHON_FILES, 0)


def test_cache_key_depends_on_content_path_and_analyzer_version(tmp_path: Path) -> None:
    cache = FactCache(tmp_path, analyzers_version())
    base = cache.key("a.py", "x = 1\n")
    assert base == cache.key("a.py", "x = 1\n")
    assert base != cache.key("b.py", "x = 1\n")
    assert base != cache.key("a.py", "x = 2\n")
    assert base != FactCache(tmp_path, "another-version").key("a.py", "x = 1\n")


def test_timeouts_are_not_cached(tmp_path: Path, make_repo, isolated_cache: Path) -> None:
    root = make_repo(tmp_path, {"big.py": "x = 1\n" * 100_000}, commit=False)
    report = analyze(take_snapshot(root), Config(), jobs=1, timeout=0.3)
    assert [e.reason for e in report.errors] == ["timeout"]
    assert _entries(isolated_cache) == []


def test_the_cache_key_follows_the_analyzers_source(tmp_path: Path) -> None:
    """A changed fact layout whose version number nobody raised must not read old facts back (it crashed a warm
    scan once): the key hashes the analyzers' source as well as their versions."""
    from paydown.analyzers.runner import source_digest

    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("X = 1\n")
    (package / "sub" / "b.py").write_text("Y = 2\n")
    before = source_digest(package)
    (package / "sub" / "b.py").write_text("Y = 3\n")
    source_digest.cache_clear()
    assert source_digest(package) != before
    assert source_digest(package) == source_digest(package)


def test_analyzers_version_changes_with_the_analyzers_source(monkeypatch: pytest.MonkeyPatch) -> None:
    from paydown.analyzers import runner

    today = analyzers_version()
    monkeypatch.setattr(runner, "source_digest", lambda folder: "another source")
    assert analyzers_version() != today
