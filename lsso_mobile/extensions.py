"""The database handle: an engine and a request-scoped session (jobs and commands open their own)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import CursorResult, Engine, Result, create_engine, event
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from lsso_mobile.jobs import JOB_QUEUE_KEY, JobQueue


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the settings each backend needs (foreign keys and WAL on SQLite).

    Bound parameters are never put in error messages (``hide_parameters``): a failing statement's traceback
    in the log would otherwise hold the names, phone numbers and codes it was writing."""
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    return create_engine(url, **kwargs)


def affected_rows(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE changed (Session.execute types its answer as a plain Result)."""
    assert isinstance(result, CursorResult)
    return int(result.rowcount or 0)


class Database:
    """An engine and a request-scoped session; jobs and CLI commands open their own sessions."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.session_factory: sessionmaker[Session] | None = None
        self.session: scoped_session[Session] | None = None

    def configure(self, url: str, job_queue: JobQueue | None = None) -> None:
        """Connect to ``url``; every session made here hands its after-commit jobs to ``job_queue``."""
        if self.engine is not None:
            self.engine.dispose()
        self.engine = make_engine(url)
        info = {JOB_QUEUE_KEY: job_queue} if job_queue is not None else {}
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False, info=info)
        self.session = scoped_session(self.session_factory)

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error (for jobs and commands)."""
        assert self.session_factory is not None, "database not configured"
        session = self.session_factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def remove_session(self) -> None:
        """End this request's session (the app calls it when the request ends)."""
        if self.session is not None:
            self.session.remove()

    def dispose(self) -> None:
        if self.session is not None:
            self.session.remove()
        if self.engine is not None:
            self.engine.dispose()
