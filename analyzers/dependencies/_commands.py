"""`pip install` commands in Dockerfiles, shell scripts, workflows and notebooks, and the actions workflows use."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from packaging.requirements import InvalidRequirement

from ..finding import Problem
from ..snapshot import parse_yaml
from ._images import ImageUse, scan_dockerfile_images, workflow_images
from ._model import Declared, TextIndex, is_dev_section, is_sha
from ._requirements import classify, install_arguments, resolve

_SEPARATORS = frozenset({"&&", "||", ";", "|", "&", ";;", "|&"})
_PIP = re.compile(r"^(?:\S*/)?pip(?:\d+(?:\.\d+)*)?$")
_PYTHON = re.compile(r"^(?:\S*/)?python(?:\d+(?:\.\d+)*)?$")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_PREFIX_WORDS = frozenset({"sudo", "env", "exec", "time", "command", "nohup", "xargs"})
_COMMENT = re.compile(r"(?:^|(?<=\s))#[^\n]*", re.MULTILINE)
_CONTINUATION = re.compile(r"\\\r?\n")
_DOCKER_DIGEST = re.compile(r"@sha256:[0-9a-fA-F]{64}$")
_EXPRESSION = re.compile(r"\$?\{\{.*?\}\}|\{%.*?%\}")  # workflow `${{ }}`, Jinja/cookiecutter `{{ }}`, `{% %}`
_SKIPPED_NAMES = frozenset({"pip"})  # upgrading pip itself is packaging hygiene, not a dependency of the system


@dataclass(frozen=True, slots=True)
class ActionUse:
    path: str
    line: int
    action: str  # owner/repo[/path] or docker://image
    ref: str
    section: str


@dataclass(slots=True)
class Installs:
    """Requirements named on `pip install` lines (with their command's -c files), -r files, and actions."""

    declared: list[tuple[Declared, tuple[str, ...]]] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)
    actions: list[ActionUse] = field(default_factory=list)
    images: list[ImageUse] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def _words(command: str) -> list[tuple[str, int]]:
    """Shell words with their offsets in ``command`` (quotes removed; offsets found by searching)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars="&|;")
    lexer.whitespace_split = True
    lexer.commenters = ""  # comments were blanked already; `#egg=` and `#sha256=` fragments must survive
    try:
        words = list(lexer)
    except ValueError:
        words = command.split()
    located, cursor = [], 0
    for word in words:
        found = command.find(word, cursor)
        if found >= 0:
            cursor = found + len(word)
        located.append((word, found if found >= 0 else cursor))
    return located


def _install_start(words: list[str]) -> int | None:
    """Index of the first argument after `pip install` (`pip3`, `python -m pip`, `uv pip`), else None."""
    index = 0
    while index < len(words):
        word = words[index]
        if _PIP.match(word):
            index += 1
            break
        if _PYTHON.match(word) and "pip" in words[index:index + 4]:
            pip_at = words.index("pip", index)
            if words[pip_at - 1] != "-m":
                return None
            index = pip_at + 1
            break
        if word == "uv" and words[index + 1:index + 2] == ["pip"]:
            index += 2
            break
        if word in _PREFIX_WORDS or _ASSIGNMENT.match(word) or word.startswith("-"):
            index += 1
            continue
        return None
    else:
        return None
    while index < len(words) and words[index].startswith("-"):
        index += 1  # global options such as `--no-cache-dir` before the subcommand
    return index + 1 if index < len(words) and words[index] == "install" else None


def _commands(command: str) -> list[list[tuple[str, int]]]:
    groups: list[list[tuple[str, int]]] = [[]]
    for word, offset in _words(command):
        if word in _SEPARATORS:
            groups.append([])
        else:
            groups[-1].append((word, offset))
    return [group for group in groups if group]


def _targets(path: str, name: str) -> list[str]:
    """A file named on a command line, relative to the file holding the command or to the repository root:
    workflows and most scripts run from the root, Dockerfiles and notebooks from their own folder."""
    targets = {resolve(path, name), resolve("command", name)}
    return sorted(target for target in targets if target)


def scan_command(installs: Installs, path: str, index: TextIndex, command: str, base: int, section: str,
                 line_of: Any = None) -> None:
    """Record the requirements of every `pip install` in one shell command starting at offset ``base``."""
    dev = is_dev_section(section)
    # `${{ matrix.extra }}` or a template's `{{ cookiecutter.name }}` would split into three words; one `$` word of
    # the same length is skipped as unknown
    command = _EXPRESSION.sub(lambda m: "$" + "_" * (len(m.group()) - 1), command)
    for words in _commands(command):
        start = _install_start([word for word, _ in words])
        if start is None:
            continue
        args = words[start:]
        found = install_arguments([word for word, _ in args])
        installs.includes.extend(target for name in found.includes for target in _targets(path, name))
        constraints = tuple(target for name in found.constraints for target in _targets(path, name))
        for position, text in found.requirements:
            if "$" in text or "{{" in text or not text:
                continue  # a variable: its value is not in the repository
            offset = base + args[min(position, len(args) - 1)][1]
            line = line_of(offset) if line_of else index.line_of(offset)
            try:
                classified = classify(text)
            except InvalidRequirement as err:
                installs.problems.append(Problem(path, "invalid-requirement", f"line {line}: {err}"))
                continue
            if classified is None or classified[0] in _SKIPPED_NAMES:
                continue
            declared = Declared(path, line, classified[0], section, dev, classified[1])
            installs.declared.append((declared, constraints))


def _blank(text: str) -> str:
    """Comments and line continuations replaced by spaces, so offsets still point into the original text."""
    text = _COMMENT.sub(lambda m: " " * len(m.group()), text)
    return _CONTINUATION.sub(lambda m: " " * len(m.group()), text)


def _logical_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each logical line: physical lines joined while they end with a backslash."""
    spans, start, offset = [], 0, 0
    for physical in text.splitlines(keepends=True):
        offset += len(physical)
        if physical.rstrip("\r\n").endswith("\\"):
            continue
        spans.append((start, offset))
        start = offset
    if start < len(text):
        spans.append((start, len(text)))
    return spans


def scan_dockerfile(path: str, text: str) -> Installs:
    installs, index = Installs(images=scan_dockerfile_images(path, text)), TextIndex(text)
    for start, end in _logical_spans(text):
        segment = _blank(text[start:end])
        stripped = segment.lstrip()
        if stripped[:4].upper() != "RUN " and stripped[:4].upper() != "RUN\t":
            continue
        body_at = start + (len(segment) - len(stripped)) + 4
        body = segment[body_at - start:]
        if body.strip().startswith("["):
            try:
                argv = json.loads(body)
            except ValueError:
                argv = None
            if isinstance(argv, list) and all(isinstance(a, str) for a in argv):
                body = " ".join(shlex.quote(a) for a in argv)  # exec form: same words, the RUN line's offsets
                scan_command(installs, path, index, body, body_at, "dockerfile", lambda _o, s=start: index.line_of(s))
                continue
        scan_command(installs, path, index, body, body_at, "dockerfile")
    return installs


def scan_script(path: str, text: str, section: str = "script") -> Installs:
    """A shell script or Makefile: every logical line is a command (Make's `@`/`-` prefixes are blanked)."""
    installs, index = Installs(), TextIndex(text)
    for start, end in _logical_spans(text):
        segment = re.sub(r"^(\t)[@\-+]+", lambda m: m.group(1) + " " * (len(m.group()) - 1), _blank(text[start:end]))
        if "pip" in segment:
            scan_command(installs, path, index, segment, start, section)
    return installs


def scan_magics(path: str, magics: tuple[tuple[int, str], ...],
                cell_of: Callable[[int], tuple[int, int] | None] = lambda _line: None) -> Installs:
    """Notebook `%pip install` / `!pip install` lines; the location is the magic's source line, and a problem
    names the cell (``cell_of``: source line -> cell and line in it) since the joined source is nowhere to see."""
    installs, index = Installs(), TextIndex("")
    for line, text in magics:
        command = _blank(text.lstrip("%!"))
        if "pip" not in command:
            continue
        before = len(installs.problems)
        scan_command(installs, path, index, command, 0, "notebook", lambda _o, n=line: n)
        position = cell_of(line)
        if position is not None:
            installs.problems[before:] = [
                Problem(p.path, p.reason, f"cell {position[0]} line {position[1]}:{p.message.split(':', 1)[1]}",
                        position[0]) for p in installs.problems[before:]]
    return installs


def _action_use(path: str, index: TextIndex, value: str, section: str, cursor: int) -> tuple[ActionUse, int]:
    pattern = re.compile(rf"uses\s*:\s*[\"']?{re.escape(value)}")
    found = index.find(pattern, cursor)
    found = found if found >= 0 else index.find(pattern)
    action, _, ref = value.partition("@") if not value.startswith("docker://") else (value, "", "")
    if value.startswith("docker://"):
        digest = _DOCKER_DIGEST.search(value)
        ref = digest.group()[1:] if digest else ""
        action = value[:digest.start()] if digest else value
    return ActionUse(path, index.line_of(found), action, ref, section), max(found + 1, cursor)


def _scan_run(installs: Installs, path: str, index: TextIndex, script: str, cursor: int) -> int:
    """A `run:` script: each of its lines is found in the file in order, to map script offsets to lines."""
    script_index = TextIndex(script)
    lines: list[int] = []
    for raw in script.splitlines() or [""]:
        needle = raw.strip()
        found = index.find_text(needle, cursor) if needle else -1
        if found >= 0:
            cursor = found + len(needle)
        lines.append(index.line_of(found) if found >= 0 else (lines[-1] if lines else index.line_of(cursor)))

    def line_of(offset: int) -> int:
        return lines[min(script_index.line_of(offset), len(lines)) - 1]

    for start, end in _logical_spans(script):
        segment = _blank(script[start:end])
        if "pip" in segment:
            scan_command(installs, path, index, segment, start, "run", line_of)
    return cursor


def _scan_steps(installs: Installs, path: str, index: TextIndex, steps: Any, section: str, cursor: int) -> int:
    for step in steps if isinstance(steps, list) else ():
        if not isinstance(step, dict):
            continue
        uses, run = step.get("uses"), step.get("run")
        if isinstance(uses, str) and not uses.startswith("./") and "${{" not in uses:
            use, cursor = _action_use(path, index, uses, section, cursor)
            installs.actions.append(use)
        if isinstance(run, str):
            cursor = _scan_run(installs, path, index, run, cursor)
    return cursor


def scan_workflow(path: str, text: str) -> Installs:
    """A GitHub Actions workflow or composite action: `uses:` references and `run:` steps."""
    installs = Installs()
    data, problem = parse_yaml(path, text)
    if problem is not None:
        installs.problems.append(problem)
        return installs
    if not isinstance(data, dict):
        return installs
    index, cursor = TextIndex(text), 0
    installs.images.extend(workflow_images(path, text, data))
    jobs = data.get("jobs") if isinstance(data.get("jobs"), dict) else {}
    for job_id, job in jobs.items():
        if not isinstance(job, dict):
            continue
        uses = job.get("uses")
        if isinstance(uses, str) and not uses.startswith("./") and "${{" not in uses:
            use, cursor = _action_use(path, index, uses, f"jobs.{job_id}", cursor)
            installs.actions.append(use)
        cursor = _scan_steps(installs, path, index, job.get("steps"), f"jobs.{job_id}", cursor)
    runs = data.get("runs")
    if isinstance(runs, dict):
        _scan_steps(installs, path, index, runs.get("steps"), "runs", cursor)
    return installs


def action_looseness(use: ActionUse) -> str | None:
    """None when the action is fixed to a full commit SHA (or a docker image to a digest), else what is loose."""
    if use.action.startswith("docker://"):
        return None if use.ref.startswith("sha256:") else "docker image without a digest"
    if is_sha(use.ref):
        return None
    return f"mutable reference (@{use.ref})" if use.ref else "no reference"
