"""SQL the store's modules share: an INSERT that understands ON CONFLICT on either dialect, and whether it wrote."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def _insert(session: Session, model: type) -> Any:
    """An INSERT that understands ON CONFLICT on the session's dialect."""
    name = session.get_bind().dialect.name
    return (postgresql.insert if name == "postgresql" else sqlite.insert)(model)


def _inserted(session: Session, stmt: Any) -> bool:
    """Whether an INSERT ... ON CONFLICT DO NOTHING RETURNING wrote its row (rowcount is unreliable here)."""
    return session.execute(stmt).first() is not None
