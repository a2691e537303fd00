"""Score paydown against the labelled evaluation corpus (issue 14).

    python benchmarks/corpus/score.py FOLDER [--repo NAME ...] [--kind KIND] [--json OUT] [--strict]

FOLDER holds the fetched git snapshots, one per repository, as ``FOLDER/owner+name/...`` (the git directory is
looked for inside, see ``find_git_dir``). Each manifest repository is exported at its pinned commit into a
temporary folder with its history, scanned with ``paydown scan --format json --no-cache``, and its findings are
matched against ``labels/OWNER__NAME.toml``. README.md in this folder explains the label format, the matching
and every figure printed. Standard library only (plus paydown's CLI, run as a subprocess).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_MANIFEST = HERE / "manifest.toml"
DEFAULT_LABELS = HERE / "labels"

KINDS: tuple[str, ...] = ("dead-flag", "unpinned-dependency", "duplicated-feature-logic", "undocumented-input")
SHAPES: frozenset[str] = frozenset(
    {
        "research-training-script",
        "competition-solution",
        "course-per-week-copies",
        "mlops-template",
        "mlops-framework-project",
        "train-serve-app",
        "notebook-heavy",
        "example-gallery",
        "hydra-omegaconf",
        "dataclass-arguments",
        "sql-feature-pipeline",
    }
)
VERDICTS: frozenset[str] = frozenset({"true", "false", "judgment"})
LINE_SLACK = 3
COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1"


class CorpusError(Exception):
    """A manifest or label file is malformed; the message names the file."""


# --- manifest ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RepoEntry:
    name: str
    commit: str
    shape: str
    why: str
    folder: str = ""

    @property
    def slug(self) -> str:
        """``owner__name``: the label file's stem."""
        return self.name.replace("/", "__")


def _check_keys(table: dict, allowed: set[str], required: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise CorpusError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
    missing = sorted(required - set(table))
    if missing:
        raise CorpusError(f"{where}: missing key(s) {', '.join(missing)}")


def _string(table: dict, key: str, where: str) -> str:
    value = table.get(key, "")
    if not isinstance(value, str):
        raise CorpusError(f"{where}: `{key}` must be a string, not {type(value).__name__}")
    return value


def load_manifest(path: Path) -> list[RepoEntry]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CorpusError(f"{path}: cannot read: {exc}") from exc
    _check_keys(data, {"repo"}, {"repo"}, str(path))
    entries: list[RepoEntry] = []
    seen: set[str] = set()
    for index, table in enumerate(data["repo"], start=1):
        where = f"{path} [[repo]] #{index}"
        _check_keys(table, {"name", "commit", "folder", "shape", "why"}, {"name", "commit", "shape", "why"}, where)
        entry = RepoEntry(
            name=_string(table, "name", where),
            commit=_string(table, "commit", where),
            shape=_string(table, "shape", where),
            why=_string(table, "why", where),
            folder=_string(table, "folder", where).strip("/"),
        )
        if entry.name.count("/") != 1:
            raise CorpusError(f"{where}: name {entry.name!r} is not owner/name")
        if not COMMIT_RE.match(entry.commit):
            raise CorpusError(f"{where} ({entry.name}): commit {entry.commit!r} is not 40 lowercase hex digits")
        if entry.shape not in SHAPES:
            raise CorpusError(
                f"{where} ({entry.name}): shape {entry.shape!r} is not one of {', '.join(sorted(SHAPES))}"
            )
        if entry.name in seen:
            raise CorpusError(f"{where}: {entry.name} is listed twice")
        seen.add(entry.name)
        entries.append(entry)
    return entries


# --- labels --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FindingLabel:
    index: int
    rule: str
    path: str
    verdict: str
    reason: str
    line: int | None = None
    symbol: str | None = None


@dataclass(frozen=True, slots=True)
class MissLabel:
    index: int
    kind: str
    path: str
    line: int
    reason: str
    rule: str | None = None


@dataclass(frozen=True, slots=True)
class Labels:
    file: Path
    repo: str
    commit: str
    reviewed: frozenset[str]
    findings: tuple[FindingLabel, ...]
    misses: tuple[MissLabel, ...]


def _line(table: dict, where: str, required: bool) -> int | None:
    if "line" not in table:
        if required:
            raise CorpusError(f"{where}: missing key line")
        return None
    value = table["line"]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CorpusError(f"{where}: `line` must be a positive integer, not {value!r}")
    return value


def _place(table: dict, where: str) -> str:
    """The matching key of a label's place: its path, and for a notebook the cell as paydown reports it
    (`path cell N`, N counting every cell as Jupyter shows it); lines are then lines inside that cell."""
    place = _string(table, "path", where)
    if "cell" in table:
        cell = table["cell"]
        if isinstance(cell, bool) or not isinstance(cell, int) or cell < 1:
            raise CorpusError(f"{where}: `cell` must be a positive integer, not {cell!r}")
        place += f" cell {cell}"
    return place


def load_labels(path: Path, entry: RepoEntry, rule_kinds: dict[str, str]) -> Labels:
    """Read and strictly validate one label file; every error names the file and the entry."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CorpusError(f"{path}: cannot read: {exc}") from exc
    _check_keys(data, {"repo", "commit", "reviewed", "finding", "miss"}, {"repo", "commit", "reviewed"}, str(path))
    if data["repo"] != entry.name:
        raise CorpusError(f"{path}: repo = {data['repo']!r}, but the file belongs to {entry.name!r}")
    if data["commit"] != entry.commit:
        raise CorpusError(
            f"{path}: commit {data['commit']!r} differs from the manifest's {entry.commit!r}; "
            "re-read the labels against the manifest's commit and update it"
        )
    reviewed = data["reviewed"]
    if not isinstance(reviewed, list) or any(kind not in KINDS for kind in reviewed):
        raise CorpusError(f"{path}: `reviewed` must be a list of kinds from {', '.join(KINDS)}; got {reviewed!r}")

    findings: list[FindingLabel] = []
    for index, table in enumerate(data.get("finding", []), start=1):
        where = f"{path} [[finding]] #{index}"
        _check_keys(
            table,
            {"rule", "path", "cell", "line", "symbol", "verdict", "reason"},
            {"rule", "path", "verdict", "reason"},
            where,
        )
        rule = _string(table, "rule", where)
        if kind_of_rule(rule, rule_kinds) is None:
            raise CorpusError(f"{where}: unknown rule {rule!r} (known: {', '.join(sorted(rule_kinds))})")
        verdict = _string(table, "verdict", where)
        if verdict not in VERDICTS:
            raise CorpusError(f"{where}: verdict {verdict!r} is not one of true, false, judgment")
        reason = _string(table, "reason", where).strip()
        if not reason:
            raise CorpusError(f"{where}: `reason` is empty; say in one line why")
        symbol = _string(table, "symbol", where) if "symbol" in table else None
        findings.append(
            FindingLabel(
                index, rule, _place(table, where), verdict, reason, _line(table, where, False), symbol
            )
        )

    misses: list[MissLabel] = []
    for index, table in enumerate(data.get("miss", []), start=1):
        where = f"{path} [[miss]] #{index}"
        _check_keys(
            table, {"kind", "rule", "path", "cell", "line", "reason"}, {"kind", "path", "line", "reason"}, where
        )
        kind = _string(table, "kind", where)
        if kind not in KINDS:
            raise CorpusError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
        rule = _string(table, "rule", where) if "rule" in table else None
        if rule is not None and kind_of_rule(rule, rule_kinds) != kind:
            raise CorpusError(f"{where}: rule {rule!r} is not a rule of kind {kind!r}")
        reason = _string(table, "reason", where).strip()
        if not reason:
            raise CorpusError(f"{where}: `reason` is empty; say in one line what paydown should have found")
        line = _line(table, where, True)
        assert line is not None
        misses.append(MissLabel(index, kind, _place(table, where), line, reason, rule))

    return Labels(path, entry.name, entry.commit, frozenset(reviewed), tuple(findings), tuple(misses))


def read_labels(labels_dir: Path, entry: RepoEntry, rule_kinds: dict[str, str]) -> Labels | None:
    """The validated labels of ``entry`` (``labels_dir/OWNER__NAME.toml``), or None when it has none yet."""
    path = labels_dir / f"{entry.slug}.toml"
    return load_labels(path, entry, rule_kinds) if path.is_file() else None


# --- snapshots and export --------------------------------------------------------------------------------


def _is_git_dir(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").exists()


def _has_commit(git_dir: Path, commit: str) -> bool:
    result = subprocess.run(
        ["git", "--git-dir", str(git_dir), "cat-file", "-e", f"{commit}^{{commit}}"],
        capture_output=True,
    )
    return result.returncode == 0


def find_git_dir(folder: Path, entry: RepoEntry) -> Path | None:
    """The git directory of ``entry`` under ``folder``, preferring one that holds the pinned commit.

    Looks in ``folder/owner+name`` (the fetch tool's layout; also ``owner__name`` and ``owner/name``) for a bare
    repository or a ``.git`` directory up to four levels down (``repo``, ``repo/.git``, ...).
    """
    owner, name = entry.name.split("/")
    bases = [folder / f"{owner}+{name}", folder / f"{owner}__{name}", folder / owner / name]
    candidates: list[Path] = []
    for base in bases:
        if not base.is_dir():
            continue
        if _is_git_dir(base):
            candidates.append(base)
        for depth in range(1, 5):
            for head in sorted(base.glob("/".join(["*"] * depth) + "/HEAD")):
                if _is_git_dir(head.parent) and head.parent not in candidates:
                    candidates.append(head.parent)
    for candidate in candidates:
        if _has_commit(candidate, entry.commit):
            return candidate
    return candidates[0] if candidates else None


@dataclass(slots=True)
class Export:
    root: Path
    method: str
    missing: list[str] = field(default_factory=list)
    lfs_pointers: list[str] = field(default_factory=list)
    submodules: list[str] = field(default_factory=list)


def _git(args: Sequence[str], cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, GIT_LFS_SKIP_SMUDGE="1", GIT_TERMINAL_PROMPT="0")
    command = ["git", "-c", "filter.lfs.smudge=", "-c", "filter.lfs.process=", "-c", "filter.lfs.required=false"]
    result = subprocess.run([*command, *args], cwd=cwd, env=env, capture_output=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr.decode(errors='replace').strip()}")
    return result


def _tree_entries(root: Path, commit: str) -> list[tuple[str, str, str]]:
    """(mode, object id, path) of every entry of the commit's tree, recursively."""
    listing = _git(["ls-tree", "-r", "-z", commit], cwd=root).stdout.decode("utf-8", errors="surrogateescape")
    entries = []
    for record in filter(None, listing.split("\0")):
        meta, path = record.split("\t", 1)
        mode, _kind, oid = meta.split()
        entries.append((mode, oid, path))
    return entries


def _present_objects(root: Path, oids: Iterable[str]) -> set[str]:
    unique = sorted(set(oids))
    if not unique:
        return set()
    result = subprocess.run(
        ["git", "cat-file", "--batch-check"], cwd=root, input="\n".join(unique).encode() + b"\n", capture_output=True
    )
    present = set()
    for line in result.stdout.decode().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] != "missing":
            present.add(parts[0])
    return present


def export_repository(git_dir: Path, commit: str, dest: Path) -> Export:
    """Clone ``git_dir`` into ``dest`` (history kept, objects shared) and check ``commit`` out.

    Snapshots can lack blobs (files of 4 MiB and more) and hold LFS pointers instead of content. When the
    checkout cannot materialise everything, every blob that exists is written out one by one and HEAD is
    detached at ``commit`` anyway, so git history (PD103) still works; what is absent is listed.
    """
    _git(["clone", "--quiet", "--shared", "--no-checkout", str(git_dir), str(dest)])
    export = Export(root=dest, method="checkout")
    checkout = _git(["checkout", "--quiet", "--detach", commit], cwd=dest, check=False)
    entries = _tree_entries(dest, commit)
    blobs = [(mode, oid, path) for mode, oid, path in entries if mode != "160000"]
    export.submodules = [path for mode, _oid, path in entries if mode == "160000"]
    present = _present_objects(dest, (oid for _mode, oid, _path in blobs))
    export.missing = [path for _mode, oid, path in blobs if oid not in present]
    if checkout.returncode != 0 or any(
        not (dest / path).exists() and not (dest / path).is_symlink() for _mode, oid, path in blobs if oid in present
    ):
        export.method = "per-file"
        _git(["update-ref", "--no-deref", "HEAD", commit], cwd=dest)
        for mode, oid, path in blobs:
            target = dest / path
            if oid not in present or target.exists() or target.is_symlink():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            content = _git(["cat-file", "blob", oid], cwd=dest).stdout
            if mode == "120000":
                target.symlink_to(content.decode("utf-8", errors="surrogateescape"))
            else:
                target.write_bytes(content)
                if mode == "100755":
                    target.chmod(0o755)
    for _mode, oid, path in blobs:
        target = dest / path
        if oid in present and target.is_file() and not target.is_symlink() and target.stat().st_size < 1024:
            with target.open("rb") as handle:
                if handle.read(len(LFS_POINTER_PREFIX)) == LFS_POINTER_PREFIX:
                    export.lfs_pointers.append(path)
    return export


def reuse_or_export(git_dir: Path, entry: RepoEntry, dest: Path) -> Export:
    """Use a kept export at ``dest`` when it is a clone at the right commit; otherwise export afresh."""
    if (dest / ".git").is_dir():
        head = _git(["rev-parse", "HEAD"], cwd=dest, check=False).stdout.decode().strip()
        if head == entry.commit:
            return Export(root=dest, method="kept")
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    return export_repository(git_dir, entry.commit, dest)


# --- scanning ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    repo: str
    rule: str
    kind: str
    path: str
    line: int
    symbol: str
    message: str
    related: tuple[tuple[str, int], ...] = ()  # the finding's other places (path [cell N], line), e.g. other reads


@dataclass(frozen=True, slots=True)
class Scan:
    findings: tuple[Finding, ...]
    errors: tuple[str, ...]
    seconds: float


def paydown_command(explicit: str | None) -> list[str]:
    if explicit:
        return [explicit]
    beside = Path(sys.executable).parent / "paydown"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("paydown")
    return [found] if found else [sys.executable, "-m", "paydown"]


# Rule ids are never reused and keep their family's kind (PD1xx dead flags, PD2xx dependencies, ...), so labels
# for a rule the scanned paydown does not have (a newer rule, when scoring an older build) still have a kind.
RULE_FAMILIES: dict[str, str] = {
    "1": "dead-flag",
    "2": "unpinned-dependency",
    "3": "duplicated-feature-logic",
    "4": "undocumented-input",
}


def kind_of_rule(rule: str, rule_kinds: dict[str, str]) -> str | None:
    """The kind of a rule id: as the scanned paydown lists it, else by its family; None for no PD rule id."""
    if rule in rule_kinds:
        return rule_kinds[rule]
    return RULE_FAMILIES.get(rule[2]) if re.fullmatch(r"PD\d{3}", rule) else None


def rule_kinds(paydown: Sequence[str]) -> dict[str, str]:
    """Rule id -> kind, from ``paydown rules`` (columns: id, name, kind, summary)."""
    output = subprocess.run([*paydown, "rules"], capture_output=True, text=True, check=True).stdout
    kinds = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 3 and re.fullmatch(r"PD\d{3}", parts[0]) and parts[2] in KINDS:
            kinds[parts[0]] = parts[2]
    if not kinds:
        raise RuntimeError("`paydown rules` listed no rules")
    return kinds


def scan(paydown: Sequence[str], entry: RepoEntry, target: Path, cache_dir: Path) -> Scan:
    report = cache_dir / "report.json"
    env = dict(os.environ, PAYDOWN_CACHE_DIR=str(cache_dir / "cache"))
    started = time.perf_counter()
    result = subprocess.run(
        [*paydown, "scan", str(target), "--format", "json", "--no-cache", "--output", str(report)],
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    if result.returncode not in (0, 1) or not report.is_file():
        raise RuntimeError(f"paydown scan exited {result.returncode}: {result.stderr.strip()[-2000:]}")
    data = json.loads(report.read_text(encoding="utf-8"))
    findings = tuple(
        Finding(
            repo=entry.name,
            rule=item["rule"],
            kind=item["kind"],
            path=item["path"] + (f" cell {item['cell']}" if item.get("cell") else ""),
            line=int(item["line"]),
            symbol=item.get("symbol") or "",
            message=item["message"],
            related=tuple(
                (loc["path"] + (f" cell {loc['cell']}" if loc.get("cell") else ""), int(loc["line"]))
                for loc in item.get("locations", [])[1:]
            ),
        )
        for item in data.get("findings", [])
    )
    errors = tuple(
        json.dumps(error, sort_keys=True) if not isinstance(error, str) else error for error in data.get("errors", [])
    )
    return Scan(findings, errors, seconds)


# --- matching ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one finding turned out to be: a verdict, or ``unlabelled``."""

    finding: Finding
    verdict: str  # true | false | judgment | unlabelled
    reason: str
    via: str  # "finding #3", "miss #2", ""


@dataclass(frozen=True, slots=True)
class Miss:
    repo: str
    kind: str
    rule: str
    path: str
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class Stale:
    """A [[finding]] label that matched no finding of this scan."""

    repo: str
    label: FindingLabel


def _symbol_fits(label: FindingLabel, finding: Finding) -> bool:
    return label.symbol is None or label.symbol == finding.symbol


def _target_lines(labels: Sequence[FindingLabel], findings: Sequence[Finding]) -> dict[int, int]:
    """For each label with a line: the finding line it binds to (its own, else the closest within ±3).

    A label binds to its own line when a fitting finding sits there. Otherwise it binds to the closest fitting
    finding line within LINE_SLACK that no other label names exactly (ties go to the earlier line), so small code
    motion keeps labels without letting one label swallow findings another label speaks for.
    """
    exact_lines = {(label.rule, label.path, label.line) for label in labels if label.line is not None}
    targets: dict[int, int] = {}
    for label in labels:
        if label.line is None:
            continue
        lines = sorted(
            {f.line for f in findings if f.rule == label.rule and f.path == label.path and _symbol_fits(label, f)}
        )
        if label.line in lines:
            targets[label.index] = label.line
            continue
        near = [
            line
            for line in lines
            if abs(line - label.line) <= LINE_SLACK and (label.rule, label.path, line) not in exact_lines
        ]
        if near:
            targets[label.index] = min(near, key=lambda line: (abs(line - label.line), line))
    return targets


def _specificity(label: FindingLabel, finding: Finding) -> tuple[int, int]:
    line_rank = 2 if label.line == finding.line else 1 if label.line is not None else 0
    return (line_rank, 1 if label.symbol is not None else 0)


def match(
    findings: Sequence[Finding], labels: Labels | None, kinds_by_rule: dict[str, str]
) -> tuple[list[Outcome], list[Miss], list[Stale]]:
    """Match one repository's findings to its labels: outcomes per finding, misses not found, stale labels."""
    if labels is None:
        return [Outcome(f, "unlabelled", "", "") for f in findings], [], []
    targets = _target_lines(labels.findings, findings)
    used: set[int] = set()
    found_misses: set[int] = set()
    outcomes: list[Outcome] = []
    for finding in findings:
        fitting = [
            label
            for label in labels.findings
            if label.rule == finding.rule
            and label.path == finding.path
            and _symbol_fits(label, finding)
            and (label.line is None or targets.get(label.index) == finding.line)
        ]
        if fitting:
            best = max(fitting, key=lambda label: (_specificity(label, finding), -label.index))
            used.add(best.index)
            outcomes.append(Outcome(finding, best.verdict, best.reason, f"finding #{best.index}"))
            continue
        miss = next(
            (
                m
                for m in labels.misses
                if m.kind == finding.kind
                and m.path == finding.path
                and abs(m.line - finding.line) <= LINE_SLACK
                and (m.rule is None or m.rule == finding.rule)
            ),
            None,
        )
        if miss is not None:
            found_misses.add(miss.index)
            outcomes.append(Outcome(finding, "true", f"(was a labelled miss) {miss.reason}", f"miss #{miss.index}"))
            continue
        outcomes.append(Outcome(finding, "unlabelled", "", ""))

    # A miss at the place of a right finding (labelled there after paydown learnt to find it), or among its other
    # places (a second read of a source reported once), is found, without counting a second finding.
    right = [o.finding for o in outcomes if o.verdict in ("true", "judgment")]
    for m in labels.misses:
        if m.index not in found_misses and any(
            f.kind == m.kind
            and (m.rule is None or m.rule == f.rule)
            and any(
                path == m.path and abs(line - m.line) <= LINE_SLACK
                for path, line in ((f.path, f.line), *f.related)
            )
            for f in right
        ):
            found_misses.add(m.index)
    misses = [
        Miss(labels.repo, m.kind, m.rule or "", m.path, m.line, m.reason)
        for m in labels.misses
        if m.index not in found_misses
    ]
    stale: list[Stale] = []
    for label in labels.findings:
        if label.index in used:
            continue
        stale.append(Stale(labels.repo, label))
        if label.verdict == "true":  # a right finding paydown no longer makes is a miss
            misses.append(
                Miss(
                    labels.repo,
                    kind_of_rule(label.rule, kinds_by_rule) or "",
                    label.rule,
                    label.path,
                    label.line or 0,
                    f"labelled true finding no longer reported ({label.reason})",
                )
            )
    return outcomes, misses, stale


# --- figures -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    findings: int = 0
    true: int = 0
    false: int = 0
    judgment: int = 0
    unlabelled: int = 0
    misses: int = 0
    recall_true: int = 0  # true findings in repositories whose labels reviewed this kind
    recall_misses: int = 0

    def add_outcome(self, outcome: Outcome, reviewed: bool) -> None:
        self.findings += 1
        if outcome.verdict == "unlabelled":
            self.unlabelled += 1
        else:
            setattr(self, outcome.verdict, getattr(self, outcome.verdict) + 1)
        if outcome.verdict == "true" and reviewed:
            self.recall_true += 1

    def add_miss(self, reviewed: bool) -> None:
        self.misses += 1
        if reviewed:
            self.recall_misses += 1

    def merge(self, other: Tally) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def judged(self) -> int:
        return self.true + self.false + self.judgment

    def strict_precision(self) -> float | None:
        return self.true / self.judged if self.judged else None

    def lenient_precision(self) -> float | None:
        return (self.true + self.judgment) / self.judged if self.judged else None

    def recall(self) -> float | None:
        denominator = self.recall_true + self.recall_misses
        return self.recall_true / denominator if denominator else None


@dataclass(slots=True)
class RepoResult:
    entry: RepoEntry
    status: str  # scanned | no snapshot | error
    detail: str = ""
    seconds: float = 0.0
    export_method: str = ""
    missing_files: list[str] = field(default_factory=list)
    lfs_pointers: list[str] = field(default_factory=list)
    submodules: list[str] = field(default_factory=list)
    scan_errors: list[str] = field(default_factory=list)
    labelled: bool = False
    reviewed: list[str] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    misses: list[Miss] = field(default_factory=list)
    stale: list[Stale] = field(default_factory=list)


def tally(results: Sequence[RepoResult], kinds: Sequence[str]) -> dict[str, Tally]:
    table = {kind: Tally() for kind in kinds}
    for result in results:
        for outcome in result.outcomes:
            if outcome.finding.kind in table:
                table[outcome.finding.kind].add_outcome(outcome, outcome.finding.kind in result.reviewed)
        for miss in result.misses:
            if miss.kind in table:
                table[miss.kind].add_miss(miss.kind in result.reviewed)
    return table


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render_table(table: dict[str, Tally]) -> list[str]:
    header = (
        "kind",
        "findings",
        "true",
        "false",
        "judgment",
        "unlabelled",
        "misses",
        "P strict",
        "P lenient",
        "recall",
    )
    rows = [header]
    total = Tally()
    for kind, counts in table.items():
        total.merge(counts)
        rows.append(_row(kind, counts))
    rows.append(_row("total", total))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for number, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(widths[i]) for i, cell in enumerate(row) if i]
        lines.append("  ".join(cells))
        if number == 0 or number == len(rows) - 2:
            lines.append("  ".join("-" * width for width in widths))
    return lines


def _row(name: str, counts: Tally) -> tuple[str, ...]:
    return (
        name,
        str(counts.findings),
        str(counts.true),
        str(counts.false),
        str(counts.judgment),
        str(counts.unlabelled),
        str(counts.misses),
        _ratio(counts.strict_precision()),
        _ratio(counts.lenient_precision()),
        _ratio(counts.recall()),
    )


def _where(finding: Finding) -> str:
    symbol = f" [{finding.symbol}]" if finding.symbol else ""
    return f"{finding.rule} {finding.repo} {finding.path}:{finding.line}{symbol}"


def _describe_error(error: str) -> str:
    try:
        data = json.loads(error)
    except json.JSONDecodeError:
        return error[:160]
    message = " ".join(str(data.get("message", "")).split())
    return f"{data.get('path', '?')}: {data.get('reason', 'error')}: {message[:120]}"


def render_report(results: Sequence[RepoResult], kinds: Sequence[str]) -> str:
    lines: list[str] = ["Per kind (all scanned repositories)", ""]
    lines += render_table(tally(results, kinds))
    labelled = [r for r in results if r.labelled]
    if labelled and len(labelled) != len([r for r in results if r.status == "scanned"]):
        lines += ["", f"Per kind (the {len(labelled)} labelled repositories only)", ""]
        lines += render_table(tally(labelled, kinds))

    false = [o for r in results for o in r.outcomes if o.verdict == "false"]
    lines += ["", f"False findings ({len(false)})"]
    lines += [f"  {_where(o.finding)}: {o.reason}" for o in false] or ["  none"]

    misses = [m for r in results for m in r.misses]
    lines += ["", f"Misses ({len(misses)})"]
    lines += [f"  {m.kind}{' ' + m.rule if m.rule else ''} {m.repo} {m.path}:{m.line}: {m.reason}" for m in misses] or [
        "  none"
    ]

    stale = [s for r in results for s in r.stale]
    if stale:
        lines += ["", f"Stale labels: [[finding]] entries that matched no finding ({len(stale)})"]
        lines += [
            f"  {s.repo} {s.label.rule} {s.label.path}:{s.label.line or '*'}"
            f" (#{s.label.index}, {s.label.verdict}): {s.label.reason}"
            for s in stale
        ]

    errors = [(r.entry.name, e) for r in results for e in r.scan_errors]
    if errors:
        lines += ["", f"Files paydown could not analyse ({len(errors)}; their findings, if any, are missing)"]
        lines += [f"  {name} {_describe_error(error)}" for name, error in errors]

    new = [o for r in results for o in r.outcomes if o.verdict == "unlabelled"]
    lines += ["", f"Unlabelled findings ({len(new)})"]
    lines += [f"  new: label it  {_where(o.finding)}  {o.finding.message}" for o in new] or ["  none"]

    lines += ["", "Repositories", ""]
    header = ("repository", "shape", "status", "seconds", "findings", "unlabelled", "labels", "notes")
    rows = [header]
    for r in results:
        notes = [r.detail] if r.detail else []
        if r.export_method and r.export_method != "checkout":
            notes.append(f"export: {r.export_method}")
        if r.missing_files:
            notes.append(
                f"{len(r.missing_files)} file(s) absent from the snapshot: {', '.join(r.missing_files[:5])}"
                + (" ..." if len(r.missing_files) > 5 else "")
            )
        if r.lfs_pointers:
            notes.append(f"{len(r.lfs_pointers)} LFS pointer(s)")
        if r.submodules:
            notes.append(f"{len(r.submodules)} submodule(s) not included")
        if r.scan_errors:
            notes.append(f"{len(r.scan_errors)} file(s) paydown could not analyse")
        unlabelled = sum(1 for o in r.outcomes if o.verdict == "unlabelled")
        rows.append(
            (
                r.entry.name + (f" ({r.entry.folder})" if r.entry.folder else ""),
                r.entry.shape,
                r.status,
                f"{r.seconds:.1f}" if r.status == "scanned" else "-",
                str(len(r.outcomes)) if r.status == "scanned" else "-",
                str(unlabelled) if r.status == "scanned" else "-",
                f"yes, {len(r.reviewed)}/{len(KINDS)} kinds read for misses" if r.labelled else "no",
                "; ".join(notes),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for number, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + "  " + row[-1])
        if number == 0:
            lines.append("  ".join("-" * width for width in widths) + "  -----")
    total_seconds = sum(r.seconds for r in results)
    lines += [
        "",
        f"Total scan time: {total_seconds:.1f} s over {sum(1 for r in results if r.status == 'scanned')} repositories",
    ]
    return "\n".join(lines)


def results_json(results: Sequence[RepoResult], kinds: Sequence[str]) -> dict:
    table = tally(results, kinds)
    total = Tally()
    for counts in table.values():
        total.merge(counts)

    def figures(counts: Tally) -> dict:
        return asdict(counts) | {
            "strict_precision": counts.strict_precision(),
            "lenient_precision": counts.lenient_precision(),
            "recall": counts.recall(),
        }

    return {
        "kinds": {kind: figures(counts) for kind, counts in table.items()} | {"total": figures(total)},
        "repositories": [
            {
                "name": r.entry.name,
                "commit": r.entry.commit,
                "folder": r.entry.folder,
                "shape": r.entry.shape,
                "status": r.status,
                "detail": r.detail,
                "seconds": round(r.seconds, 3),
                "export_method": r.export_method,
                "missing_files": r.missing_files,
                "lfs_pointers": r.lfs_pointers,
                "submodules": r.submodules,
                "scan_errors": r.scan_errors,
                "labelled": r.labelled,
                "reviewed": r.reviewed,
                "findings": [
                    asdict(o.finding) | {"verdict": o.verdict, "reason": o.reason, "via": o.via} for o in r.outcomes
                ],
                "misses": [asdict(m) for m in r.misses],
                "stale_labels": [asdict(s.label) for s in r.stale],
            }
            for r in results
        ],
    }


# --- driver --------------------------------------------------------------------------------------------


def score_repository(
    entry: RepoEntry,
    folder: Path,
    labels: Labels | None,
    paydown: Sequence[str],
    kinds_by_rule: dict[str, str],
    kinds: Sequence[str],
    keep_dir: Path | None,
) -> RepoResult:
    result = RepoResult(entry=entry, status="scanned")
    git_dir = find_git_dir(folder, entry)
    if git_dir is None:
        result.status, result.detail = "no snapshot", f"no git directory under {folder / entry.name.replace('/', '+')}"
        return result
    if not _has_commit(git_dir, entry.commit):
        result.status, result.detail = "no snapshot", f"{git_dir} lacks commit {entry.commit[:12]}"
        return result
    with tempfile.TemporaryDirectory(prefix="paydown-corpus-") as temp:
        work = Path(temp)
        dest = keep_dir / entry.slug if keep_dir else work / "export"
        try:
            export = reuse_or_export(git_dir, entry, dest)
        except RuntimeError as exc:
            result.status, result.detail = "error", f"export failed: {exc}"
            return result
        result.export_method = export.method
        result.missing_files, result.lfs_pointers, result.submodules = (
            export.missing,
            export.lfs_pointers,
            export.submodules,
        )
        target = dest / entry.folder if entry.folder else dest
        if not target.is_dir():
            result.status, result.detail = "error", f"folder {entry.folder!r} does not exist at {entry.commit[:12]}"
            return result
        try:
            scanned = scan(paydown, entry, target, work)
        except (RuntimeError, json.JSONDecodeError, KeyError) as exc:
            result.status, result.detail = "error", str(exc)
            return result
    result.seconds = scanned.seconds
    result.scan_errors = list(scanned.errors)
    findings = [f for f in scanned.findings if f.kind in kinds]
    outcomes, misses, stale = match(findings, labels, kinds_by_rule)
    result.outcomes = outcomes
    result.misses = [m for m in misses if m.kind in kinds]
    result.stale = [s for s in stale if kind_of_rule(s.label.rule, kinds_by_rule) in kinds]
    if labels is not None:
        result.labelled = True
        result.reviewed = sorted(labels.reviewed, key=KINDS.index)
    return result


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Score paydown's findings against the labelled corpus.")
    parser.add_argument("folder", type=Path, help="folder holding the fetched snapshots (FOLDER/owner+name/...)")
    parser.add_argument("--repo", action="append", default=[], metavar="NAME", help="only this owner/name (repeatable)")
    parser.add_argument("--kind", choices=KINDS, help="only findings, labels and misses of this kind")
    parser.add_argument("--json", type=Path, metavar="OUT", help="also write every figure and finding as JSON")
    parser.add_argument("--strict", action="store_true", help="exit 1 when any finding is unlabelled")
    parser.add_argument(
        "--manifest", type=Path, default=DEFAULT_MANIFEST, help="default: manifest.toml beside this script"
    )
    parser.add_argument("--labels", type=Path, default=DEFAULT_LABELS, help="default: labels/ beside this script")
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="export into DIR/owner__name and keep it (reused next time): open the files while labelling",
    )
    parser.add_argument("--paydown", help="the paydown executable (default: the one beside this Python)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        entries = load_manifest(args.manifest)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stray = sorted(p.name for p in args.labels.glob("*.toml") if p.stem not in {entry.slug for entry in entries})
    if stray:
        print(f"error: label file(s) for repositories not in the manifest: {', '.join(stray)}", file=sys.stderr)
        return 2
    unknown = sorted(set(args.repo) - {entry.name for entry in entries})
    if unknown:
        print(f"error: not in the manifest: {', '.join(unknown)}", file=sys.stderr)
        return 2
    if args.repo:
        entries = [entry for entry in entries if entry.name in args.repo]
    if not args.folder.is_dir():
        print(f"error: {args.folder} is not a folder", file=sys.stderr)
        return 2
    paydown = paydown_command(args.paydown)
    kinds_by_rule = rule_kinds(paydown)
    kinds = (args.kind,) if args.kind else KINDS
    keep_dir = args.keep.resolve() if args.keep else None

    try:  # every label file is validated before anything is scanned
        labels = {entry.name: read_labels(args.labels, entry, kinds_by_rule) for entry in entries}
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    results: list[RepoResult] = []
    for entry in entries:
        print(f"... {entry.name}", file=sys.stderr, flush=True)
        result = score_repository(
            entry, args.folder.resolve(), labels[entry.name], paydown, kinds_by_rule, kinds, keep_dir
        )
        if result.status != "scanned":
            print(f"    {result.status}: {result.detail}", file=sys.stderr)
        results.append(result)

    print(render_report(results, kinds))
    if args.json:
        args.json.write_text(json.dumps(results_json(results, kinds), indent=2) + "\n", encoding="utf-8")
    if args.strict and any(o.verdict == "unlabelled" for r in results for o in r.outcomes):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
