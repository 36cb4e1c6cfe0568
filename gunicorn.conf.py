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
