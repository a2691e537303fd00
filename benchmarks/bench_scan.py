"""Benchmark paydown's scan against bare ast and libcst parsing (and vulture, pylint) on one repository's files.

Usage: ``python benchmarks/bench_scan.py PATH [--jobs N]`` (N defaults to ``os.cpu_count()``). PATH is never
modified: the "one file changed" row runs on a copy made with ``shutil.copytree`` (``.git`` left out).

Every row covers the Python files that ``paydown.analyzers.snapshot.take_snapshot(PATH)`` selects (``.py``,
``.pyi`` and notebooks' code cells, honouring .gitignore and paydown's skipped folders); the vulture and pylint
rows are given the same ``.py``/``.pyi`` files (they cannot read notebooks).

Each measured step runs in a fresh subprocess of ``sys.executable`` (this script with a hidden ``--step``
option), so no row warms another's imports, caches or heap. Inside that subprocess the clock
(``time.perf_counter``) covers the step only: reading the files for the parse rows happens before it, while
the scan rows include paydown's own walk and read of the folder, as a real scan does. After the step the
subprocess reads ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (its own high-water mark) and
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` (the high-water mark of the largest of its terminated and
waited-for children: paydown's parser workers, or the multiprocessing pool's processes) and reports the
larger of the two as "peak MB". That is the peak of the biggest single process, not the sum over processes
running at once; forked children also count the parent's pages they share at fork time. Linux reports
ru_maxrss in KiB (macOS in bytes; both are handled).

The scan rows go through ``paydown.analyzers.runner.scan(Path(PATH), Config(), jobs=N)`` with
``PAYDOWN_CACHE_DIR`` pointing to a fresh temporary folder: "cold" starts with it empty, "warm" re-scans with
nothing changed, "warm, 1 file changed" re-scans the copy after a comment line was appended to one ``.py`` file.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.util
import io
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TARGET_COLD_RATIO = 2.0
TARGET_WARM_CHANGED_SECONDS = 0.5
TARGET_PEAK_MB = 400.0


@dataclass(frozen=True, slots=True)
class Sources:
    paths: list[str]  # repo-relative
    texts: list[str]

    @property
    def lines(self) -> int:
        return sum(text.count("\n") for text in self.texts)


@dataclass(slots=True)
class Row:
    name: str
    seconds: float | None = None
    files: int = 0
    lines: int = 0
    peak_mb: float | None = None
    note: str = ""


def load_sources(root: Path) -> Sources:
    from paydown.analyzers.snapshot import take_snapshot

    files = sorted(take_snapshot(root).python_files(), key=lambda f: f.path)
    return Sources([f.path for f in files], [f.text for f in files])


def plain_python_files(root: Path, sources: Sources) -> list[str]:
    return [str(root / path) for path in sources.paths if path.endswith((".py", ".pyi"))]


def _peak_mb() -> float:
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) * scale / 1024**2


def _libcst_ok(text: str) -> bool:
    import libcst

    try:
        libcst.parse_module(text)
    except Exception:  # a file libcst rejects still costs its parse time; count it, do not stop
        return False
    return True


def step_ast(root: Path, _jobs: int, _cache: str) -> tuple[float, int, int, str]:
    sources = load_sources(root)
    failed = 0
    started = time.perf_counter()
    for text in sources.texts:
        try:
            ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            failed += 1
    elapsed = time.perf_counter() - started
    return elapsed, len(sources.texts), sources.lines, f"{failed} failed" if failed else ""


def step_libcst_1(root: Path, _jobs: int, _cache: str) -> tuple[float, int, int, str]:
    sources = load_sources(root)
    started = time.perf_counter()
    failed = sum(not _libcst_ok(text) for text in sources.texts)
    elapsed = time.perf_counter() - started
    return elapsed, len(sources.texts), sources.lines, f"{failed} failed" if failed else ""


def step_libcst_n(root: Path, jobs: int, _cache: str) -> tuple[float, int, int, str]:
    sources = load_sources(root)
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    started = time.perf_counter()  # pool start-up is part of the cost, as it is for paydown's workers
    with multiprocessing.get_context(method).Pool(jobs) as pool:
        failed = sum(not ok for ok in pool.imap_unordered(_libcst_ok, sources.texts, chunksize=4))
        pool.close()
        pool.join()
    elapsed = time.perf_counter() - started
    return elapsed, len(sources.texts), sources.lines, f"{failed} failed" if failed else ""


def step_scan(root: Path, jobs: int, cache: str) -> tuple[float, int, int, str]:
    os.environ["PAYDOWN_CACHE_DIR"] = cache
    from paydown.analyzers.config import Config
    from paydown.analyzers.runner import scan

    started = time.perf_counter()
    report = scan(root, Config(), jobs=jobs)
    elapsed = time.perf_counter() - started
    stats = report.stats
    groups = sum(1 for f in report.findings if f.kind.value == "duplicated-feature-logic")
    note = (f"parsed {stats.get('parsed')}, cached {stats.get('cached')}, {len(report.findings)} findings "
            f"({groups} clone groups), {len(report.errors)} errors; judge {stats['seconds']['judge']} s")
    return elapsed, int(stats.get("python_files", 0)), int(stats.get("lines", 0)), note


def step_duplication(root: Path, jobs: int, cache: str) -> tuple[float, int, int, str]:
    """The duplication judgment alone (clone search, roles, messages) on facts extracted before the clock."""
    os.environ["PAYDOWN_CACHE_DIR"] = cache
    from paydown.analyzers import duplication
    from paydown.analyzers.config import Config
    from paydown.analyzers.runner import analyze
    from paydown.analyzers.snapshot import take_snapshot

    snapshot = take_snapshot(root)
    report = analyze(snapshot, Config(), jobs=jobs, use_cache=False)  # fills snapshot.facts
    started = time.perf_counter()
    result = duplication.ANALYZER.find(snapshot, Config())
    elapsed = time.perf_counter() - started
    parse = report.stats["seconds"]["parse"]
    note = (f"{len(result.findings)} groups from {result.stats['blocks']} blocks; parse + extract took {parse} s "
            f"({jobs} proc), judgment {elapsed / max(parse, 1e-9):.1%} of it")
    return elapsed, int(report.stats.get("python_files", 0)), int(report.stats.get("lines", 0)), note


def step_vulture(root: Path, _jobs: int, _cache: str) -> tuple[float, int, int, str]:
    import vulture  # type: ignore[import-not-found]

    sources = load_sources(root)
    files = plain_python_files(root, sources)
    lines = sum(t.count("\n") for p, t in zip(sources.paths, sources.texts, strict=True) if p.endswith((".py", ".pyi")))
    checker = vulture.Vulture()
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        checker.scavenge(files)
        unused = len(checker.get_unused_code())
    elapsed = time.perf_counter() - started
    return elapsed, len(files), lines, f"{unused} unused items"


def step_pylint(root: Path, _jobs: int, _cache: str) -> tuple[float, int, int, str]:
    from pylint.lint import Run  # type: ignore[import-not-found]

    sources = load_sources(root)
    files = plain_python_files(root, sources)
    lines = sum(t.count("\n") for p, t in zip(sources.paths, sources.texts, strict=True) if p.endswith((".py", ".pyi")))
    output = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(io.StringIO()):
        Run(["--disable=all", "--enable=duplicate-code", "--score=n", "--persistent=n", *files], exit=False)
    elapsed = time.perf_counter() - started
    duplicates = output.getvalue().count("R0801")
    return elapsed, len(files), lines, f"{duplicates} duplicate blocks"


def jscpd_command() -> str | None:
    """jscpd from $PAYDOWN_BENCH_JSCPD or PATH (npm's jscpd; not a project dependency)."""
    return os.environ.get("PAYDOWN_BENCH_JSCPD") or shutil.which("jscpd")


def step_jscpd(root: Path, _jobs: int, _cache: str) -> tuple[float, int, int, str]:
    sources = load_sources(root)
    files = plain_python_files(root, sources)
    lines = sum(t.count("\n") for p, t in zip(sources.paths, sources.texts, strict=True) if p.endswith((".py", ".pyi")))
    command = jscpd_command()
    assert command is not None
    with tempfile.TemporaryDirectory(prefix="paydown-jscpd-") as out:
        started = time.perf_counter()
        subprocess.run([command, "--silent", "--format", "python", "--min-lines", "5", "--reporters", "json",
                        "--output", out, "--ignore", "**/.git/**", str(root)], capture_output=True, check=False)
        elapsed = time.perf_counter() - started
        try:
            report = json.loads((Path(out) / "jscpd-report.json").read_text(encoding="utf-8"))
            clones = f"{len(report.get('duplicates', []))} clones"
        except (OSError, ValueError):
            clones = "no report written"
    return elapsed, len(files), lines, clones


STEPS: dict[str, Callable[[Path, int, str], tuple[float, int, int, str]]] = {
    "ast": step_ast,
    "libcst-1": step_libcst_1,
    "libcst-n": step_libcst_n,
    "scan": step_scan,
    "duplication": step_duplication,
    "vulture": step_vulture,
    "pylint": step_pylint,
    "jscpd": step_jscpd,
}


def measure(name: str, step: str, root: Path, jobs: int, cache: str = "") -> Row:
    """Run one step in a fresh subprocess and read back its figures."""
    command = [sys.executable, os.path.abspath(__file__), str(root), "--jobs", str(jobs), "--step", step,
               "--cache", cache]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    last = done.stdout.strip().splitlines()[-1:] if done.stdout.strip() else []
    try:
        data: dict[str, Any] = json.loads(last[0])
    except (IndexError, json.JSONDecodeError):
        reason = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return Row(name, note=f"failed: {reason}")
    return Row(name, data["seconds"], data["files"], data["lines"], data["peak_mb"], data["note"])


def _append_comment(root: Path, sources: Sources) -> str:
    target = next(path for path in sources.paths if path.endswith(".py"))
    with (root / target).open("a", encoding="utf-8") as handle:
        handle.write("\n# paydown benchmark: one changed line\n")
    return target


def _rate(count: int, seconds: float | None) -> str:
    return f"{count / seconds:,.0f}" if seconds else "-"


def print_table(rows: list[Row]) -> None:
    header = f"{'step':<34} {'seconds':>9} {'files':>6} {'files/s':>9} {'lines/s':>11} {'peak MB':>8}  note"
    print(header)
    print("-" * len(header))
    for row in rows:
        if row.seconds is None:
            print(f"{row.name:<34} {'-':>9} {'-':>6} {'-':>9} {'-':>11} {'-':>8}  {row.note}")
            continue
        peak = f"{row.peak_mb:,.0f}" if row.peak_mb is not None else "-"
        print(f"{row.name:<34} {row.seconds:>9.3f} {row.files:>6} {_rate(row.files, row.seconds):>9} "
              f"{_rate(row.lines, row.seconds):>11} {peak:>8}  {row.note}")


def _verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def print_targets(by_name: dict[str, Row], jobs: int) -> None:
    cold = by_name["paydown scan, cold"].seconds
    parallel = by_name[f"libcst.parse_module, {jobs} proc"].seconds
    changed = by_name["paydown scan, warm, 1 file changed"].seconds
    scan_peaks = [row.peak_mb for name, row in by_name.items() if name.startswith("paydown scan")]
    print()
    if cold is not None and parallel:
        ratio = cold / parallel
        print(f"cold scan / libcst parse on {jobs} processes = {ratio:.2f}x "
              f"(target <= {TARGET_COLD_RATIO:g}x): {_verdict(ratio <= TARGET_COLD_RATIO)}")
    else:
        print("cold scan / libcst parse ratio: not measured (a step failed)")
    if changed is not None:
        print(f"warm re-scan after one change = {changed:.3f} s "
              f"(target < {TARGET_WARM_CHANGED_SECONDS:g} s): {_verdict(changed < TARGET_WARM_CHANGED_SECONDS)}")
    else:
        print("warm re-scan after one change: not measured (the step failed)")
    if scan_peaks and all(peak is not None for peak in scan_peaks):
        peak = max(p for p in scan_peaks if p is not None)
        print(f"peak memory of the scans = {peak:,.0f} MB (target < {TARGET_PEAK_MB:g} MB): "
              f"{_verdict(peak < TARGET_PEAK_MB)}")
    else:
        print("peak memory of the scans: not measured (a step failed)")


def benchmark(root: Path, jobs: int) -> None:
    sources = load_sources(root)
    print(f"{root}: {len(sources.paths)} Python files, {sources.lines:,} lines; {jobs} processes; "
          f"Python {sys.version.split()[0]}")
    print()
    rows = [
        measure("ast.parse, 1 proc", "ast", root, jobs),
        measure("libcst.parse_module, 1 proc", "libcst-1", root, jobs),
        measure(f"libcst.parse_module, {jobs} proc", "libcst-n", root, jobs),
    ]
    with tempfile.TemporaryDirectory(prefix="paydown-bench-") as scratch:
        cache = str(Path(scratch) / "cache")
        copy = Path(scratch) / "repo"
        shutil.copytree(root, copy, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        rows.append(measure("paydown scan, cold", "scan", root, jobs, cache))
        rows.append(measure("duplication judgment alone", "duplication", root, jobs, str(Path(scratch) / "dup")))
        rows.append(measure("paydown scan, warm", "scan", root, jobs, cache))
        changed = _append_comment(copy, sources)  # the copy shares relative paths, hence the warm cache
        row = measure("paydown scan, warm, 1 file changed", "scan", copy, jobs, cache)
        row.note = f"{row.note}; changed {changed}"
        rows.append(row)
    for tool, step, label in (("vulture", "vulture", "vulture (baseline)"),
                              ("pylint", "pylint", "pylint duplicate-code (baseline)")):
        if importlib.util.find_spec(tool) is None:
            rows.append(Row(label, note="not installed"))
        else:
            rows.append(measure(label, step, root, jobs))
    if jscpd_command() is None:
        rows.append(Row("jscpd (baseline)", note="not installed"))
    else:
        rows.append(measure("jscpd (baseline)", "jscpd", root, jobs))
    print_table(rows)
    print_targets({row.name: row for row in rows}, jobs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("path", type=Path, help="the repository folder to measure (never modified)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes (default: CPUs)")
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--cache", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root: Path = args.path.resolve()
    if not root.is_dir():
        parser.error(f"{args.path} is not a folder")
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.step:
        seconds, files, lines, note = STEPS[args.step](root, args.jobs, args.cache)
        print(json.dumps({"seconds": seconds, "files": files, "lines": lines, "peak_mb": _peak_mb(), "note": note}))
        return 0
    benchmark(root, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
