"""Jobs are handed to the queue only after the transaction commits, and never after a rollback."""

from __future__ import annotations

from lsso_mobile.jobs import JOB_QUEUE_KEY, SEND_SMS, JobQueue, JobRequest, enqueue_after_commit


class RecordingQueue(JobQueue):
    def __init__(self) -> None:
        self.submitted: list[JobRequest] = []

    def submit(self, request: JobRequest) -> None:
        self.submitted.append(request)


def test_jobs_wait_for_commit(app, db):
    queue = RecordingQueue()
    db.info[JOB_QUEUE_KEY] = queue
    enqueue_after_commit(db, SEND_SMS.request(1))
    db.flush()
    assert queue.submitted == []
    db.commit()
    assert [r.args for r in queue.submitted] == [(1,)]


def test_rollback_drops_jobs(app, db):
    queue = RecordingQueue()
    db.info[JOB_QUEUE_KEY] = queue
    enqueue_after_commit(db, SEND_SMS.request(2))
    db.rollback()
    db.commit()
    assert queue.submitted == []


def test_every_session_knows_its_queue(app, db):
    """The unit of work carries its queue: no per-job binding to forget."""
    from lsso_mobile import runtime

    rt = runtime.current()
    assert db.info[JOB_QUEUE_KEY] is rt.job_queue
    with rt.db.unit_of_work() as session:
        assert session.info[JOB_QUEUE_KEY] is rt.job_queue
    assert rt.db.session().info[JOB_QUEUE_KEY] is rt.job_queue


def test_jobs_asked_in_a_savepoint_wait_for_the_real_commit() -> None:
    """SQLAlchemy fires after_commit when a savepoint is released too; a job must not run before its rows are
    committed (it would find nothing), so only the outermost commit hands the jobs over."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from lsso_mobile.jobs import JOB_QUEUE_KEY, SEND_SMS, JobQueue, enqueue_after_commit

    class Recorder(JobQueue):
        def __init__(self) -> None:
            self.handed: list[tuple[object, ...]] = []

        def submit_many(self, requests: list[JobRequest]) -> None:
            self.handed += [request.args for request in requests]

    queue = Recorder()
    session = Session(create_engine("sqlite://"))
    session.info[JOB_QUEUE_KEY] = queue
    with session.begin_nested():
        session.execute(text("select 1"))
        enqueue_after_commit(session, SEND_SMS.request(7))
    assert queue.handed == []
    session.commit()
    assert queue.handed == [(7,)]


def test_a_database_outage_is_told_apart_from_other_failures() -> None:
    """What makes a job run again shortly (worker.py): the database out of reach, also when it is the cause."""
    from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

    from lsso_mobile.jobs import database_unavailable

    refused = OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))
    assert database_unavailable(refused)
    assert database_unavailable(InterfaceError("SELECT 1", {}, Exception("connection already closed")))
    try:
        try:
            raise refused
        except OperationalError as exc:
            raise RuntimeError("the batch failed") from exc
    except RuntimeError as wrapped:
        assert database_unavailable(wrapped)
    assert not database_unavailable(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not database_unavailable(ValueError("a bug"))
    assert not database_unavailable(None)


def test_a_real_outage_is_told_from_a_timeout_or_a_locked_file(database_url, tmp_path):
    """Real errors from the drivers: a server that refuses the connection is an outage; a statement timeout
    (PostgreSQL) and SQLite's "database is locked" are not, so a job is not run again for them."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    from lsso_mobile.jobs import database_unavailable

    def error_of(action) -> OperationalError:
        try:
            action()
        except OperationalError as exc:
            return exc
        raise AssertionError("no OperationalError")

    nowhere = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2")
    assert database_unavailable(error_of(lambda: nowhere.connect().close()))
    nowhere.dispose()

    if database_url.startswith("postgresql"):
        engine = create_engine(database_url)

        def slow() -> None:
            with engine.connect() as connection:
                connection.execute(text("SET statement_timeout = 50"))
                connection.execute(text("SELECT pg_sleep(2)"))

        timeout = error_of(slow)
        assert getattr(timeout.orig, "sqlstate", None) == "57014"
        assert not database_unavailable(timeout)
        engine.dispose()

    path = tmp_path / "locked.db"
    holder = create_engine(f"sqlite:///{path}")
    waiter = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    with holder.connect() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.commit()
        connection.execute(text("BEGIN IMMEDIATE"))
        connection.execute(text("INSERT INTO t VALUES (1)"))

        def write() -> None:
            with waiter.begin() as other:
                other.execute(text("INSERT INTO t VALUES (2)"))

        locked = error_of(write)
        assert "locked" in str(locked.orig)
        assert not database_unavailable(locked)
        connection.rollback()
    holder.dispose()
    waiter.dispose()
