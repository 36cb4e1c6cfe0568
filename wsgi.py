"""WSGI entry point: ``gunicorn wsgi:app``."""

from lsso_mobile import create_app

app = create_app()
