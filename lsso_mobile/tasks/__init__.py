"""Every background job's entry point, and nothing else.

Each function here is what RQ (or the in-process queue) calls: it takes ids, gets the runtime, opens a
unit of work, calls a service or notify function and commits. The catalogue of jobs (import path,
queue, timeout, retries) is ``lsso_mobile.jobs``; periodic work is declared in ``tasks.periodic``.
This package sits on top of the layers: nothing below it imports it.
"""
