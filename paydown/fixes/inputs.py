"""Declare undocumented inputs (PD401): append `[[inputs]]` entries for them to .paydown.toml, as
`paydown inputs --init` does, with the owner left "TODO" for the team to fill in."""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path

from paydown.analyzers import ALL_RULES
from paydown.analyzers.config import CONFIG_FILE, Config, ConfigError, parse_config
from paydown.analyzers.data_inputs import inventory as data_inventory
from paydown.analyzers.finding import Finding
from paydown.templating import render

from ._model import Leave, Workspace


def check_writable(root: Path, config: Config) -> None:
    """ConfigError when entries must not be added to .paydown.toml: a link out of the folder or an oversized
    file is never written through, and a configuration in pyproject.toml would be replaced by a new file."""
    refused = next((p for p in config.problems if p.path == CONFIG_FILE), None)
    if refused is not None:
        raise ConfigError(CONFIG_FILE, "", f"{refused.message}; no entries added")
    if not (root / CONFIG_FILE).is_file() and config.source:
        raise ConfigError(config.source, "inputs", f"add the entries there; {CONFIG_FILE} would replace it")


def appended(old: str, entries: Sequence[dict[str, str]]) -> str:
    """.paydown.toml's text with ``entries`` appended, read back first: never a file paydown cannot read."""
    new = old + ("\n" if old and not old.endswith("\n") else "") + render("inputs/init.toml.j2", entries=entries)
    parse_config(tomllib.loads(new), CONFIG_FILE, ALL_RULES)
    return new


def declare_inputs(ws: Workspace, config: Config, findings: Sequence[Finding], jobs: int, use_cache: bool
                   ) -> dict[str, str]:
    """Append entries for the findings' sources; the note for each finding declared, by fingerprint."""
    inventory = data_inventory.inventory_of(ws.root, config, jobs=jobs, use_cache=use_cache)
    patterns = {source.uri: source.pattern for source in inventory.sources}
    wanted = {patterns.get(f.symbol, f.symbol) for f in findings}
    entries = [e for e in data_inventory.init_entries(inventory, config) if e["uri"] in wanted]
    if not entries:
        raise Leave("no undeclared source to add (already declared, or not found again)")
    try:
        check_writable(ws.root, config)
        if not (ws.root / CONFIG_FILE).is_file():
            ws.create(CONFIG_FILE)
        ws.update(CONFIG_FILE, appended(ws.read(CONFIG_FILE), entries))
    except ConfigError as err:
        raise Leave(str(err)) from None
    added = {e["uri"]: e["name"] for e in entries}
    return {f.fingerprint: f"declared as [[inputs]] {added[patterns.get(f.symbol, f.symbol)]!r} in {CONFIG_FILE} "
                           "(owner = \"TODO\": fill in who answers for it)"
            for f in findings if patterns.get(f.symbol, f.symbol) in added}
