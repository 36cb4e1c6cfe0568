"""Serialising a check-then-write on both databases.

PostgreSQL locks the rows a ``SELECT ... FOR [NO KEY] UPDATE`` returns until the transaction ends. SQLite has no
row locks and ignores FOR UPDATE; the Python driver also runs reads outside any transaction until the
first write, so a count read there can be stale by the time the write happens. On SQLite the transaction
therefore becomes the database's single writer (``BEGIN IMMEDIATE``) before it reads what it checks.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.orm import Session


def become_writer(session: Session) -> None:
    """On SQLite, take the database's write lock now (waiting for other writers); nothing on PostgreSQL."""
    if session.get_bind().dialect.name != "sqlite":
        return
    connection = session.connection()
    dbapi_connection: Any = connection.connection.dbapi_connection
    if not dbapi_connection.in_transaction:  # else a write already holds the lock
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def locked(session: Session, query: Select[Any]) -> list[Any]:
    """The rows of ``query``, locked until commit, freshly read (not the session's possibly older copies).

    The lock is PostgreSQL's ``FOR NO KEY UPDATE``: it waits for (and holds off) every other writer of
    these rows, but not a transaction that merely inserts a row referring to one of them (a foreign-key
    check takes ``FOR KEY SHARE``). ``FOR UPDATE`` would also block those: an officer's reply, holding its
    conversation and writing the member's notice, and the member's send, holding the member and waiting
    for that conversation, would deadlock. Give the query an ORDER BY when it can return several rows:
    two transactions that lock the same rows in the same order wait for each other instead of deadlocking.
    """
    become_writer(session)
    return list(session.scalars(query.with_for_update(key_share=True).execution_options(populate_existing=True)))
