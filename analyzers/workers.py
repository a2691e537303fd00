"""Parse Python files in worker processes and extract every analyzer's facts, cached by content hash.

libcst's native parser can abort the whole process on pathological input, so each file is parsed in a child
process with a timeout and an address-space limit; a crashed or stuck worker costs that one file, not the scan.
"""

from __future__ import annotations

import contextlib
import faulthandler
import hashlib
import multiprocessing
import os
import pickle
import resource
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import libcst as cst

from .cst import ParsedFile
from .finding import Problem

Extractor = Callable[[ParsedFile], Any]

FILE_TIMEOUT_SECONDS = 20.0
WORKER_MEMORY_BYTES = 2 * 1024**3


@dataclass(frozen=True, slots=True)
class Task:
    path: str
    source: str
    key: str


def _parse_and_extract(task: Task, extractors: Sequence[tuple[str, Extractor]]) -> tuple[str, Any]:
    """('ok', {analyzer: facts}) or ('syntax-error' | 'too-deep' | 'internal-error', message)."""
    try:
        module = cst.parse_module(task.source)
    except cst.ParserSyntaxError as err:
        return "syntax-error", f"syntax error at line {err.editor_line}, column {err.editor_column}: {err.message}"
    except RecursionError:
        return "too-deep", "too deeply nested to parse"
    except MemoryError:
        return "too-deep", "ran out of memory while parsing"
    except Exception as err:  # libcst raises bare exceptions for some inputs; report them, never crash
        return "syntax-error", f"cannot parse: {type(err).__name__}: {err}"
    parsed = ParsedFile(task.path, task.source, module)
    facts: dict[str, Any] = {}
    for name, extract in extractors:
        try:
            facts[name] = extract(parsed)
        except RecursionError:
            return "too-deep", "too deeply nested to analyse"
        except Exception as err:  # an extractor bug must cost one file, not the scan
            return "internal-error", f"{name} analyzer failed: {type(err).__name__}: {err}"
    return "ok", facts


def _worker_main(conn: Connection, extractors: Sequence[tuple[str, Extractor]], memory: int) -> None:
    faulthandler.disable()  # a crash here is expected and reported as a file error, not dumped on stderr
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    sys.setrecursionlimit(20_000)
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return
        if task is None:
            return
        status, payload = _parse_and_extract(task, extractors)
        try:
            conn.send((task.path, status, payload))
        except (pickle.PicklingError, TypeError, RecursionError) as err:
            conn.send((task.path, "internal-error", f"facts could not be sent: {err}"))


class _Worker:
    def __init__(self, context: Any, extractors: Sequence[tuple[str, Extractor]], memory: int) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_worker_main, args=(child, extractors, memory), daemon=True)
        self.process.start()
        child.close()
        self.task: Task | None = None
        self.deadline = 0.0

    def give(self, task: Task, timeout: float) -> None:
        self.task = task
        self.deadline = time.monotonic() + timeout
        self.conn.send(task)

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            with contextlib.suppress(OSError):
                self.conn.send(None)
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


def _context() -> Any:
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


def run_pool(
    tasks: Iterable[Task],
    extractors: Sequence[tuple[str, Extractor]],
    jobs: int,
    timeout: float = FILE_TIMEOUT_SECONDS,
    memory: int = WORKER_MEMORY_BYTES,
) -> Iterable[tuple[str, str, Any]]:
    """Yield (path, status, facts or message) for each task, in completion order."""
    # Largest files first (popped from the end), so no worker is left with one big file at the end.
    pending = sorted(tasks, key=lambda task: len(task.source))
    if not pending:
        return
    context = _context()
    workers = [_Worker(context, extractors, memory) for _ in range(max(1, min(jobs, len(pending))))]
    try:
        for worker in workers:
            if pending:
                worker.give(pending.pop(), timeout)
        while any(w.task for w in workers):
            busy = [w for w in workers if w.task]
            soonest = min(w.deadline for w in busy)
            ready = wait([w.conn for w in busy], timeout=max(0.0, soonest - time.monotonic()))
            for index, worker in enumerate(workers):
                if worker.task is None:
                    continue
                result: tuple[str, str, Any] | None = None
                replace = False
                if worker.conn in ready:
                    try:
                        result = worker.conn.recv()
                    except (EOFError, OSError):
                        code = worker.process.exitcode
                        worker.process.join(timeout=1)
                        code = worker.process.exitcode if code is None else code
                        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
                        result = (worker.task.path, "crashed", f"parser process died ({how}); file skipped")
                        replace = True
                elif time.monotonic() >= worker.deadline:
                    result = (worker.task.path, "timeout", f"parsing took longer than {timeout:g} s")
                    replace = True
                if result is None:
                    continue
                yield result
                worker.task = None
                if replace:
                    worker.stop(kill=True)
                    worker = workers[index] = _Worker(context, extractors, memory)
                if pending:
                    worker.give(pending.pop(), timeout)
    finally:
        for worker in workers:
            worker.stop(kill=worker.task is not None)


def default_cache_dir() -> Path:
    base = os.environ.get("PAYDOWN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "paydown")
    return Path(base)


class FactCache:
    """Facts of one file keyed by its content and the analyzers' versions, in paydown's cache folder."""

    def __init__(self, folder: Path | None, version: str) -> None:
        self.folder = folder
        self.version = version

    def key(self, path: str, source: str) -> str:
        digest = hashlib.sha256()
        digest.update(self.version.encode())
        # The path is part of the key: facts carry locations and module names derived from it.
        digest.update(path.encode("utf-8", "surrogatepass") + b"\0")
        digest.update(source.encode("utf-8", "surrogatepass"))
        return digest.hexdigest()

    def _file(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / "facts" / key[:2] / key[2:]

    def get(self, key: str) -> tuple[str, Any] | None:
        if self.folder is None:
            return None
        try:
            with self._file(key).open("rb") as handle:
                value = pickle.load(handle)
        except Exception:  # a corrupt entry unpickles into any error (OverflowError, TypeError...): re-parse
            return None
        if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str)):
            return None
        if value[0] == "ok" and not isinstance(value[1], dict):
            return None
        return value

    def put(self, key: str, value: tuple[str, Any]) -> None:
        if self.folder is None:
            return
        target = self._file(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f"{target.name}.{os.getpid()}.tmp")
            with temporary.open("wb") as handle:
                pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, target)
        except (OSError, pickle.PicklingError):
            pass  # a cache that cannot be written only costs speed


def extract_facts(
    files: Iterable[tuple[str, str]],
    extractors: Sequence[tuple[str, Extractor]],
    cache: FactCache,
    jobs: int,
    timeout: float = FILE_TIMEOUT_SECONDS,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, dict[str, Any]], list[Problem], dict[str, int]]:
    """Facts per analyzer per path for (path, source) pairs, parsing only what the cache does not hold;
    ``progress(done, total)`` is told after each parsed file."""
    facts: dict[str, dict[str, Any]] = {name: {} for name, _ in extractors}
    problems: list[Problem] = []
    keys: dict[str, str] = {}
    todo: list[Task] = []
    hits = 0

    def record(path: str, status: str, payload: Any) -> None:
        if status == "ok":
            for name, value in payload.items():
                facts[name][path] = value
        else:
            problems.append(Problem(path, status, payload))

    for path, source in files:
        key = keys[path] = cache.key(path, source)
        cached = cache.get(key)
        if cached is None:
            todo.append(Task(path, source, key))
        else:
            hits += 1
            record(path, *cached)
    for done, (path, status, payload) in enumerate(run_pool(todo, extractors, jobs, timeout), start=1):
        if progress is not None:
            progress(done, len(todo))
        # Timeouts and crashes may be the machine's fault, not the file's: never cache them.
        if status not in ("timeout", "crashed", "internal-error"):
            cache.put(keys[path], (status, payload))
        record(path, status, payload)
    return facts, problems, {"parsed": len(todo), "cached": hits}
