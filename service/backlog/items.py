"""Backlog items (one per thing a person fixes in one change) built from stored findings, and their issues' text."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any
from urllib.parse import quote

import yaml

from paydown.analyzers import rule_by_id
from paydown.analyzers.finding import Impact, Priority, Risk
from paydown.templating import render, template_dir

from ..github import IssueRecord
from ..markdown import language_of, md_block, md_code, md_inline, md_text

TITLE_MAX = 256  # GitHub's limit for an issue title

# Which findings are fixed together: the loose requirements of one file, the actions of one workflow, one flag,
# one clone group, one input source. The value says what identifies the group besides the family.
FAMILIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "PD201": ("requirements", ("path",)),
    "PD202": ("requirements", ("path",)),
    "PD203": ("actions", ("path",)),
    "PD204": ("images", ("path",)),
    "PD101": ("flag", ("path", "symbol")),
    "PD102": ("flag", ("path", "symbol")),
    "PD103": ("flag", ("path", "symbol")),
    "PD104": ("flag", ("path", "symbol")),
    "PD301": ("clone", ("path", "symbol", "paths")),
    "PD302": ("clone", ("path", "symbol", "paths")),
    "PD401": ("input", ("symbol",)),
    "PD402": ("input", ("symbol",)),
}


@dataclass(frozen=True)
class Item:
    """One backlog item: its findings (the stored dicts) and their impact summed as one change."""

    key: str
    family: str
    kind: str
    rule_ids: tuple[str, ...]
    title: str
    path: str
    line: int
    symbol: str
    fingerprints: tuple[str, ...]
    findings: tuple[dict[str, Any], ...]
    effort_hours: float
    risk: str
    risk_reason: str
    interest_hours_per_month: float
    priority: str
    score: float

    @property
    def marker(self) -> str:
        return item_marker(self.key)


def item_marker(key: str) -> str:
    return f"<!-- paydown:item={key} -->"


def rank_key(item: Item) -> tuple[float, str]:
    """Highest score first; the key breaks ties so the order never changes between runs."""
    return (-item.score, item.key)


def items_from_findings(findings: Sequence[dict[str, Any]]) -> list[Item]:
    """Group findings (Finding.to_dict data) into items, ranked highest score first."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for finding in findings:
        groups.setdefault(_group_identity(finding), []).append(finding)
    items = [_item(identity, members) for identity, members in groups.items()]
    return sorted(items, key=rank_key)


def _group_identity(finding: dict[str, Any]) -> tuple[str, ...]:
    rule = str(finding.get("rule", ""))
    family, parts = FAMILIES.get(rule, (f"rule:{rule}", ("fingerprint",)))
    return (family, *(_identity_part(finding, part) for part in parts))


def _identity_part(finding: dict[str, Any], part: str) -> str:
    if part != "paths":
        return str(finding.get(part, ""))
    # The files a clone group spans: two groups in one file with the same enclosing name (module-level code of a
    # notebook) stay apart, and moving lines or editing a copy keeps the item.
    return "\x1e".join(sorted({str(loc.get("path", "")) for loc in finding.get("locations") or []}))


def _item(identity: tuple[str, ...], members: list[dict[str, Any]]) -> Item:
    members = sorted(members, key=lambda f: (f.get("path", ""), f.get("line", 0), f.get("rule", ""),
                                             f.get("fingerprint", "")))
    first = members[0]
    impact = summed_impact(members)
    key = hashlib.sha256("\x1f".join(identity).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    item = Item(
        key=key, family=identity[0], kind=str(first.get("kind", "")),
        rule_ids=tuple(sorted({str(f.get("rule", "")) for f in members})), title="",
        path=str(first.get("path", "")), line=int(first.get("line", 1) or 1), symbol=str(first.get("symbol", "")),
        fingerprints=tuple(sorted(str(f.get("fingerprint", "")) for f in members)), findings=tuple(members),
        effort_hours=impact.effort_hours, risk=impact.risk.value, risk_reason=impact.risk_reason,
        interest_hours_per_month=impact.interest_hours_per_month, priority=impact.priority.value,
        score=impact.score,
    )
    return _with_title(item)


def summed_impact(findings: Sequence[dict[str, Any]]) -> Impact:
    """Effort and interest add up, risk is the worst; two rules on one spot (PD101 and PD103 on one flag) are one
    piece of work, so they count once, at the larger estimate."""
    spots: dict[tuple[str, int, str], tuple[float, float]] = {}
    worst: tuple[int, float, str, Risk] = (0, 0.0, "", Risk.LOW)
    for finding in findings:
        impact = finding.get("impact") or {}
        effort = float(impact.get("effort_hours", 0.0))
        interest = float(impact.get("interest_hours_per_month", 0.0))
        spot = (str(finding.get("path", "")), int(finding.get("line", 0) or 0), str(finding.get("symbol", "")))
        old = spots.get(spot, (0.0, 0.0))
        spots[spot] = (max(old[0], effort), max(old[1], interest))
        risk = Risk(impact.get("risk", "low"))
        candidate = (risk.weight, float(impact.get("score", 0.0)), str(impact.get("risk_reason", "")), risk)
        if candidate[:2] > worst[:2]:
            worst = candidate
    return Impact(
        effort_hours=round(sum(e for e, _ in spots.values()), 2),
        risk=worst[3],
        risk_reason=worst[2],
        interest_hours_per_month=round(sum(i for _, i in spots.values()), 2),
    )


def meets(priority: str, threshold: Priority) -> bool:
    return Priority(priority).rank >= threshold.rank


# ---------------------------------------------------------------- titles


def _with_title(item: Item) -> Item:
    return replace(item, title=item_title(item))


MODULE_SCOPE = "<module>"  # the duplication analyzer's name for code outside any function


def _named(symbol: str, code: Any) -> str:
    """A name for titles and bodies: module-level code has none, so say what it is rather than `<module>`."""
    return "module-level code" if symbol == MODULE_SCOPE else code(symbol)


def item_title(item: Item, *, code: Any = None) -> str:
    """The item's title from `templates/issues/title.txt.j2`; `code` formats names (plain text by default)."""
    code = code or _plain
    text = render("issues/title.txt.j2", **title_context(item), code=lambda name: _named(name, code))
    text = " ".join(text.split())
    return text if len(text) <= TITLE_MAX else text[: TITLE_MAX - 3].rstrip() + "..."


def title_context(item: Item) -> dict[str, Any]:
    paths: list[str] = []
    for finding in item.findings:
        for location in finding.get("locations") or [{"path": finding.get("path", "")}]:
            if location.get("path") and location["path"] not in paths:
                paths.append(location["path"])
    symbols = [str(f.get("symbol", "")) for f in item.findings]
    return {
        "family": item.family, "kind": item.kind, "rules": item.rule_ids, "path": item.path,
        "symbol": item.symbol, "short_symbol": _short_symbol(item), "symbols": symbols,
        "count": len({(f.get("symbol"), f.get("line")) for f in item.findings}), "paths": paths,
    }


def _short_symbol(item: Item) -> str:
    if item.family == "flag" and ":" in item.symbol:  # PD104: "config.yaml:train.lr"
        return item.symbol.split(":", 1)[1]
    if item.family in ("flag", "clone"):
        return item.symbol.rsplit(".", 1)[-1]
    if len(item.symbol) > 90:
        return item.symbol[:60] + "..." + item.symbol[-25:]
    return item.symbol


def _plain(text: str) -> str:
    return text


# ---------------------------------------------------------------- issue bodies

BEGIN = "<!-- paydown:begin -->"
END = "<!-- paydown:end -->"
BODY_MAX = 65_536  # GitHub's limit for an issue or comment body
SHOWN_LOCATIONS = 5  # locations quoted in a comment
_BLOB_SHA = re.compile(r"/blob/([0-9a-f]{40})/")
PAPER_URL = "https://papers.nips.cc/paper/5656-hidden-technical-debt-in-machine-learning-systems"


@dataclass(frozen=True)
class Links:
    """Where things live: the scanned commit on GitHub, the dashboard issue and paydown's web page."""

    web_url: str
    full_name: str
    sha: str
    public_url: str
    dashboard_number: int | None = None

    def repo(self, rest: str) -> str:
        return f"{self.web_url.rstrip('/')}/{quote(self.full_name)}/{rest}"

    def blob(self, location: dict[str, Any], sha: str | None = None) -> str:
        url = self.repo(f"blob/{sha or self.sha}/{quote(str(location.get('path', '')))}")
        if location.get("cell") is not None:  # a notebook renders without line anchors
            return url
        line = int(location.get("line", 1) or 1)
        end = max(int(location.get("end_line", line) or line), line)
        return f"{url}#L{line}" + (f"-L{end}" if end > line else "")

    def commit(self, sha: str | None = None) -> str:
        return self.repo(f"commit/{sha or self.sha}")

    def issue(self, number: int) -> str:
        return self.repo(f"issues/{number}")

    @property
    def page(self) -> str:
        return f"{self.public_url.rstrip('/')}/repos/{quote(self.full_name)}"

    @property
    def dashboard(self) -> str | None:
        return self.issue(self.dashboard_number) if self.dashboard_number else None


def github_length(text: str) -> int:
    """A body's length as GitHub may count it (UTF-16 code units): never less than Python's."""
    return len(text.encode("utf-16-le")) // 2


def location_link(location: dict[str, Any], links: Links, sha: str | None = None) -> str:
    line = int(location.get("line", 1) or 1)
    end = max(int(location.get("end_line", line) or line), line)
    where = f"line {line}" if end == line else f"lines {line}\u2013{end}"
    if location.get("cell") is not None:
        where = f"cell {location['cell']}, {where}"
    return f"[{md_code(str(location.get('path', '')))} {where}]({links.blob(location, sha)})"


def render_item_section(item: Item, links: Links, *, budget: int = BODY_MAX, sha: str | None = None) -> str:
    """paydown's part of an item's issue body, begin to end marker, at most `budget` characters: locations past
    the budget are cut as a whole and counted ("...and N more")."""
    entries = [_entry(finding) for finding in item.findings]
    total = sum(len(entry["locations"]) for entry in entries)
    return fit(lambda shown: _render_item(item, links, entries, shown, sha), total, budget)


def fit(render_shown: Callable[[int], str], total: int, budget: int) -> str:
    """`render_shown(n)` for the largest n <= total that fits in `budget` (n = 0 when nothing else does)."""
    text = render_shown(total)
    if github_length(text) <= budget:
        return text
    low, high = 0, total - 1
    while low < high:
        middle = (low + high + 1) // 2
        if github_length(render_shown(middle)) <= budget:
            low = middle
        else:
            high = middle - 1
    return render_shown(low)


def _entry(finding: dict[str, Any]) -> dict[str, Any]:
    locations = finding.get("locations") or [{"path": finding.get("path", ""), "line": finding.get("line", 1),
                                               "end_line": finding.get("end_line", 0)}]
    excerpt = finding.get("excerpt") or (locations[0].get("excerpt") if locations else None)
    return {"finding": finding, "locations": locations, "excerpt": excerpt}


def _render_item(item: Item, links: Links, entries: list[dict[str, Any]], shown: int, sha: str | None) -> str:
    views, left = [], shown
    for entry in entries:
        if left <= 0:
            break
        locations = entry["locations"][:left]
        left -= len(locations)
        views.append({
            "message": md_inline(_message(item, entry["finding"])),
            "locations": [{"link": location_link(loc, links, sha)} for loc in locations],
            "excerpt": md_block(entry["excerpt"], language_of(str(locations[0].get("path", ""))))
            if entry["excerpt"] else "",
        })
    total = sum(len(entry["locations"]) for entry in entries)
    return render("issues/finding.md.j2", **item_context(item, links, sha), entries=views, hidden=total - shown)


def _message(item: Item, finding: dict[str, Any]) -> str:
    message = str(finding.get("message", ""))
    # In a list of a file's loose pins, "how to fix" says it once; each line keeps only what is loose.
    if item.family in ("requirements", "actions", "images") and len(item.findings) > 1:
        return message.split("; ", 1)[0]
    return message


def item_context(item: Item, links: Links, sha: str | None = None) -> dict[str, Any]:
    """What every template about an item needs, every user-controlled string already made safe."""
    title = title_context(item)
    rules = [rule_by_id(rule_id) for rule_id in item.rule_ids]
    known = [rule for rule in rules if rule is not None]
    return {
        "begin": BEGIN, "end": END, "marker": item.marker, "key": item.key, "family": item.family,
        "kind": item.kind, "count": title["count"], "path": md_code(item.path),
        "symbol": _named(title["short_symbol"], md_code), "paths": [md_code(p) for p in title["paths"]],
        "title": md_text(item.title),
        "rules": [{"id": r.id, "name": r.name, "summary": md_inline(r.summary), "why": md_inline(r.why)}
                  for r in known],
        "fixes": _fixes(item, known),
        "impact": impact_view(item),
        "sha_code": md_code((sha or links.sha)[:7]), "commit_url": links.commit(sha),
        "paper_url": PAPER_URL, "page_url": links.page, "dashboard_url": links.dashboard,
    }


def _fixes(item: Item, rules: list[Any]) -> list[str]:
    # One finding: its own fix names the exact things to change. A group: the rule's general advice, once.
    if len(item.findings) == 1 and item.findings[0].get("fix"):
        return [md_inline(item.findings[0]["fix"])]
    return [md_inline(rule.fix) for rule in rules]


def hours(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text} h"


def impact_view(item: Item) -> dict[str, str]:
    return {
        "effort": hours(item.effort_hours), "interest": hours(item.interest_hours_per_month) + "/month",
        "risk": item.risk, "reason": md_inline(item.risk_reason, table=True), "priority": item.priority,
        "score": f"{item.score:g}",
    }


# ---------------------------------------------------------------- labels


@cache
def label_table() -> dict[str, Any]:
    return yaml.safe_load((template_dir() / "issues" / "labels.yaml").read_text(encoding="utf-8"))


def item_labels(item: Item) -> tuple[str, ...]:
    table = label_table()
    return (table["marker_label"], table["kind_label"].format(kind=item.kind),
            table["priority_label"].format(priority=item.priority))


def own_label(name: str) -> bool:
    table = label_table()
    return name == table["marker_label"] or any(
        name.startswith(table[key].split("{", 1)[0]) for key in ("kind_label", "priority_label"))


def labels_for(item: Item, current: IssueRecord | None) -> tuple[str, ...]:
    """paydown's labels added, its stale ones (an old priority) dropped, everyone else's kept. A `paydown` label a
    person removed stays removed: the store still knows the issue."""
    wanted = item_labels(item)
    if current is None:
        return wanted
    marker = label_table()["marker_label"]
    kept = [name for name in current.labels if not own_label(name) or name in wanted]
    added = [name for name in wanted if name not in kept and (name != marker or marker in current.labels)]
    return tuple(kept + added)


# ---------------------------------------------------------------- bodies


def own_section(body: str | None) -> str | None:
    """paydown's part of a body, begin marker to end marker, or None when a person deleted the markers."""
    body = body or ""
    start = body.find(BEGIN)
    end = body.find(END, start + len(BEGIN)) if start >= 0 else -1
    return body[start:end + len(END)] if start >= 0 and end >= 0 else None


def merge_body(body: str | None, section: str) -> str:
    """Replace paydown's part and keep everything people wrote around it (or put it back under their text)."""
    body = body or ""
    old = own_section(body)
    if old is not None:
        return body.replace(old, section.strip("\n"), 1)
    return f"{body.rstrip()}\n\n{section.strip()}\n" if body.strip() else section


def body_budget(current: IssueRecord | None) -> int:
    if current is None:
        return BODY_MAX - 64
    outside = github_length(current.body or "") - github_length(own_section(current.body) or "")
    return max(BODY_MAX - outside - 64, 4096)


def item_body(item: Item, current: IssueRecord | None, links: Links, *, keep_links: bool = True) -> str | None:
    """The body the issue should have, or None when it already has it. A section rendered at an older commit
    stays while it reads the same there: permalinks only move when the code they point at did."""
    old = own_section(current.body) if current is not None else None
    section = render_item_section(item, links, budget=body_budget(current))
    if old is not None and old.strip("\n") == section.strip("\n"):
        return None
    older = _BLOB_SHA.search(old or "")
    if keep_links and old is not None and older and older.group(1) != links.sha:
        again = render_item_section(item, links, budget=body_budget(current), sha=older.group(1))
        if again.strip("\n") == old.strip("\n"):
            return None
    return merge_body(current.body if current is not None else None, section)


def comment_body(template: str, key: str, marker: str, item: Item | None, links: Links) -> str:
    locations = [loc for f in (item.findings if item else ()) for loc in (f.get("locations") or [f])]
    return render(f"issues/{template}.md.j2", marker=marker, sha_code=md_code(links.sha[:7]),
                  commit_url=links.commit(), locations=[location_link(loc, links) for loc in
                                                        locations[:SHOWN_LOCATIONS]],
                  more=max(len(locations) - SHOWN_LOCATIONS, 0), key=key)


def comment_marker(kind: str, key: str, sha: str | None = None) -> str:
    return f"<!-- paydown:{kind}={key}" + (f"@{sha}" if sha else "") + " -->"
