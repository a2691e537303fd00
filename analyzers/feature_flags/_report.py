"""Turns judged switches and options into findings: what the flag is, who reads it, what is dead, the cost."""

from __future__ import annotations

from collections.abc import Mapping

from ..finding import Finding, Impact, Location, Risk, Rule, new_finding
from ..notebook import cite_line
from ..snapshot import SourceFile
from ._config import UnreadKey
from ._hydra import UnreadHydraKey
from ._judge import Switch, UnreadOption, dead_lines
from ._model import Test

_SERVING = ("serve", "serving", "server", "api", "app", "inference", "predict", "deploy", "handler")
_SHOWN_READERS = 5


def _location(path: str, span: tuple[int, int, int, int]) -> Location:
    return Location(path, span[0], span[1], span[2], span[3])


def _lines(files: Mapping[str, SourceFile], path: str, start: int, end: int) -> str:
    """The dead code's lines, ' (lines a-b)'; in a notebook, lines of the cell the message has just named."""
    file = files.get(path)
    first, last = (file.cell_position(start), file.cell_position(end)) if file is not None else (None, None)
    if first is not None and last is not None:
        if first[0] != last[0]:
            return f" (line {first[1]} to {cite_line(files, path, end)})"
        start, end = first[1], last[1]
    return f" (lines {start}-{end})" if end > start else f" (line {start})"


def _branch(files: Mapping[str, SourceFile], path: str, test: Test, result: bool) -> str:
    where = cite_line(files, path, test.span[0])
    start, end = dead_lines(test, result)
    span = _lines(files, path, start, end) if start else ""
    if test.context == "while":
        return f"the `while` loop at {where} never runs{span}"
    kind = "ternary" if test.context == "ternary" else "`if`"
    if result:
        return f"the {kind} at {where} always takes its first branch; the else branch{span} never runs"
    return f"the {kind} at {where} never runs its body{span}"


def _impact(switch_lines: int, serving: bool, days: int | None = None, stale: bool = False) -> Impact:
    effort = round(min(8.0, 0.5 + switch_lines / 25), 2)
    large = switch_lines >= 40
    risk = Risk.HIGH if large or serving else Risk.MEDIUM
    reason = ("dead code in serving code paths" if serving else
              f"{switch_lines} dead lines kept alive" if large else "a switch that no longer switches")
    interest = 0.25 + min(switch_lines, 100) / 200
    if days is not None and stale:
        # Dead code costs more the longer it sits: nobody remembers what the other branch does (x2 at two years).
        interest *= 1 + min(days, 3 * 365) / 730
        reason += f", dead for {_age(days)}"
    return Impact(effort, risk, reason, round(interest, 2))


def _age(days: int) -> str:
    if days >= 365:
        years = days / 365
        return f"{years:.1f} years" if years < 10 else f"{round(years)} years"
    return f"{days} days"


def switch_finding(rule: Rule, switch: Switch, files: Mapping[str, SourceFile], days: int | None = None,
                   stale_days: int = 180) -> Finding:
    name = switch.binding.name
    readers = [cite_line(files, p, t.span[0]) for p, t, _ in switch.tests]
    branches = [_branch(files, p, t, o) for p, t, o in switch.tests]
    dead = sum(max(0, e - s + 1) for _, t, o in switch.tests for s, e in [dead_lines(t, o)] if s)
    serving = any(part in p.lower() for p, _, _ in switch.tests for part in _SERVING)
    shown = "; ".join(branches[:_SHOWN_READERS]) + ("; ..." if len(branches) > _SHOWN_READERS else "")
    stale = days is not None and days >= stale_days
    age = ""
    if days is not None:
        age = (f" Its line has not changed in git for {_age(days)}" +
               (": dead that long, it is a stale flag." if stale else "."))
    message = (f"`{name}` ({switch.qualified}) is always {switch.binding.value}, so it switches nothing: {shown}. "
               f"Read at {', '.join(readers)}. Nothing rebinds it: no other assignment, `global` or setattr outside "
               f"tests, no exec, globals()/vars() or __dict__ write into its {_namespace(switch)}, no star import "
               f"after it, and no template or notebook text makes it a setting.{age}")
    fix = (f"Delete `{name}` and keep only the branch that runs (inline the value {switch.binding.value}), or "
           f"read it from configuration if it must stay switchable.")
    return new_finding(
        rule, _location(switch.path, switch.binding.span), symbol=switch.qualified, message=message,
        impact=_impact(dead, serving, days, stale), anchor=switch.qualified,
        scope=switch.qualified.rpartition(".")[0], related=tuple(_location(p, t.span) for p, t, _ in switch.tests),
        fix=fix,
    )


def _namespace(switch: Switch) -> str:
    return "class" if switch.binding.scope else "module"


def option_finding(rule: Rule, unread: UnreadOption, module: str) -> Finding:
    option = unread.option
    shown = "/".join(option.flags)
    if option.framework == "argparse":
        where = (f"the parsed namespace was followed everywhere it goes (no escape to outside code, no computed "
                 f"getattr) and nothing there reads `args.{option.dest}` (nor getattr/vars with that name), and "
                 f"no environment variable {option.dest.upper()} stands in for it")
    elif option.framework in ("click", "typer"):
        where = f"the {option.framework} parameter `{option.dest}` is never used in `{option.scope}`"
    else:
        return _field_finding(rule, unread, module)
    passed = f"; {', '.join(unread.passed_by)} passes it, to no effect" if unread.passed_by else ""
    message = f"command-line option {shown} (dest `{option.dest}`) is never read: {where}{passed}"
    return new_finding(
        rule, _location(unread.path, option.span), symbol=option.dest, message=message,
        impact=Impact(0.5, Risk.MEDIUM, "an option that silently does nothing", 0.25),
        anchor=f"{option.framework}:{option.dest}", scope=f"{module}.{option.scope}" if option.scope else module,
    )


def _field_finding(rule: Rule, unread: UnreadOption, module: str) -> Finding:
    """A dataclass field parsed as an option, or a pydantic settings field, that nothing reads."""
    option = unread.option
    settings = option.framework == "pydantic BaseSettings"
    what = (f"setting `{option.dest}` of `{option.scope}` (filled from the environment variable {option.flags[0]} "
            f"by {option.framework})" if settings else
            f"option {option.flags[0]} (field `{option.dest}` of `{option.scope}`, parsed by {option.framework})")
    passed = f"; {', '.join(unread.passed_by)} passes it, to no effect" if unread.passed_by else ""
    message = (f"{what} is never read: every parsed instance was followed everywhere it goes (no escape to outside "
               f"code, no asdict/vars/replace, no computed getattr), the class has no base outside the repository "
               f"and no subclass, and nothing reads `.{option.dest}` (nor getattr with that name){passed}")
    fix = (f"Remove the field `{option.dest}` from `{option.scope}` (and the places that set it), or wire it to the "
           f"code it was meant to control.")
    return new_finding(
        rule, _location(unread.path, option.span), symbol=f"{option.scope}.{option.dest}", message=message,
        impact=Impact(0.5, Risk.MEDIUM, "an option that silently does nothing", 0.25),
        anchor=f"field:{option.scope}.{option.dest}", scope=f"{module}.{option.scope}" if module else option.scope,
        fix=fix,
    )


def config_key_finding(rule: Rule, unread: UnreadKey, files: Mapping[str, SourceFile]) -> Finding:
    dotted = ".".join(unread.keys)
    loads = ", ".join(f"{cite_line(files, path, line)} ({loader} into `{var}`)"
                      for path, line, loader, var in unread.loads[:5])
    message = (f"config key `{dotted}` in {unread.config} is never read: the file is loaded at {loads}, every use "
               f"of the loaded value is a literal key read, and no code reads `{dotted}` (or anything under it)")
    fix = f"Delete `{dotted}` from {unread.config}, or wire it to the code it was meant to configure."
    return new_finding(
        rule, Location(unread.config, unread.line), symbol=f"{unread.config}:{dotted}", message=message,
        impact=Impact(0.25, Risk.LOW, "a config key that silently does nothing", 0.1), anchor=dotted,
        scope=unread.config, related=tuple(Location(path, line) for path, line, _, _ in unread.loads), fix=fix,
    )


def hydra_key_finding(rule: Rule, unread: UnreadHydraKey, files: Mapping[str, SourceFile]) -> Finding:
    dotted = ".".join(unread.keys)
    mains = ", ".join(f"`{param}` of the @hydra.main at {cite_line(files, path, line)}"
                      for path, line, param in unread.mains[:5])
    message = (f"config key `{dotted}` in {unread.config} is never read: the composed config ({mains}) was followed "
               f"through every function it is passed to, no code reads `{dotted}` or anything under it, no "
               f"interpolation names it, and neither it nor a parent is handed whole to outside code "
               f"(`instantiate`, `to_container`, `**`, iteration or a computed key)")
    fix = (f"Delete `{unread.keys[-1]}` from {unread.config}, or wire it to the code it was meant to configure; "
           f"commented-out reads do not count.")
    return new_finding(
        rule, Location(unread.config, unread.line), symbol=f"{unread.config}:{dotted}", message=message,
        impact=Impact(0.25, Risk.LOW, "a config key that silently does nothing", 0.1), anchor=dotted,
        scope=unread.config, related=tuple(Location(path, line) for path, line, _ in unread.mains), fix=fix,
    )
