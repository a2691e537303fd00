"""Alembic's environment: migrates the connection `Store.migrate()` hands over, against the models' metadata."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context

from paydown.service.store.models import Base, UTCDateTime

config = context.config


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Write the store's own column types as plain SQLAlchemy ones, so a migration never imports the models."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is None or context.is_offline_mode():
        raise RuntimeError("run migrations through paydown.service.store.Store.migrate(), not the alembic command")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        render_item=render_item,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
