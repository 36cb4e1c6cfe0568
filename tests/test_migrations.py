"""The migrations and the models describe the same schema, on this backend."""

from __future__ import annotations

from alembic import command

from lsso_mobile.migrate import alembic_config


def test_models_match_migrations(database_url):
    command.check(alembic_config(database_url))  # raises if autogenerate would add anything
