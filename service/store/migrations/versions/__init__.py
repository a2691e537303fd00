"""Alembic revisions of the store (0001 is generated from the models by `regenerate`)."""
