"""The `paydown` command line: scan a folder, list rules, explain one."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from enum import IntEnum
from pathlib import Path

from paydown import __version__, fix_cli, service_cli
from paydown.analyzers import ALL_RULES, rule_by_id, terminal
from paydown.analyzers.config import CONFIG_FILE, Config, ConfigError, canonical_names, load_config
from paydown.analyzers.finding import Priority
from paydown.analyzers.report import RENDERERS, render_sarif, render_text, rule_help
from paydown.analyzers.runner import Report, scan
from paydown.analyzers.summary import render_summary
from paydown.templating import environment


class Exit(IntEnum):
    """paydown's exit codes, as `paydown scan --help` states them."""

    CLEAN = 0
    DEBT_AT_THRESHOLD = 1
    USAGE_OR_FATAL = 2


EPILOG = ("exit codes: 0 no finding reaches --fail-on (or no --fail-on), 1 a finding reaches it, "
          "2 usage, configuration or fatal error; files that cannot be analysed are listed in the report's "
          "errors and do not change the exit code")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep its message, state it once
        self.print_usage(sys.stderr)
        self.exit(Exit.USAGE_OR_FATAL, f"paydown: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="paydown", description="Find the hidden technical debt of ML systems.", epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"paydown {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    scan_cmd = commands.add_parser("scan", help="scan a folder, or report on some files of a repository",
                                   epilog=EPILOG)
    scan_cmd.add_argument("paths", nargs="*", type=Path, default=[Path(".")], metavar="PATH",
                          help="a folder to scan (default: .), or files and folders of one repository: the whole "
                               "repository is analysed and only findings in them are reported (pre-commit)")
    scan_cmd.add_argument("--format", "--output-format", choices=("text", "json", "sarif"), default="text")
    scan_cmd.add_argument("--statistics", action="store_true", help="text: counts per rule instead of findings")
    scan_cmd.add_argument("--quiet", "-q", action="store_true", help="text: the findings only, no summary")
    scan_cmd.add_argument("--output", "-o", type=Path, help="write the report to this file")
    scan_cmd.add_argument("--config", type=Path, help="a .paydown.toml or pyproject.toml to use")
    scan_cmd.add_argument("--select", action="append", default=[], metavar="RULE_OR_KIND",
                          help="only these rule ids, names or kinds (repeat or comma-separate)")
    scan_cmd.add_argument("--ignore", action="append", default=[], metavar="RULE_OR_KIND",
                          help="leave out these rule ids, names or kinds")
    scan_cmd.add_argument("--fail-on", choices=[p.value for p in Priority],
                          help="exit 1 when a finding reaches this priority")
    scan_cmd.add_argument("--baseline", type=Path,
                          help="a saved JSON or SARIF report: report only findings not in it")
    scan_cmd.add_argument("--jobs", "-j", type=int, default=0, help="worker processes (default: all cores)")
    scan_cmd.add_argument("--no-cache", action="store_true", help="parse every file again")
    scan_cmd.add_argument("--save", action="store_true",
                          help="also store the scan for the web dashboard (needs the service extra)")
    scan_cmd.add_argument("--history", type=int, default=0, metavar="N",
                          help="with --save: first scan and store the last N commits too, for the trend chart")
    commands.add_parser("rules", help="list the rules")
    inputs = commands.add_parser("inputs", help="list the data sources the code reads and whether they are declared")
    inputs.add_argument("path", type=Path, help="the repository folder")
    inputs.add_argument("--format", choices=("text", "json"), default="text")
    inputs.add_argument("--init", action="store_true",
                        help="append [[inputs]] entries for undeclared sources to .paydown.toml (owner = \"TODO\")")
    inputs.add_argument("--jobs", "-j", type=int, default=0, help="worker processes (default: all cores)")
    inputs.add_argument("--no-cache", action="store_true", help="parse every file again")
    explain = commands.add_parser("explain", help="print one rule's documentation")
    explain.add_argument("rule", help="a rule id or name, in any case, e.g. PD201 or pd201")
    summary = commands.add_parser("summary", help="a Markdown summary of a saved JSON report (GitHub job summary)")
    summary.add_argument("report", type=Path, help="a report saved by `paydown scan --format json`")
    summary.add_argument("--baseline", type=Path, help="a saved JSON or SARIF report: list the findings not in it")
    fix_cli.add_command(commands)
    service_cli.add_commands(commands)
    return parser


class NoSuchPath(Exception):
    """A path on the command line that does not exist: a usage error, not a configuration one."""


def _say(macro: str, *args: object) -> None:
    print(getattr(environment().get_template("cli/messages.txt.j2").module, macro)(*args).strip(), file=sys.stderr)


def _names(values: Sequence[str]) -> tuple[str, ...]:
    names = tuple(name.strip() for value in values for name in value.split(",") if name.strip())
    known = canonical_names(ALL_RULES)
    unknown = [n for n in names if n.lower() not in known]
    if unknown:
        raise ConfigError("command line", "--select/--ignore", f"unknown rule or kind {unknown[0]!r}")
    return tuple(known[n.lower()] for n in names)


def _git_top(folder: Path) -> Path | None:
    """The top of the git work tree holding ``folder``, or None (no repository, or no git)."""
    try:
        done = subprocess.run(["git", "-C", str(folder), "rev-parse", "--show-toplevel"], capture_output=True,
                              text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(done.stdout.strip()).resolve() if done.returncode == 0 and done.stdout.strip() else None


def _target(paths: Sequence[Path]) -> tuple[Path, tuple[str, ...]]:
    """The folder to analyse and, when files were named, the repository-relative paths to report on.

    One folder is scanned as it is. Files (pre-commit passes the staged ones) are judged with their whole
    repository: its git top level, else the folders' common parent.
    """
    for path in paths:
        if not path.exists():
            raise NoSuchPath(str(path))
    if len(paths) == 1 and paths[0].is_dir():
        return paths[0], ()
    resolved = [path.resolve() for path in paths]
    folders = [path if path.is_dir() else path.parent for path in resolved]
    root = _git_top(folders[0])
    if root is None or not all(path.is_relative_to(root) for path in resolved):
        root = Path(os.path.commonpath(folders))
    return root, tuple(path.relative_to(root).as_posix() for path in resolved)


def _prefix_in_repository(root: Path) -> str:
    """``ml/`` when ``root`` is the folder ml of a git repository, else ``""``: SARIF names files from the top."""
    top = _git_top(root)
    if top is None:
        return ""
    inside = root.resolve().relative_to(top).as_posix() if root.resolve().is_relative_to(top) else "."
    return "" if inside == "." else f"{inside}/"


def _only(report: Report, selected: tuple[str, ...]) -> None:
    """Keep the findings (primary location), errors and warnings inside the selected files and folders."""
    def inside(path: str) -> bool:
        return any(s == "." or path == s or path.startswith(f"{s}/") for s in selected)

    report.findings = [f for f in report.findings if inside(f.location.path)]
    report.errors = [e for e in report.errors if inside(e.path)]
    report.warnings = [w for w in report.warnings if inside(w.path)]


def _progress() -> Callable[[int, int], None] | None:
    """A callback drawing `parsing N/M files` on stderr, only when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None
    macro = terminal.words().progress

    def show(done: int, total: int) -> None:
        end = "\r\033[K" if done == total else ""
        print(f"\r{macro(done, total).strip()}{end}", end="", file=sys.stderr, flush=True)

    return show


def _baseline_fingerprints(path: Path) -> set[str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(str(path), "", f"cannot read baseline: {err}") from None
    if isinstance(data, dict) and isinstance(data.get("findings"), list):
        return {f["fingerprint"] for f in data["findings"] if isinstance(f, dict) and "fingerprint" in f}
    if isinstance(data, dict) and isinstance(data.get("runs"), list):
        return {r.get("partialFingerprints", {}).get("paydown/v1") for run in data["runs"]
                for r in run.get("results", [])} - {None}
    raise ConfigError(str(path), "", "not a paydown JSON or SARIF report")


def _save(args: argparse.Namespace, root: Path, report: Report, config: Config) -> bool:
    """`--save [--history N]`: store the scan (and past ones) for the web page; False when it could not."""
    if args.history < 0:
        raise ConfigError("command line", "--history", "must be 0 or more commits")
    try:  # the service extra is optional: plain `paydown scan` works without it
        from paydown.service.settings import SettingsError
        from paydown.service.web.local import LocalScanError, save_from_cli
    except ImportError as err:
        print(f"paydown: --save needs the service extra ({err.name} is missing): "
              "pip install 'paydown[service]'", file=sys.stderr)
        return False
    try:
        saved, where = save_from_cli(root, report, config, history=args.history)
    except (LocalScanError, SettingsError) as err:
        print(f"paydown: could not save the scan: {err}", file=sys.stderr)
        return False
    print(f"paydown: saved {len(saved)} scan{'' if len(saved) == 1 else 's'} of {root.resolve()} to {where}; "
          "`paydown serve` shows them", file=sys.stderr)
    if args.history and len(saved) - 1 < args.history:
        _say("fewer_commits", len(saved) - 1, args.history, root.resolve())
    return True


def _scan(args: argparse.Namespace) -> int:
    root, selected = _target(args.paths)
    config: Config = load_config(root, ALL_RULES, args.config)
    changes: dict[str, object] = {}
    if args.select:
        changes["select"] = _names(args.select)
    if args.ignore:
        changes["ignore"] = (*config.ignore, *_names(args.ignore))
    if args.fail_on:
        changes["fail_on"] = Priority(args.fail_on)
    config = dataclasses.replace(config, **changes)  # type: ignore[arg-type]
    baseline = _baseline_fingerprints(args.baseline) if args.baseline else None
    if args.history and _git_top(root) is None:
        _say("not_in_git", root)
        return Exit.USAGE_OR_FATAL
    report: Report = scan(root, config, jobs=args.jobs or None, use_cache=not args.no_cache,
                          progress=_progress())
    if (args.save or args.history) and not _save(args, root, report, config):
        return Exit.USAGE_OR_FATAL
    if selected:  # after saving: the dashboard keeps the whole repository's scan
        _only(report, selected)
    if baseline is not None:
        before = len(report.findings)
        report.findings = [f for f in report.findings if f.fingerprint not in baseline]
        report.stats["baseline_hidden"] = before - len(report.findings)
    if args.format == "text":
        colour = args.output is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ
        width = terminal.terminal_width() if args.output is None else terminal.PIPE_WIDTH
        text = render_text(report, colour, width, quiet=args.quiet, statistics=args.statistics)
    elif args.format == "sarif":
        text = render_sarif(report, _prefix_in_repository(root))
    else:
        text = RENDERERS[args.format](report)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    threshold = config.fail_on
    if threshold and any(f.impact.priority.rank >= threshold.rank for f in report.findings):
        sys.stderr.write(terminal.layout(terminal.fail_on_lines(report.findings, threshold),
                                         terminal.terminal_width()))
        return Exit.DEBT_AT_THRESHOLD
    return Exit.CLEAN


def _summary(args: argparse.Namespace) -> int:
    try:
        report = json.loads(args.report.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(str(args.report), "", f"cannot read the report: {err}") from None
    if not isinstance(report, dict) or not isinstance(report.get("findings"), list):
        raise ConfigError(str(args.report), "", "not a paydown JSON report")
    baseline = _baseline_fingerprints(args.baseline) if args.baseline else None
    sys.stdout.write(render_summary(report, baseline))
    return Exit.CLEAN


def _rules() -> int:
    for rule in ALL_RULES:
        print(f"{rule.id}  {rule.name:<28} {rule.kind.value:<26} {rule.summary}")
    return Exit.CLEAN


def _inputs(args: argparse.Namespace) -> int:
    from paydown.analyzers.data_inputs import inventory as data_inventory
    from paydown.fixes.inputs import appended, check_writable
    from paydown.templating import render

    root: Path = args.path
    if not root.is_dir():
        raise ConfigError(str(root), "", "not a folder")
    config = load_config(root, ALL_RULES)
    inventory = data_inventory.inventory_of(root, config, jobs=args.jobs or os.cpu_count() or 1,
                                        use_cache=not args.no_cache)
    if args.init:
        entries = data_inventory.init_entries(inventory, config)
        target = root / CONFIG_FILE
        check_writable(root, config)  # shared with `paydown fix`, which declares inputs the same way
        new = appended(target.read_text(encoding="utf-8") if target.is_file() else "", entries)
        if entries:
            target.write_text(new, encoding="utf-8")
        print(f"paydown: {len(entries)} [[inputs]] entr{'y' if len(entries) == 1 else 'ies'} added to {target}",
              file=sys.stderr)
    if args.format == "json":
        sys.stdout.write(json.dumps({**inventory.to_dict(), "stats": inventory.stats()}, indent=2) + "\n")
    else:
        sys.stdout.write(render("inputs/inventory.txt.j2", inventory=inventory, stats=inventory.stats()))
    return Exit.CLEAN


def _explain(name: str) -> int:
    rule = rule_by_id(name)
    if rule is None:
        print(f"paydown: unknown rule {name!r} (see `paydown rules`)", file=sys.stderr)
        return Exit.USAGE_OR_FATAL
    sys.stdout.write(rule_help(rule))
    sys.stdout.write(fix_cli.fix_note(rule.id))
    return Exit.CLEAN


def _service(args: argparse.Namespace) -> int:
    try:
        from paydown.service.settings import SettingsError
    except ImportError as err:  # pragma: no cover - the service extra is not installed
        print(f"paydown: {args.command} needs the service extra: pip install 'paydown[service]' ({err})",
              file=sys.stderr)
        return Exit.USAGE_OR_FATAL
    try:
        return service_cli.run(args)
    except SettingsError as err:
        print(f"paydown: configuration error: {err}", file=sys.stderr)
        return Exit.USAGE_OR_FATAL
    except ImportError as err:
        print(f"paydown: {args.command} needs the service extra: pip install 'paydown[service]' ({err.name})",
              file=sys.stderr)
        return Exit.USAGE_OR_FATAL


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "scan":
            return _scan(args)
        if args.command == "rules":
            return _rules()
        if args.command == "inputs":
            return _inputs(args)
        if args.command == "fix":
            return fix_cli.run(args, _names)
        if args.command == "summary":
            return _summary(args)
        if args.command in service_cli.SERVICE_COMMANDS:
            return _service(args)
        return _explain(args.rule)
    except NoSuchPath as err:
        _say("no_such_path", err)
        return Exit.USAGE_OR_FATAL
    except ConfigError as err:
        print(f"paydown: configuration error: {err}", file=sys.stderr)
        return Exit.USAGE_OR_FATAL
    except OSError as err:
        print(f"paydown: error: {err}", file=sys.stderr)
        return Exit.USAGE_OR_FATAL
    except KeyboardInterrupt:
        return Exit.USAGE_OR_FATAL
