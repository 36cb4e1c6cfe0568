"""Alembic environment: the URL comes from the caller (``lsso-mobile migrate``) or LSSO_DATABASE_URL."""

from __future__ import annotations

from alembic import context

from lsso_mobile.config import load_settings
from lsso_mobile.extensions import make_engine
from lsso_mobile.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url") or load_settings().database_url


def run_migrations() -> None:
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=Base.metadata, literal_binds=True, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
