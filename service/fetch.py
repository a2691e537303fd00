"""Unpack a repository tarball into a job folder, trusting nothing in it: paths, links, modes or sizes."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

MAX_NAME_CHARS = 4096
MAX_COMPONENT_BYTES = 255
CHUNK_BYTES = 64 * 1024
# tarfile inflates each compressed read in one go; zeros inflate ~1000x, so a small read keeps memory bounded.
STREAM_BUFSIZE = 1024
FILE_MODE = 0o644
DIR_MODE = 0o755
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_SKIPPED_TYPES = {
    tarfile.SYMTYPE: "symbolic link",
    tarfile.LNKTYPE: "hard link",
    tarfile.CHRTYPE: "character device",
    tarfile.BLKTYPE: "block device",
    tarfile.FIFOTYPE: "fifo",
    tarfile.GNUTYPE_SPARSE: "sparse file",
}


class FetchError(Exception):
    """The archive cannot be used; `reason` is short and safe to show to the repository's owner."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Extracted:
    root: Path
    files: int
    bytes: int
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _Caps:
    max_bytes: int
    max_files: int
    max_file_bytes: int
    members: int = 0
    files: int = 0
    bytes: int = 0
    skipped_bytes: int = 0


class _StrictTarInfo(tarfile.TarInfo):
    """A broken header after the first member ends tarfile's iteration silently; make it an error instead."""

    @classmethod
    def frombuf(cls, buf: bytes, encoding: str, errors: str) -> tarfile.TarInfo:
        try:
            return super().frombuf(buf, encoding, errors)
        except tarfile.EOFHeaderError:
            raise
        except tarfile.HeaderError as err:
            raise tarfile.SubsequentHeaderError(str(err)) from None


@contextlib.contextmanager
def job_folder(base: Path | None = None) -> Iterator[Path]:
    """A private temporary folder for one job, removed when the block ends, whatever happens in it."""
    path = Path(tempfile.mkdtemp(prefix="paydown-job-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def extract_tarball(archive: Path, dest: Path, *, max_bytes: int, max_files: int, max_file_bytes: int) -> Extracted:
    """Unpack a gzipped tar (GitHub's `owner-repo-sha/` layout) into `dest`, without its top folder.

    Only regular files and folders are written; links and special files are skipped and listed. Any path that
    could leave `dest`, and any cap reached, fails the whole extraction and leaves `dest` empty.
    """
    caps = _Caps(max_bytes=max_bytes, max_files=max_files, max_file_bytes=max_file_bytes)
    created = not dest.exists()
    dest.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    skipped: list[tuple[str, str]] = []
    root_fd = os.open(dest, _DIR_FLAGS)
    try:
        with archive.open("rb") as raw:
            _extract_stream(raw, root_fd, caps, skipped)
    except BaseException:
        os.close(root_fd)
        _clean(dest, remove_dest=created)
        raise
    os.close(root_fd)
    return Extracted(root=dest, files=caps.files, bytes=caps.bytes, skipped=skipped)


def _extract_stream(raw: IO[bytes], root_fd: int, caps: _Caps, skipped: list[tuple[str, str]]) -> None:
    top: str | None = None
    try:
        with tarfile.open(fileobj=raw, mode="r|gz", bufsize=STREAM_BUFSIZE, tarinfo=_StrictTarInfo,
                          encoding="utf-8", errors="surrogateescape") as tar:
            for member in tar:
                caps.members += 1
                if caps.members > caps.max_files:
                    raise FetchError(f"archive has more than {caps.max_files} entries")
                parts = _checked_parts(member.name)
                top = _check_top(top, parts, member)
                _extract_member(tar, member, parts[1:], root_fd, caps, skipped)
    except tarfile.ReadError as err:
        raise FetchError(_read_error_reason(err, caps.members)) from None
    except (tarfile.TarError, EOFError, zlib.error) as err:
        raise FetchError(f"archive is corrupt ({type(err).__name__})") from None
    if top is None:
        raise FetchError("archive is empty")


def _read_error_reason(err: tarfile.ReadError, members: int) -> str:
    text = str(err)
    if "gzip" in text:
        return "archive is not gzip-compressed"
    if "compressed data" in text:
        return "archive's gzip data is corrupt"
    if "end of data" in text or "truncated" in text:
        return "archive is truncated"
    if members == 0:
        return "archive is gzip-compressed but is not a tar archive"
    return "archive has a corrupt entry header"


def _checked_parts(name: str) -> list[str]:
    """The member's path components; raises FetchError for any name that is unsafe to even consider."""
    if len(name) > MAX_NAME_CHARS:
        raise FetchError(f"archive has a path longer than {MAX_NAME_CHARS} characters")
    if "\x00" in name:
        raise FetchError("archive has a path containing a NUL byte")
    if name.startswith("/"):
        raise FetchError("archive has an absolute path")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise FetchError("archive has a path outside its folder ('..')")
    if not parts:
        raise FetchError("archive has an entry with an empty path")
    return parts


def _check_top(top: str | None, parts: list[str], member: tarfile.TarInfo) -> str:
    if top is None:
        if len(parts) == 1 and not member.isdir():
            raise FetchError("archive does not have a single top folder")
        return parts[0]
    if parts[0] != top:
        raise FetchError("archive has more than one top folder")
    return top


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, parts: list[str], root_fd: int, caps: _Caps,
                    skipped: list[tuple[str, str]]) -> None:
    display = "/".join(parts)
    if not parts:
        return
    problem = _skip_reason(member, parts)
    if problem is not None:
        skipped.append((_printable(display), problem))
        return
    if member.isdir():
        os.close(_open_dirs(root_fd, parts))
        return
    if member.size > caps.max_file_bytes:
        raise FetchError(f"archive has a file larger than {caps.max_file_bytes} bytes")
    if caps.bytes + member.size > caps.max_bytes:
        raise FetchError(f"archive unpacks to more than {caps.max_bytes} bytes")
    source = tar.extractfile(member)
    if source is None:
        raise FetchError("archive has an unreadable file")
    with source:
        if not _write_file(source, root_fd, parts, caps):
            skipped.append((_printable(display), "duplicate path"))


def _skip_reason(member: tarfile.TarInfo, parts: list[str]) -> str | None:
    kind = _SKIPPED_TYPES.get(member.type)
    if kind is not None:
        return kind
    if not (member.isreg() or member.isdir()):
        return f"unsupported entry type {member.type!r}"
    try:
        encoded = [part.encode("utf-8") for part in parts]
    except UnicodeEncodeError:
        return "name is not valid UTF-8"
    if any(len(part) > MAX_COMPONENT_BYTES for part in encoded):
        return f"a path component is longer than {MAX_COMPONENT_BYTES} bytes"
    return None


def _open_dirs(root_fd: int, parts: list[str]) -> int:
    """An fd for root/parts, creating folders as needed and refusing to pass through anything but a real folder."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            made = _mkdir(fd, part)
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as err:
                if err.errno in (errno.ELOOP, errno.ENOTDIR, errno.EEXIST):
                    raise FetchError("archive has a path through something that is not a folder") from None
                raise
            os.close(fd)
            fd = child
            if made:
                os.fchmod(fd, DIR_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _mkdir(fd: int, name: str) -> bool:
    try:
        os.mkdir(name, DIR_MODE, dir_fd=fd)
    except FileExistsError:
        return False
    return True


def _write_file(source: IO[bytes], root_fd: int, parts: list[str], caps: _Caps) -> bool:
    parent = _open_dirs(root_fd, parts[:-1])
    try:
        try:
            out = os.open(parts[-1], _FILE_FLAGS, FILE_MODE, dir_fd=parent)
        except FileExistsError:
            return False
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise FetchError("archive has a path through something that is not a folder") from None
            raise
        try:
            os.fchmod(out, FILE_MODE)
            _copy(source, out, caps)
        finally:
            os.close(out)
    finally:
        os.close(parent)
    caps.files += 1
    return True


def _copy(source: IO[bytes], out: int, caps: _Caps) -> None:
    written = 0
    while chunk := source.read(CHUNK_BYTES):
        written += len(chunk)
        caps.bytes += len(chunk)
        # Counted as it is copied, so a header that understates a size cannot get past the caps.
        if written > caps.max_file_bytes:
            raise FetchError(f"archive has a file larger than {caps.max_file_bytes} bytes")
        if caps.bytes + caps.skipped_bytes > caps.max_bytes:
            raise FetchError(f"archive unpacks to more than {caps.max_bytes} bytes")
        view = memoryview(chunk)
        while view:
            view = view[os.write(out, view):]


def _clean(dest: Path, *, remove_dest: bool) -> None:
    if remove_dest:
        shutil.rmtree(dest, ignore_errors=True)
        return
    for child in dest.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _printable(name: str) -> str:
    return name.encode("utf-8", "backslashreplace").decode("utf-8")[:300]


