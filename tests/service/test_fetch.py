"""Hostile tarballs: nothing lands outside the job folder, links and devices are skipped, caps hold."""

from __future__ import annotations

import gzip
import io
import os
import stat
import struct
import subprocess
import tarfile
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paydown.service.jobs import Extracted, FetchError, extract_tarball, fetch, job_folder

TOP = "octo-hello-1234567"
CAPS = {"max_bytes": 64 << 20, "max_files": 1000, "max_file_bytes": 16 << 20}
Member = tuple[tarfile.TarInfo, bytes | None]


def _file(name: str, data: bytes = b"print('ok')\n", mode: int = 0o644) -> Member:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def _entry(name: str, kind: bytes, linkname: str = "", mode: int = 0o755) -> Member:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, mode
    return info, None


def _archive(tmp_path: Path, members: list[Member], *, fmt: int = tarfile.PAX_FORMAT, top: bool = True) -> Path:
    path = tmp_path / "in" / "repo.tar.gz"
    path.parent.mkdir(exist_ok=True)
    head = [_entry(f"{TOP}/", tarfile.DIRTYPE)] if top else []
    with tarfile.open(path, "w:gz", format=fmt, encoding="utf-8", errors="surrogateescape") as tar:
        for info, data in head + members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _outside(tmp_path: Path) -> set[str]:
    """Every path under tmp_path except the extraction folder: must not change during an extraction."""
    seen = set()
    for dirpath, dirnames, filenames in os.walk(tmp_path):
        rel = Path(dirpath).relative_to(tmp_path)
        if rel.parts[:1] == ("dest",):
            continue
        seen.update(str(rel / name) for name in dirnames + filenames if str(rel / name) != "dest")
    return seen


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _extract(tmp_path: Path, archive: Path, **caps: int) -> Extracted:
    return extract_tarball(archive, tmp_path / "dest", **{**CAPS, **caps})


def _rejects(tmp_path: Path, archive: Path, reason: str, **caps: int) -> None:
    before = _outside(tmp_path)
    with pytest.raises(FetchError) as caught:
        _extract(tmp_path, archive, **caps)
    assert reason in caught.value.reason
    assert _outside(tmp_path) == before
    assert not (tmp_path / "dest").exists(), "a failed extraction leaves nothing behind"


def test_good_archive_is_extracted_without_its_top_folder(tmp_path: Path) -> None:
    archive = _archive(tmp_path, [_entry(f"{TOP}/pkg/", tarfile.DIRTYPE), _file(f"{TOP}/pkg/a.py"),
                                  _file(f"{TOP}/README.md", b"# hi\n")])
    result = _extract(tmp_path, archive)
    assert result == Extracted(root=tmp_path / "dest", files=2, bytes=17, skipped=[])
    assert _files(result.root) == {"README.md": b"# hi\n", "pkg/a.py": b"print('ok')\n"}


@pytest.mark.parametrize(("name", "reason"), [
    (f"{TOP}/../../escaped.py", "outside its folder"),
    (f"{TOP}/pkg/../../escaped.py", "outside its folder"),
    ("/tmp/escaped.py", "absolute path"),
    (f"{TOP}/" + "a" * 10_000, "longer than 4096"),
])
def test_unsafe_paths_fail_the_whole_fetch(tmp_path: Path, name: str, reason: str) -> None:
    archive = _archive(tmp_path, [_file(f"{TOP}/ok.py"), _file(name)])
    _rejects(tmp_path, archive, reason)
    assert not (tmp_path / "escaped.py").exists()


def test_nul_in_a_pax_name_fails(tmp_path: Path) -> None:
    info, data = _file(f"{TOP}/plain.py")
    info.pax_headers = {"path": f"{TOP}/a\x00/../../x.py"}
    _rejects(tmp_path, _archive(tmp_path, [(info, data)]), "NUL byte")


def test_links_and_special_files_are_skipped_and_listed(tmp_path: Path) -> None:
    secret_dir = tmp_path / "outside"
    secret_dir.mkdir()
    archive = _archive(tmp_path, [
        _entry(f"{TOP}/passwd", tarfile.SYMTYPE, "/etc/passwd"),
        _entry(f"{TOP}/hard", tarfile.LNKTYPE, "../../etc/passwd"),
        _entry(f"{TOP}/tty", tarfile.CHRTYPE),
        _entry(f"{TOP}/disk", tarfile.BLKTYPE),
        _entry(f"{TOP}/pipe", tarfile.FIFOTYPE),
        # CVE-2025-4517 style: a link to a folder outside, then a file written "through" it.
        _entry(f"{TOP}/escape", tarfile.SYMTYPE, str(secret_dir)),
        _file(f"{TOP}/escape/pwned.py", b"owned\n"),
        _file(f"{TOP}/good.py"),
    ])
    before = _outside(tmp_path)
    result = _extract(tmp_path, archive)
    assert result.skipped == [("passwd", "symbolic link"), ("hard", "hard link"), ("tty", "character device"),
                              ("disk", "block device"), ("pipe", "fifo"), ("escape", "symbolic link")]
    assert _outside(tmp_path) == before
    assert list(secret_dir.iterdir()) == []
    assert _files(result.root) == {"escape/pwned.py": b"owned\n", "good.py": b"print('ok')\n"}
    assert not (result.root / "escape").is_symlink()
    assert result.files == 2


def test_never_writes_through_an_existing_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "pkg").symlink_to(outside)
    (dest / "file.py").symlink_to(outside / "file.py")
    archive = _archive(tmp_path, [_file(f"{TOP}/file.py", b"x")])
    result = _extract(tmp_path, archive)
    assert result.skipped == [("file.py", "duplicate path")]
    assert list(outside.iterdir()) == []
    archive = _archive(tmp_path, [_file(f"{TOP}/pkg/mod.py", b"x")])
    with pytest.raises(FetchError, match="not a folder"):
        _extract(tmp_path, archive)
    assert list(outside.iterdir()) == []


def test_modes_are_normalised(tmp_path: Path) -> None:
    archive = _archive(tmp_path, [_entry(f"{TOP}/bin/", tarfile.DIRTYPE, mode=0o7777),
                                  _file(f"{TOP}/bin/tool", b"#!/bin/sh\n", mode=0o6755),
                                  _file(f"{TOP}/sticky", b"", mode=0o1777)])
    result = _extract(tmp_path, archive)
    assert stat.S_IMODE(os.lstat(result.root / "bin").st_mode) == 0o755
    assert stat.S_IMODE(os.lstat(result.root / "bin" / "tool").st_mode) == 0o644
    assert stat.S_IMODE(os.lstat(result.root / "sticky").st_mode) == 0o644


def test_long_component_and_non_utf8_names_are_skipped(tmp_path: Path) -> None:
    archive = _archive(tmp_path, [_file(f"{TOP}/caf\udce9.py"), _file(f"{TOP}/{'b' * 300}.py"), _file(f"{TOP}/ok.py")],
                       fmt=tarfile.GNU_FORMAT)
    result = _extract(tmp_path, archive)
    assert [reason for _, reason in result.skipped] == ["name is not valid UTF-8",
                                                        "a path component is longer than 255 bytes"]
    assert result.skipped[0][0] == "caf\\udce9.py"
    assert _files(result.root) == {"ok.py": b"print('ok')\n"}


def test_too_many_members(tmp_path: Path) -> None:
    archive = _archive(tmp_path, [_file(f"{TOP}/f{i}.py") for i in range(20)])
    _rejects(tmp_path, archive, "more than 10 entries", max_files=10)


def test_file_and_total_size_caps(tmp_path: Path) -> None:
    archive = _archive(tmp_path, [_file(f"{TOP}/big.bin", b"x" * 2000)])
    _rejects(tmp_path, archive, "larger than 1000 bytes", max_file_bytes=1000)
    archive = _archive(tmp_path, [_file(f"{TOP}/f{i}.bin", b"x" * 600) for i in range(3)])
    _rejects(tmp_path, archive, "more than 1500 bytes", max_bytes=1500)


def _raw_tar(members: list[Member]) -> bytearray:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for info, data in [_entry(f"{TOP}/", tarfile.DIRTYPE), *members]:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return bytearray(buf.getvalue())


def _set_size(raw: bytearray, header_at: int, size: int) -> None:
    raw[header_at + 124:header_at + 136] = b"%011o\x00" % size
    raw[header_at + 148:header_at + 156] = b" " * 8
    raw[header_at + 148:header_at + 156] = b"%06o\x00 " % sum(raw[header_at:header_at + 512])


@pytest.mark.parametrize(("claimed", "reason"), [
    (7 << 30, "larger than"),  # more than the cap: refused from the header
    (1 << 20, "truncated"),  # more than is there
    (10, "corrupt entry header"),  # less than is there: the rest would be read as a header
])
def test_lying_size_header(tmp_path: Path, claimed: int, reason: str) -> None:
    raw = _raw_tar([_file(f"{TOP}/a.bin", b"\xff" * 4096), _file(f"{TOP}/b.py")])
    _set_size(raw, 512, claimed)
    archive = tmp_path / "in.tar.gz"
    archive.write_bytes(gzip.compress(bytes(raw)))
    _rejects(tmp_path, archive, reason)


def test_copy_counts_bytes_not_headers(tmp_path: Path) -> None:
    caps = fetch._Caps(max_bytes=1 << 20, max_files=10, max_file_bytes=1000)
    fd = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        with pytest.raises(FetchError, match="larger than 1000"):
            fetch._copy(io.BytesIO(b"x" * 5000), fd, caps)
    finally:
        os.close(fd)


def _zero_bomb(path: Path, files: int, file_bytes: int) -> None:
    """A gzipped tar of `files` zero-filled files, built without compressing a gigabyte: full flushes make each
    zero run's compressed form independent of what came before, so it is compressed once and repeated."""
    run = 8 << 20
    assert file_bytes % run == 0
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = (comp.compress(bytes(run)) + comp.flush(zlib.Z_FULL_FLUSH)) * (file_bytes // run)
    with path.open("wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")
        top, _ = _entry(f"{TOP}/", tarfile.DIRTYPE)
        out.write(comp.compress(top.tobuf(tarfile.USTAR_FORMAT)) + comp.flush(zlib.Z_FULL_FLUSH))
        for i in range(files):
            info = tarfile.TarInfo(f"{TOP}/zeros{i}.bin")
            info.size = file_bytes
            out.write(comp.compress(info.tobuf(tarfile.USTAR_FORMAT)) + comp.flush(zlib.Z_FULL_FLUSH))
            out.write(zeros)
        out.write(comp.compress(bytes(1024)) + comp.flush())
        out.write(struct.pack("<II", 0, (files * (file_bytes + 512)) & 0xFFFFFFFF))


def test_zero_bomb_aborts_at_the_total_cap_quickly_with_bounded_memory(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.tar.gz"
    _zero_bomb(archive, files=128, file_bytes=8 << 20)  # 1 GiB of zeros
    assert archive.stat().st_size < 2 << 20
    tracemalloc.start()
    started = time.monotonic()
    try:
        _rejects(tmp_path, archive, f"more than {32 << 20} bytes", max_bytes=32 << 20, max_file_bytes=16 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 10
    assert peak < 8 << 20, peak


def test_one_huge_zero_file_is_refused_from_its_header(tmp_path: Path) -> None:
    archive = tmp_path / "bomb.tar.gz"
    _zero_bomb(archive, files=1, file_bytes=1 << 30)
    started = time.monotonic()
    _rejects(tmp_path, archive, "larger than")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(("content", "reason"), [
    (gzip.compress(b"just some text, not a tar archive\n" * 40), "not a tar archive"),
    (b"PK\x03\x04 a zip file", "not gzip-compressed"),
    (gzip.compress(bytes(10240)), "archive is empty"),
])
def test_not_a_tarball(tmp_path: Path, content: bytes, reason: str) -> None:
    archive = tmp_path / "x.tar.gz"
    archive.write_bytes(content)
    _rejects(tmp_path, archive, reason)


def test_truncated_archive(tmp_path: Path) -> None:
    raw = _raw_tar([_file(f"{TOP}/a.bin", b"\xff" * 4096)])
    archive = tmp_path / "cut.tar.gz"
    archive.write_bytes(gzip.compress(bytes(raw[:3000])))
    _rejects(tmp_path, archive, "truncated")


def test_a_second_top_folder_is_refused(tmp_path: Path) -> None:
    archive = _archive(tmp_path, [_file(f"{TOP}/a.py"), _file("other-top/b.py")])
    _rejects(tmp_path, archive, "more than one top folder")


def test_existing_dest_is_emptied_on_failure(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    archive = _archive(tmp_path, [_file(f"{TOP}/a.py"), _file(f"{TOP}/../x")])
    with pytest.raises(FetchError):
        _extract(tmp_path, archive)
    assert dest.is_dir()
    assert list(dest.iterdir()) == []


def test_job_folder_is_removed_even_on_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), job_folder(tmp_path) as folder:
        archive = _archive(folder, [_file(f"{TOP}/a.py")])
        extract_tarball(archive, folder / "src", **CAPS)
        assert (folder / "src" / "a.py").is_file()
        raise RuntimeError("job crashed")
    assert not folder.exists()
    assert list(tmp_path.iterdir()) == []
    with job_folder(tmp_path) as folder:
        assert folder.parent == tmp_path
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert not folder.exists()


def test_a_real_git_archive_extracts(tmp_path: Path, make_repo: Any) -> None:
    """What GitHub serves is `git archive` output: a pax global header (the commit id), then `owner-repo-sha/`."""
    repo = make_repo(tmp_path, {"pkg/__init__.py": "", "pkg/train.py": "import pandas\n", "README.md": "# r\n"})
    archive = tmp_path / "in.tar.gz"
    subprocess.run(["git", "archive", "--format=tar.gz", f"--prefix={TOP}/", "-o", str(archive), "HEAD"], cwd=repo,
                   check=True, capture_output=True)
    result = _extract(tmp_path, archive)
    assert _files(result.root) == {"README.md": b"# r\n", "pkg/__init__.py": b"", "pkg/train.py": b"import pandas\n"}
    assert (result.files, result.bytes, result.skipped) == (3, 18, [])


# --- deep trees ----------------------------------------------------------------------------------------------

DEEP = 1500  # past Python's recursion limit: shutil.rmtree and os.walk raise RecursionError on such a tree
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def _below(depth: int, name: str = "") -> str:
    return "/".join(["d"] * depth + ([name] if name else []))


def _chain(parent: Path, levels: int, files: dict[int, str]) -> None:
    """`levels` nested folders named `d`, a file `files[depth]` in the folder at that depth; made through folder
    descriptors, so no path handed to the kernel grows with the depth."""
    fd = os.open(parent, _DIR)
    try:
        for depth in range(1, levels + 1):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", _DIR, dir_fd=fd)
            os.close(fd)
            fd = child
            if depth in files:
                os.close(os.open(files[depth], os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
    finally:
        os.close(fd)


def _deep_archive(tmp_path: Path, levels: int, files: dict[int, bytes]) -> Path:
    """A tarball as `git archive` writes one: a folder entry for every level of a `levels`-deep chain."""
    members = [_file(f"{TOP}/requirements.txt", b"numpy>=1.2\n")]
    for depth in range(1, levels + 1):
        members.append(_entry(f"{TOP}/{_below(depth)}/", tarfile.DIRTYPE))
        if depth in files:
            members.append(_file(f"{TOP}/{_below(depth, 'requirements.txt')}", files[depth]))
    return _archive(tmp_path, members)


@pytest.fixture
def deep_cleanup(tmp_path: Path) -> Iterator[Path]:
    """Whatever a failing test leaves in tmp_path goes with GNU rm (any depth), not pytest's recursive clean-up."""
    yield tmp_path
    subprocess.run(["rm", "-rf", "--", *map(str, tmp_path.iterdir())], check=False)


def test_remove_tree_removes_a_1500_level_tree_and_never_follows_a_link(deep_cleanup: Path) -> None:
    tmp_path = deep_cleanup
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep\n", encoding="utf-8")
    tree = tmp_path / "tree"
    tree.mkdir()
    _chain(tree, DEEP, {depth: f"f{depth}.py" for depth in range(1, DEEP + 1, 7)})
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "c.py").write_text("x = 1\n", encoding="utf-8")
    (tree / "link-to-folder").symlink_to(outside)
    (tree / "a" / "link-to-file").symlink_to(outside / "keep.txt")
    fetch.remove_tree(tree)
    assert not os.path.lexists(tree)
    assert (outside / "keep.txt").read_text(encoding="utf-8") == "keep\n"
    fetch.remove_tree(tree)  # already gone: nothing to do, no error
    (tmp_path / "link").symlink_to(outside)
    fetch.remove_tree(tmp_path / "link")  # a link is removed itself, its target left alone
    assert not os.path.lexists(tmp_path / "link") and (outside / "keep.txt").is_file()


def test_job_folder_holding_a_1500_level_tree_is_removed(deep_cleanup: Path) -> None:
    with job_folder(deep_cleanup) as folder:
        _chain(folder, DEEP, {DEEP: "bottom.py"})
    assert not folder.exists()
    assert list(deep_cleanup.iterdir()) == []


def test_members_deeper_than_the_cap_are_skipped_and_listed_once(deep_cleanup: Path) -> None:
    archive = _deep_archive(deep_cleanup, DEEP, {10: b"pandas\n", DEEP: b"torch\n"})
    result = _extract(deep_cleanup, archive, max_files=2 * DEEP)
    assert len(result.skipped) == 1, result.skipped[:3]
    limit = fetch.MAX_DEPTH
    (path, reason), = result.skipped
    assert path == _below(limit + 1) and str(limit) in reason
    assert _files(result.root) == {"requirements.txt": b"numpy>=1.2\n", _below(10, "requirements.txt"): b"pandas\n"}
    assert (result.root / _below(limit)).is_dir() and not (result.root / _below(limit + 1)).exists()
    assert result.files == 2


def test_skipped_deep_members_still_count_towards_the_caps(deep_cleanup: Path) -> None:
    deep = [_file(f"{TOP}/{_below(100, f'f{i}.bin')}", b"x" * 600) for i in range(3)]
    _rejects(deep_cleanup, _archive(deep_cleanup, deep), "more than 1500 bytes", max_bytes=1500)
    _rejects(deep_cleanup, _archive(deep_cleanup, deep), "more than 2 entries", max_files=2)


class _TarballClient:
    """The one call scan_commit makes to GitHub: the commit's tarball, saved where it is asked to be."""

    def __init__(self, archive: Path) -> None:
        self.archive = archive

    def download_tarball(self, full_name: str, sha: str, dest: Path, max_bytes: int) -> Path:
        dest.write_bytes(self.archive.read_bytes())
        return dest


def test_a_commit_with_a_1500_level_tree_is_scanned_and_leaves_no_job_folder(deep_cleanup: Path, service_store: Any,
                                                                             service_settings: Any) -> None:
    from paydown.service import store as db
    from paydown.service.jobs import scanning
    from paydown.service.store import Scan

    archive = _deep_archive(deep_cleanup, DEEP, {DEEP: b"torch\n"})
    with service_store.session() as session:
        repo = db.local_repository(session, deep_cleanup)
        session.flush()
        session.expunge(repo)
    scan_id = scanning.scan_commit(service_store, _TarballClient(archive), repo, "a" * 40, service_settings,
                                   trigger="push")
    with service_store.session() as session:
        scan = session.get(Scan, scan_id)
        status, problems, count = scan.status, scan.problems, scan.finding_count
    assert status == "succeeded"
    assert [(p["path"], p["reason"]) for p in problems] == [(_below(fetch.MAX_DEPTH + 1), "skipped-in-archive")]
    assert count >= 1  # the unpinned requirement at the top
    assert list((service_settings.data_dir / "jobs").iterdir()) == []
