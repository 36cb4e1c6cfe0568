"""Fixtures: a real database (PostgreSQL or SQLite, chosen by TEST_BACKEND), the app, a client,
a recording SMS gateway, staff accounts. Each test starts from the migrated schema plus the
sample areas; tests never touch databases they did not create.

TEST_BACKEND=postgresql needs TEST_POSTGRES_URL (default: the local server as user postgres);
a missing server is an error, never a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from lsso_mobile import create_app
from lsso_mobile import runtime as runtime_module
from lsso_mobile.config import Settings, load_settings
from lsso_mobile.migrate import upgrade
from lsso_mobile.models import Base, Office, StaffRole
from lsso_mobile.services.accounts import create_staff_user
from lsso_mobile.services.contributions import forget_cached_rules
from lsso_mobile.services.reference import SAMPLE_AREAS_CSV, import_areas_file
from tests.fakes.bank import FakeBank
from tests.scratch_db import scratch_postgres_database
from tests.storage_support import both_stores, local_s3  # noqa: F401 - fixtures for every test module
from tests.support import SmsGateway, start_sms_gateway

BACKEND = os.environ.get("TEST_BACKEND", "sqlite")
POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
STAFF_PASSWORD = "office-password-1"
CALLBACK_SECRET = "test-callback-secret-0123456789abcdef"  # the fake bank's (fixture `bank`)
# shipped by migrations
KEEP_TABLES = {"provinces", "alembic_version", "scheme_rules", "eligibility_rules", "contribution_rates"}
# Rules the migrations seed: kept, but put back as migrated before each test (tests change them through the API).
SEEDED_RULE_TABLES = ("scheme_rules", "eligibility_rules", "contribution_rates")
_SEEDED_ROWS: dict[str, dict[str, list[dict[str, Any]]]] = {}


def pytest_report_header() -> str:
    return f"lsso-mobile tests on {BACKEND}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that drives the browser is an end-to-end test like those that start workers: marked slow, so
    it runs in the PostgreSQL pass (`make test-sqlite` deselects slow tests)."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if BACKEND == "sqlite":
        path = tmp_path_factory.mktemp("db") / "test.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url
        return
    if BACKEND != "postgresql":
        raise RuntimeError(f"TEST_BACKEND must be sqlite or postgresql, not {BACKEND!r}")
    with scratch_postgres_database(POSTGRES_ADMIN_URL, "lsso_test") as url:
        yield url


def clean_database(url: str) -> None:
    """Empty every table this suite writes, keeping the migrated provinces and provincial offices."""
    engine = create_engine(url)
    with engine.begin() as connection:
        tables = {table.name: table for table in Base.metadata.sorted_tables}
        seeded = _SEEDED_ROWS.get(url)
        if seeded is None:  # the first clean of this database: the rules are still as migrated
            seeded = _SEEDED_ROWS[url] = {
                name: [dict(row._mapping) for row in connection.execute(tables[name].select())]
                for name in SEEDED_RULE_TABLES
            }
        else:
            for name in SEEDED_RULE_TABLES:
                connection.execute(tables[name].delete())
                if seeded[name]:
                    connection.execute(tables[name].insert(), seeded[name])
        for table in reversed(Base.metadata.sorted_tables):
            if table.name in KEEP_TABLES:
                continue
            if table.name == "offices":
                connection.execute(text("DELETE FROM offices WHERE level <> 'provincial'"))
            else:
                connection.execute(table.delete())
    engine.dispose()


@pytest.fixture
def bank() -> Iterator[FakeBank]:
    """The fake bank on its own port, signing its callbacks with ``CALLBACK_SECRET``."""
    server = FakeBank(CALLBACK_SECRET).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sms_gateway() -> Iterator[SmsGateway]:
    gateway = start_sms_gateway()
    yield gateway
    gateway.server.shutdown()


def make_settings(database_url: str, instance_dir: Path, **overrides: object) -> Settings:
    base = {
        "env": "test",
        "database_url": database_url,
        "instance_dir": str(instance_dir),
        "secret_key": "test-secret-key-with-enough-length-0123456789",
        "password_hashing": "fast",
        "sms_backend": "log",
        "push_backend": "log",
        # The write-rate limiter is on in every test app, with budgets no ordinary test reaches;
        # tests/api/test_rate_limits.py sets small ones.
        "writes_per_minute": 100_000,
        "core_writes_per_minute": 100_000,
        "anonymous_writes_per_minute": 100_000,
    }
    base.update(overrides)
    return load_settings(environ={}, **base)


@pytest.fixture(scope="session")
def instance_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("instance")


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    """Override in a test module to change settings for its app."""
    return {}


@pytest.fixture
def storage_overrides() -> dict[str, object]:
    """Override in a test module (parametrized over both stores, see tests/storage_support.py) to run its
    tests on the S3-compatible store as well as the local directory."""
    return {}


@pytest.fixture
def settings(
    database_url: str,
    instance_dir: Path,
    sms_gateway: SmsGateway,
    settings_overrides: dict[str, object],
    storage_overrides: dict[str, object],
) -> Settings:
    sms_gateway.messages.clear()
    sms_gateway.fail_next = 0
    overrides = {"sms_backend": "http", "sms_gateway_url": sms_gateway.url, "sms_gateway_token": "sms-test-token"}
    overrides.update(storage_overrides)
    overrides.update(settings_overrides)
    return make_settings(database_url, instance_dir, **overrides)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    clean_database(settings.database_url)
    forget_cached_rules()  # a rule an earlier test changed must not outlive its database
    app = create_app(settings)
    app.config["TESTING"] = True
    rt = runtime_module.current()
    with rt.db.unit_of_work() as session:
        import_areas_file(session, SAMPLE_AREAS_CSV)
    yield app
    rt.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client that asks for English (``Accept-Language: en``); members still get their own language."""
    test_client = app.test_client()
    test_client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    return test_client


@pytest.fixture
def db(app: Flask):
    """A session for arranging and checking data directly (committed explicitly)."""
    session = runtime_module.current().db.session_factory()
    yield session
    session.close()


def office_id(db, code: str) -> int:
    return db.query(Office.id).filter(Office.code == code).scalar()


@pytest.fixture
def staff(app: Flask, db) -> dict[str, str]:
    """Officers of two offices, ops and admin; returns username by key. Password: STAFF_PASSWORD."""
    settings = runtime_module.current().settings
    accounts = {
        "officer": ("officer.chanthabouly", StaffRole.OFFICER, "D0101"),
        "other_officer": ("officer.pakse", StaffRole.OFFICER, "D1601"),
        "ops": ("ops.central", StaffRole.OPS, None),
        "admin": ("admin.central", StaffRole.ADMIN, None),
    }
    for username, role, code in accounts.values():
        create_staff_user(db, settings, username, STAFF_PASSWORD, role, username, office_id(db, code) if code else None)
    db.commit()
    return {key: value[0] for key, value in accounts.items()}
