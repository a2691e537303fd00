"""Tables a SQL text reads and writes, from sqlglot's syntax tree (never a regular expression)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlglot
from sqlglot import exp

HOLE_PREFIX = "__paydown_hole_"
_DIALECTS = (None, "spark", "bigquery", "snowflake", "postgres", "mysql")
_WRITES = (exp.Insert, exp.Create, exp.Merge, exp.Update, exp.Delete)


@dataclass(frozen=True, slots=True)
class SqlTables:
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    select_star: bool


def _name(table: exp.Table) -> str:
    return ".".join(part for part in (table.catalog, table.db, table.name) if part)


def _parse(sql: str) -> list[exp.Expression] | None:
    for dialect in _DIALECTS:
        try:
            statements = sqlglot.parse(sql, read=dialect)
        except Exception:  # sqlglot raises ParseError, TokenError and others on text that is not its SQL
            continue
        found = [s for s in statements if s is not None]
        if found:
            return found
    return None


def _target(statement: exp.Expression) -> exp.Table | None:
    target = statement.this
    if isinstance(target, exp.Table):
        return target
    return target.find(exp.Table) if isinstance(target, exp.Expression) else None


def sql_tables(sql: str) -> SqlTables | None:
    """The tables of a query or DML text; None when the text is not SQL paydown can read."""
    statements = _parse(sql)
    if not statements or not all(isinstance(s, (exp.Query, exp.DML, exp.DDL)) for s in statements):
        return None
    reads: list[str] = []
    writes: list[str] = []
    star = False
    for statement in statements:
        ctes = {cte.alias_or_name.lower() for cte in statement.find_all(exp.CTE)}
        target = _target(statement) if isinstance(statement, _WRITES) else None
        if target is not None:
            writes.append(_name(target))
        for table in statement.find_all(exp.Table):
            name = _name(table)
            if table is target or not name or (not table.db and name.lower() in ctes):
                continue
            if HOLE_PREFIX not in name and name not in reads:
                reads.append(name)
        for select in statement.find_all(exp.Select):
            star = star or any(isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
                               for e in select.expressions)
    return SqlTables(tuple(reads), tuple(w for w in writes if HOLE_PREFIX not in w), star)


def table_name(text: str) -> str | None:
    """``db.customers`` as a table name, or None when the text is not one."""
    if not text or any(c.isspace() for c in text) or HOLE_PREFIX in text:
        return None
    try:
        return _name(exp.to_table(text))
    except Exception:  # not a table reference
        return None
