"""Unpack a repository tarball into a job folder, trusting nothing in it: paths, links, modes or sizes."""

from __future__ import annotations

import contextlib
import errno
import os
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Self

from paydown.analyzers.snapshot import MAX_DEPTH

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
    last_too_deep: str = ""  # the folder past MAX_DEPTH listed last: members under it are not listed again


class _StrictTarInfo(tarfile.TarInfo):
    """A broken header after the first member ends tarfile's iteration silently; make it an error instead."""

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Self:
        try:
            return super().frombuf(buf, encoding, errors)
        except tarfile.EOFHeaderError:  # type: ignore[attr-defined]  # real, but not in typeshed
            raise
        except tarfile.HeaderError as err:
            raise tarfile.SubsequentHeaderError(str(err)) from None  # type: ignore[attr-defined]


@contextlib.contextmanager
def job_folder(base: Path | None = None) -> Iterator[Path]:
    """A private temporary folder for one job, removed when the block ends, whatever happens in it."""
    path = Path(tempfile.mkdtemp(prefix="paydown-job-", dir=base))
    try:
        yield path
    finally:
        remove_tree(path)


def remove_tree(path: Path) -> None:
    """Delete a folder and everything in it, bottom-up with an explicit stack: any depth, two folders open at a
    time. Links are deleted, never followed; what cannot be deleted is left and the rest goes on."""
    try:
        fd = os.open(path, _DIR_FLAGS)
    except FileNotFoundError:
        return
    except OSError:  # a link or a file: it goes, whatever it points to stays
        with contextlib.suppress(OSError):
            os.unlink(path)
        return
    try:
        _remove_contents(fd)
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(path)


def _remove_contents(top: int) -> None:
    """Empty the folder open as `top`. Going back up is through `..`, checked to be the folder that was left, so
    a folder moved meanwhile stops the removal instead of deleting somewhere else."""
    fd = os.dup(top)
    stack: list[tuple[str, tuple[int, int], list[str]]] = []  # name in parent, parent's identity, folders left
    pending = _clear_folder(fd)
    try:
        while pending or stack:
            if pending:
                name = pending.pop()
                try:
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError:  # replaced by a link or a file since it was listed, or not ours to open
                    with contextlib.suppress(OSError):
                        os.unlink(name, dir_fd=fd)
                    continue
                stack.append((name, _identity(fd), pending))
                os.close(fd)
                fd = child
                pending = _clear_folder(fd)
                continue
            name, parent_id, pending = stack.pop()
            parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = parent
            if _identity(fd) != parent_id:
                return
            with contextlib.suppress(OSError):
                os.rmdir(name, dir_fd=fd)
    except OSError:
        return
    finally:
        os.close(fd)


def _identity(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def _clear_folder(fd: int) -> list[str]:
    """Delete everything in the folder open as `fd` except its sub-folders, and name those."""
    folders: list[str] = []
    with contextlib.suppress(OSError), os.scandir(fd) as entries:
        for entry in entries:
            try:
                is_folder = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_folder = False
            if is_folder:
                folders.append(entry.name)
                continue
            with contextlib.suppress(OSError):
                os.unlink(entry.name, dir_fd=fd)
    return folders


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
    if (len(parts) if member.isdir() else len(parts) - 1) > MAX_DEPTH:
        _count_skipped(member, caps)
        folder = "/".join(parts[:MAX_DEPTH + 1])
        if folder != caps.last_too_deep:
            caps.last_too_deep = folder
            skipped.append((_printable(folder), f"folder more than {MAX_DEPTH} levels deep"))
        return
    problem = _skip_reason(member, parts)
    if problem is not None:
        _count_skipped(member, caps)
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


def _count_skipped(member: tarfile.TarInfo, caps: _Caps) -> None:
    """A skipped file is still inflated to be passed over: its bytes count towards the total cap."""
    if member.isreg():
        caps.skipped_bytes += member.size
        if caps.bytes + caps.skipped_bytes > caps.max_bytes:
            raise FetchError(f"archive unpacks to more than {caps.max_bytes} bytes")


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
        remove_tree(dest)
        return
    for child in dest.iterdir():
        remove_tree(child)


def _printable(name: str) -> str:
    return name.encode("utf-8", "backslashreplace").decode("utf-8")[:300]


