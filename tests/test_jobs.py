"""Jobs are handed to the queue only after the transaction commits, and never after a rollback."""

from __future__ import annotations

from lsso_mobile.jobs import JobQueue, JobRequest, bind_job_queue, enqueue_after_commit


class RecordingQueue(JobQueue):
    def __init__(self) -> None:
        self.submitted: list[JobRequest] = []

    def submit(self, request: JobRequest) -> None:
        self.submitted.append(request)


def _job(*args):
    return None


def test_jobs_wait_for_commit(app, db):
    queue = RecordingQueue()
    bind_job_queue(db, queue)
    enqueue_after_commit(db, JobRequest(_job, (1,), "push"))
    db.flush()
    assert queue.submitted == []
    db.commit()
    assert [r.args for r in queue.submitted] == [(1,)]


def test_rollback_drops_jobs(app, db):
    queue = RecordingQueue()
    bind_job_queue(db, queue)
    enqueue_after_commit(db, JobRequest(_job, (2,), "push"))
    db.rollback()
    db.commit()
    assert queue.submitted == []
