"""Log fields never break a record: `extra=` goes through `fields()` everywhere, and it renames reserved names."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

from paydown.service.logs import RESERVED_NAMES, fields

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [path for folder in ("service", "analyzers", "paydown") for path in (ROOT / folder).rglob("*.py")]


@pytest.mark.parametrize("name", sorted(RESERVED_NAMES))
def test_a_reserved_name_is_renamed_and_the_record_is_made(name: str, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("paydown.test-logs")
    with caplog.at_level(logging.INFO, logger="paydown.test-logs"):
        logger.info("event", extra=fields({name: 7}, repository="octo/churn"))
    record = caplog.records[-1]
    assert getattr(record, f"field_{name}") == 7 and record.repository == "octo/churn"


def test_the_reserved_names_are_the_ones_makerecord_refuses() -> None:
    logger = logging.getLogger("paydown.test-logs")
    assert {"created", "name", "msg", "args", "process", "message", "asctime"} <= RESERVED_NAMES
    for name in RESERVED_NAMES:
        with pytest.raises(KeyError):
            logger.makeRecord("x", logging.INFO, "f", 1, "m", None, None, extra={name: 1})


def extra_arguments() -> list[tuple[str, int, ast.expr]]:
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                found += [(str(path.relative_to(ROOT)), kw.lineno, kw.value) for kw in node.keywords
                          if kw.arg == "extra"]
    return found


def test_every_extra_argument_goes_through_fields() -> None:
    found = extra_arguments()
    assert len(found) >= 20  # the service logs structured fields in its webhook, jobs, scans, reviews and sync
    loose = [f"{path}:{line}" for path, line, value in found
             if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "fields")]
    assert loose == []


def test_no_literal_log_field_uses_a_record_attribute_name() -> None:
    """Renaming keeps production alive; a clear name in the source keeps the logs readable."""
    clashes = []
    for path, line, value in extra_arguments():
        if isinstance(value, ast.Call):
            names = [kw.arg for kw in value.keywords if kw.arg] + [
                key.value for arg in value.args if isinstance(arg, ast.Dict)
                for key in arg.keys if isinstance(key, ast.Constant)]
            clashes += [f"{path}:{line}: {name}" for name in names if name in RESERVED_NAMES]
    assert clashes == []
