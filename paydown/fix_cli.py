"""`paydown fix`: scan a folder, then apply the safe fixes to what the scan found (or show them as a diff)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from paydown.analyzers import ALL_RULES
from paydown.analyzers.config import ConfigError, load_config
from paydown.analyzers.runner import scan
from paydown.fixes import fix_findings, fix_for
from paydown.fixes._index import DEFAULT_INDEX_URL, INDEX_URL_VARIABLE
from paydown.templating import render


def add_command(commands: Any) -> None:
    fix = commands.add_parser("fix", help="apply the safe fixes to what a scan finds (pin dependencies, remove dead "
                                          "switches and unread options, declare inputs)")
    fix.add_argument("path", type=Path, nargs="?", default=Path("."), metavar="PATH",
                     help="the folder to scan and fix (default: .)")
    fix.add_argument("--select", action="append", default=[], metavar="RULE_OR_KIND",
                     help="only fix these rule ids, names or kinds (repeat or comma-separate)")
    fix.add_argument("--diff", action="store_true", help="print the fixes as a unified diff and write nothing")
    fix.add_argument("--index-url", metavar="URL",
                     help=f"a PEP 691 JSON simple index to pin from (default: {INDEX_URL_VARIABLE}, else "
                          f"{DEFAULT_INDEX_URL})")
    fix.add_argument("--github-api-url", metavar="URL", help="the GitHub API to resolve action tags through "
                                                             "(default: https://api.github.com)")
    fix.add_argument("--config", type=Path, help="a .paydown.toml or pyproject.toml to use")
    fix.add_argument("--jobs", "-j", type=int, default=0, help="worker processes (default: all cores)")
    fix.add_argument("--no-cache", action="store_true", help="parse every file again")


def fix_note(rule_id: str) -> str:
    """The line `paydown explain` adds: whether `paydown fix` pays this rule's findings down, and how."""
    fix = fix_for(rule_id)
    return render("rules/fix.txt.j2", rule_id=rule_id, does=fix.does if fix else "")


def run(args: argparse.Namespace, names: Any) -> int:
    """``names`` reads --select as `paydown scan` does (the CLI's own helper, passed in to avoid a cycle)."""
    root: Path = args.path
    if not root.is_dir():
        raise ConfigError(str(root), "", "not a folder")
    config = load_config(root, ALL_RULES, args.config)
    if args.select:
        config = dataclasses.replace(config, select=names(args.select))
    report = scan(root, config, jobs=args.jobs or None, use_cache=not args.no_cache)
    run = fix_findings(root, report.findings, config, index=args.index_url, github_api=args.github_api_url,
                       jobs=args.jobs or 1,
                       use_cache=not args.no_cache)
    files = run.workspace.changed()
    if args.diff:
        sys.stdout.write(run.workspace.diff())
    else:
        run.workspace.write()
    sys.stderr.write(render("cli/fix.txt.j2", outcomes=run.outcomes, fixed=sum(o.fixed for o in run.outcomes),
                            files=files, diff=args.diff))
    return 0
