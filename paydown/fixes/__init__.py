"""`paydown fix`: pay down what a scan found, where it is safe. ``FIXES`` is the explicit registry of which rule
each fix serves; a finding of any other rule is left, and said so."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from paydown.analyzers.config import Config
from paydown.analyzers.finding import Finding

from ._index import PackageIndex, index_url
from ._model import Leave, Outcome, Workspace
from .actions import GitHubCommits, pin_action
from .inputs import declare_inputs
from .options import remove_unread_option
from .pins import PinContext, pin_dependency
from .switches import remove_dead_switch


@dataclass(frozen=True, slots=True)
class FixContext:
    """What fixes need besides the files: the configuration, the package index, and how to scan again."""

    config: Config
    pins: PinContext
    github: GitHubCommits
    jobs: int = 1
    use_cache: bool = True


Apply = Callable[[Workspace, FixContext, Sequence[Finding]], list[Outcome]]


@dataclass(frozen=True, slots=True)
class Fix:
    """One fix kind: the rules whose findings it pays down, what it does (for `paydown explain`), and how."""

    rules: tuple[str, ...]
    does: str
    apply: Apply


def _each(fix: Callable[[Workspace, FixContext, Finding], str]) -> Apply:
    """A fix applied finding by finding: one that cannot be made leaves that finding, with the reason."""
    def apply(ws: Workspace, ctx: FixContext, findings: Sequence[Finding]) -> list[Outcome]:
        outcomes = []
        for finding in findings:
            mark = ws.mark()
            try:
                outcomes.append(Outcome(finding, True, fix(ws, ctx, finding)))
            except Leave as why:
                ws.back_to(mark)  # a fix spanning files is made whole or not at all
                outcomes.append(Outcome(finding, False, str(why)))
        return outcomes
    return apply


def _declare(ws: Workspace, ctx: FixContext, findings: Sequence[Finding]) -> list[Outcome]:
    mark = ws.mark()
    try:
        notes = declare_inputs(ws, ctx.config, findings, ctx.jobs, ctx.use_cache)
    except Leave as why:
        ws.back_to(mark)
        return [Outcome(f, False, str(why)) for f in findings]
    return [Outcome(f, f.fingerprint in notes, notes.get(f.fingerprint, "not found again by `paydown inputs`"))
            for f in findings]


FIXES: tuple[Fix, ...] = (
    Fix(("PD201", "PD202"), "pins the requirement to the version a lock or constraints file in the repository gives, "
        "else to the newest release the current specifier allows on the package index (--index-url)",
        _each(lambda ws, ctx, finding: pin_dependency(ws, ctx.pins, finding))),
    Fix(("PD203",), "pins the action to the commit its tag points to, through the GitHub API (GITHUB_TOKEN or "
        "anonymous), keeping the tag in a comment: `uses: owner/repo@<40-hex sha> # v4`",
        _each(lambda ws, ctx, finding: pin_action(ws, ctx.github, finding))),
    Fix(("PD101",), "inlines the constant, keeps the branch that runs, deletes the one that never runs and the "
        "assignment once nothing reads it", _each(lambda ws, ctx, finding: remove_dead_switch(ws, finding))),
    Fix(("PD102",), "removes the option's add_argument call or click decorator",
        _each(lambda ws, ctx, finding: remove_unread_option(ws, finding))),
    Fix(("PD401",), "adds an [[inputs]] entry to .paydown.toml, with the owner left \"TODO\" to fill in", _declare),
)


def fix_for(rule_id: str) -> Fix | None:
    return next((fix for fix in FIXES if rule_id in fix.rules), None)


@dataclass(frozen=True, slots=True)
class FixRun:
    workspace: Workspace
    outcomes: tuple[Outcome, ...]


def fix_findings(root: Path, findings: Sequence[Finding], config: Config, *, index: str | None = None,
                 github_api: str | None = None, jobs: int = 1, use_cache: bool = True) -> FixRun:
    """Apply every registered fix to the findings it serves, in registry order, in memory: the caller writes
    (``run.workspace.write()``) or shows the diff. Findings without a fix are left with the reason."""
    ws = Workspace(root)
    github = GitHubCommits(github_api) if github_api else GitHubCommits()
    ctx = FixContext(config, PinContext(root, PackageIndex(index_url(index))), github, jobs, use_cache)
    outcomes: list[Outcome] = []
    for fix in FIXES:
        served = [f for f in findings if f.rule_id in fix.rules]
        if served:
            outcomes.extend(fix.apply(ws, ctx, served))
    outcomes.extend(Outcome(f, False, f"no automatic fix for {f.rule_id}") for f in findings
                    if fix_for(f.rule_id) is None)
    order = {f.fingerprint: n for n, f in enumerate(findings)}
    return FixRun(ws, tuple(sorted(outcomes, key=lambda o: order.get(o.finding.fingerprint, 0))))


__all__ = ["FIXES", "Fix", "FixRun", "Outcome", "fix_findings", "fix_for"]
