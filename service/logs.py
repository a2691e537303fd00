"""Structured log fields: the one way the service passes `extra=` to a logger.

`logging.Logger.makeRecord` raises KeyError when an `extra` key names an attribute every LogRecord has
(`created`, `name`, `msg`, `args`, `process`, ...). That only happens when the level is enabled, so a call that is
silent in the tests crashes a production job at INFO. `fields()` renames such keys, so no field can break a record.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

# Every attribute a record has before `extra` is applied, plus the two that formatting adds and makeRecord refuses.
RESERVED_NAMES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
RENAMED_PREFIX = "field_"


def fields(values: Mapping[str, object] | None = None, /, **more: object) -> dict[str, object]:
    """The log fields for `extra=`, a reserved name prefixed (`created` becomes `field_created`)."""
    merged = {**(values or {}), **more}
    return {(RENAMED_PREFIX + key if key in RESERVED_NAMES else key): value for key, value in merged.items()}
