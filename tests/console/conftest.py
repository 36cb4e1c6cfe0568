"""Console fixtures: a signed-in officer's test client, and helpers that read a page's CSRF token."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from tests.conftest import STAFF_PASSWORD

CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


def console_sign_in(client: FlaskClient, username: str, password: str = STAFF_PASSWORD):
    page = client.get("/console/login")
    assert page.status_code == 200
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(page.text), "next": ""},
    )


def post_form(client: FlaskClient, page_path: str, action: str, data: dict[str, str]):
    """Post ``data`` to ``action`` with the CSRF token of the page at ``page_path`` (as a browser would)."""
    page = client.get(page_path)
    assert page.status_code == 200, page.text
    return client.post(action, data={"csrf_token": csrf_token(page.text), **data})


@pytest.fixture
def desk(client: FlaskClient, staff: dict[str, str]) -> FlaskClient:
    """The test client signed in to the console as the D0101 officer."""
    response = console_sign_in(client, staff["officer"])
    assert response.status_code == 302, response.text
    return client
