"""The review's text: Markdown made safe, links to the commits and the templates' context for comments and checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from paydown.analyzers import rule_by_id
from paydown.templating import render

MESSAGE_LIMIT = 20_000  # a comment body must stay under GitHub's 65,536 characters, escaped and all
CLONE_RULES = frozenset({"PD301", "PD302"})
_MENTION = re.compile(r"@(?=[\w-])")
_REFERENCE = re.compile(r"(?<![\w&])#(?=\d)")
_BLANK_RUNS = re.compile(r"\n[ \t]*(?:\n[ \t]*)+\n")  # templates' conditional blocks leave blank runs
_PUNCTUATION = re.compile(r"[\\`*_\[\]<>&|~]")


# ---------------------------------------------------------------- markdown safety


def _inert(text: str) -> str:
    """No HTML comment can open or close (a marker cannot be forged), in code spans too."""
    return text.replace("<!--", "<\u200b!--").replace("-->", "-\u200b->")


def _plain(text: str) -> str:
    text = _MENTION.sub("@\u200b", _REFERENCE.sub("#\u200b", text))
    return _PUNCTUATION.sub(r"\\\g<0>", text)


def escape_markdown(text: str) -> str:
    """Text from a repository or an analyzer made inert in a Markdown body, on one line: no @mention, no #123
    link, no HTML or emphasis outside code spans, no HTML comment anywhere. Code spans it has stay code."""
    text = _inert(" ".join(str(text).split()))
    out, at = [], 0
    for opening in re.finditer(r"`+", text):
        if opening.start() < at:
            continue
        fence = opening.group()
        closing = re.compile(rf"(?<!`){fence}(?!`)").search(text, opening.end())
        if closing is None:
            continue
        out.append(_plain(text[at:opening.start()]))
        out.append(text[opening.start():closing.end()])
        at = closing.end()
    out.append(_plain(text[at:]))
    return "".join(out)


def code_span(text: str) -> str:
    """`text` as one code span whatever backticks it holds (CommonMark: a longer fence, padded)."""
    text = _inert(" ".join(str(text).split()))
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def hours(value: float) -> str:
    """3.5 -> "3.5 h", 2.0 -> "2 h"."""
    return f"{round(float(value), 2):g} h"


# ---------------------------------------------------------------- links and template context


@dataclass(frozen=True)
class _Links:
    web_url: str
    full_name: str
    head_sha: str
    base_sha: str

    def blob(self, path: str, line: int, end_line: int = 0, *, base: bool = False) -> str:
        sha = self.base_sha if base else self.head_sha
        anchor = f"#L{line}" + (f"-L{end_line}" if end_line > line else "")
        return f"{self.web_url}/{self.full_name}/blob/{sha}/{quote(path)}{anchor}"


def _rule_context(rule_id: str) -> dict[str, str]:
    rule = rule_by_id(rule_id)
    if rule is None:
        return {"id": rule_id, "name": rule_id, "summary": "", "why": ""}
    return {"id": rule.id, "name": rule.name, "summary": rule.summary, "why": rule.why}


def _finding_context(finding: dict[str, Any], links: _Links, *, base: bool = False, at: int = 0) -> dict[str, Any]:
    """What the templates show of a finding; links go to the commit it was found in (`base`: a fixed one).
    `at`: the location the comment is on (a clone's copy); the others are "the other copies"."""
    impact = finding.get("impact") or {}
    others = [{"where": f"{loc['path']}:{loc['line']}", "url": links.blob(loc["path"], loc["line"],
                                                                          loc.get("end_line", 0), base=base)}
              for index, loc in enumerate(finding.get("locations") or []) if index != at]
    return {
        "fingerprint": finding["fingerprint"], "rule": _rule_context(finding["rule"]), "kind": finding["kind"],
        "message": finding["message"][:MESSAGE_LIMIT], "path": finding["path"], "line": finding["line"],
        "url": links.blob(finding["path"], finding["line"], finding.get("end_line", 0), base=base),
        "priority": impact.get("priority", "low"), "effort": hours(impact.get("effort_hours", 0.0)),
        "risk": impact.get("risk", "low"), "risk_reason": impact.get("risk_reason", ""),
        "fix": finding.get("fix", ""), "others": others, "is_clone": finding["rule"] in CLONE_RULES,
    }


def _render(name: str, **context: Any) -> str:
    text = render(f"review/{name}", md=escape_markdown, code=code_span, hours=hours, **context)
    return _BLANK_RUNS.sub("\n\n", text)
