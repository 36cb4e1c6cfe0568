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
