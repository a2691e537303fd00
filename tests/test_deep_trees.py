"""Deep folder trees: the walk never recurses, stops MAX_DEPTH folders down and says where; the rest is scanned."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from paydown.analyzers import snapshot
from paydown.analyzers.snapshot import iter_paths, take_snapshot
from paydown.cli import main

LOOSE = "numpy>=1.2\n"  # an unpinned requirement: one finding wherever it is read
DEEP = 1500  # past Python's recursion limit (1,000): os.walk and shutil.rmtree raise RecursionError here
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def chain(root: Path, levels: int, files: Mapping[int, Mapping[str, str]] | None = None) -> None:
    """``levels`` nested folders named ``d`` under ``root`` with ``files[depth]`` in the folder at that depth,
    made through folder descriptors so no path handed to the kernel grows with the depth."""
    fd = os.open(root, _DIR)
    try:
        for depth in range(1, levels + 1):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", _DIR, dir_fd=fd)
            os.close(fd)
            fd = child
            for name, text in (files or {}).get(depth, {}).items():
                with open(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd), "w") as out:
                    out.write(text)
    finally:
        os.close(fd)


def below(depth: int, name: str = "") -> str:
    """The repo-relative path ``depth`` folders down the chain, with ``name`` appended."""
    return "/".join(["d"] * depth + ([name] if name else []))


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "repo"
    folder.mkdir()
    yield folder
    # Not pytest's own clean-up (shutil.rmtree) and not the code under test: GNU rm removes any depth.
    subprocess.run(["rm", "-rf", "--", str(folder)], check=False)


def test_scan_of_a_1500_level_tree_exits_normally_and_lists_the_folder_it_did_not_enter(root: Path, capsys) -> None:
    (root / "requirements.txt").write_text(LOOSE, encoding="utf-8")
    (root / "app").mkdir()
    (root / "app" / "model.py").write_text("def predict(x):\n    return x * 2\n", encoding="utf-8")
    chain(root, DEEP, {10: {"requirements.txt": LOOSE}, DEEP: {"requirements.txt": LOOSE}})

    code = main(["scan", str(root), "--format", "json", "--no-cache", "-j", "1"])
    report = json.loads(capsys.readouterr().out)

    assert code == 0
    limit = snapshot.MAX_DEPTH
    assert [(e["path"], e["reason"]) for e in report["errors"]] == [(below(limit + 1), "too-deep")]
    assert str(limit) in report["errors"][0]["message"]
    paths = {f["path"] for f in report["findings"]}
    assert {"requirements.txt", below(10, "requirements.txt")} <= paths
    assert below(DEEP, "requirements.txt") not in paths
    assert report["stats"]["files"] == 3  # two requirements files and app/model.py


def test_the_walk_enters_exactly_max_depth_folders(root: Path) -> None:
    levels = 100  # deeper than the cap, shallow enough for a recursive walk to get there
    chain(root, levels, {depth: {f"f{depth}.py": "x = 1\n"} for depth in range(1, levels + 1)})
    taken = take_snapshot(root)
    assert below(levels, f"f{levels}.py") not in taken.files
    limit = snapshot.MAX_DEPTH
    assert set(taken.files) == {below(depth, f"f{depth}.py") for depth in range(1, limit + 1)}
    assert [(p.path, p.reason) for p in taken.problems] == [(below(limit + 1), "too-deep")]


def test_a_deep_tree_that_is_ignored_is_not_reported(root: Path) -> None:
    (root / ".gitignore").write_text("/d/\n", encoding="utf-8")
    (root / "requirements.txt").write_text(LOOSE, encoding="utf-8")
    chain(root, DEEP, {DEEP: {"requirements.txt": LOOSE}})
    taken = take_snapshot(root)
    assert set(taken.files) == {"requirements.txt"}
    assert taken.problems == []


def test_walk_order_and_pruning_are_unchanged(root: Path) -> None:
    """The order a recursive os.walk gave: each folder's linked folders, then its files, then its sub-folders in
    name order; skipped and ignored folders are never entered."""
    for rel in ("b.py", "a/x.py", "a/b/y.py", "a/b/.gitignore", "a/b/gen.py", "c/z.py", "venv/v.py",
                "a/c/requirements.txt", "notes.md"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("gen.py\n" if rel.endswith(".gitignore") else "x = 1\n", encoding="utf-8")
    os.symlink("a", root / "alias")
    os.symlink("b.py", root / "a" / "b_link.py")
    got = [rel for rel, _ in iter_paths(root, ["/c/"])]
    assert got == ["alias", "b.py", "a/b_link.py", "a/x.py", "a/b/y.py", "a/c/requirements.txt"]
