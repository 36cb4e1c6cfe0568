"""gunicorn settings read from the working directory (``gunicorn wsgi:app`` picks this file up).

The request line is not bounded here: the app answers a URL over 4 KB with a 414 in its common error
shape (gunicorn's own refusal is an HTML page the API document cannot describe). The reverse proxy in
front (nginx: ``large_client_header_buffers``) bounds what reaches gunicorn at all; gunicorn's sync
workers need such a buffering proxy in any case (its own deployment guide says so).
"""

limit_request_line = 0

# No control socket: it is one path per user ($HOME/.gunicorn/gunicorn.ctl) that every master on the
# machine would share, and nothing here uses it.
control_socket_disable = True

# Prometheus multiprocess mode: every gunicorn process writes its counters to files in one directory and
# ``GET /metrics`` sums them, whichever process answers. The variable must be set before a worker imports
# prometheus_client, hence here (this file is read by the master before any worker starts). An operator may
# set PROMETHEUS_MULTIPROC_DIR (a tmpfs directory per service); it is emptied at start, as the client's
# documentation asks (counters restart from zero, which Prometheus' rate() handles).
import os  # noqa: E402
import tempfile  # noqa: E402

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="lsso-prometheus-")


def on_starting(server):  # noqa: ARG001 - gunicorn's hook signature
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.unlink(os.path.join(directory, name))


def child_exit(server, worker):  # noqa: ARG001 - gunicorn's hook signature
    from lsso_mobile.metrics import mark_process_dead

    mark_process_dead(worker.pid)
