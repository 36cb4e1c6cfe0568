"""Settings are strictly parsed; production refuses to start without its secrets and says which."""

from __future__ import annotations

import pytest

from lsso_mobile import create_app
from lsso_mobile.config import FIELDS, ConfigError, load_settings


def test_defaults_are_the_embedded_first_run(tmp_path):
    settings = load_settings(environ={"LSSO_INSTANCE_DIR": str(tmp_path)})
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith("lsso.db")
    assert not settings.uses_redis and settings.push_backend == "log" and settings.sms_backend == "log"


def test_unknown_variable_is_an_error():
    with pytest.raises(ConfigError, match="LSSO_DATABSE_URL"):
        load_settings(environ={"LSSO_DATABSE_URL": "sqlite://"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LSSO_ACCESS_TOKEN_MINUTES", "ten"),
        ("LSSO_ACCESS_TOKEN_MINUTES", "0"),
        ("LSSO_PUSH_BACKEND", "apns"),
        ("LSSO_ENV", "prod"),
        ("LSSO_FCM_HTTP_TIMEOUT", "-1"),
    ],
)
def test_malformed_values_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings(environ={name: value})


def test_production_names_each_missing_secret_and_refuses_dev_backends(tmp_path):
    env = {"LSSO_ENV": "production"}
    steps = [
        ("LSSO_DATABASE_URL", "sqlite:///x.db"),
        ("LSSO_SECRET_KEY", "k" * 40),
        ("LSSO_JWT_PRIVATE_KEY_FILE", str(tmp_path / "missing.pem")),
        ("LSSO_CARD_SIGNING_KEY_FILE", str(tmp_path / "missing-card.pem")),
        ("LSSO_DATABASE_URL", "postgresql+psycopg://x@localhost/lsso"),
        ("LSSO_REDIS_URL", "redis://localhost:6379/0"),
        ("LSSO_SMS_BACKEND", "http"),
        ("LSSO_PUSH_BACKEND", "fcm"),
        ("LSSO_FCM_CREDENTIALS", "/etc/lsso/fcm.json"),
        ("LSSO_SMS_GATEWAY_URL", "https://sms.example/send"),
        ("LSSO_PAYMENT_PROVIDER", "bank"),
        ("LSSO_PAYMENT_PROVIDER_URL", "https://bank.example/lsso"),
        ("LSSO_SMS_GATEWAY_TOKEN", "t"),
        ("LSSO_SMS_WEBHOOK_SECRET", "w" * 32),
        ("LSSO_PAYMENT_CALLBACK_SECRET", "s" * 32),
        ("LSSO_PAYMENT_PROVIDER_TOKEN", "bank-token"),
        ("LSSO_FCM_ENDPOINT", "http://127.0.0.1:1"),
    ]
    expected_errors = [
        "LSSO_DATABASE_URL",
        "LSSO_SECRET_KEY",
        "LSSO_JWT_PRIVATE_KEY_FILE",
        "LSSO_CARD_SIGNING_KEY_FILE",
        "PostgreSQL",
        "LSSO_REDIS_URL",
        "LSSO_SMS_BACKEND",
        "LSSO_PUSH_BACKEND",
        "LSSO_FCM_CREDENTIALS",
        "LSSO_SMS_GATEWAY_URL must be https",
        "LSSO_PAYMENT_PROVIDER=bank is required",
        "LSSO_PAYMENT_PROVIDER_URL must be https",
        "LSSO_SMS_GATEWAY_TOKEN",
        "LSSO_SMS_WEBHOOK_SECRET",
        "LSSO_PAYMENT_CALLBACK_SECRET",
        "LSSO_PAYMENT_PROVIDER_TOKEN",
        None,
    ]
    for (name, value), expected in zip(steps, expected_errors, strict=True):
        if expected is None:
            load_settings(environ=env)
        else:
            with pytest.raises(ConfigError, match=expected):
                load_settings(environ=env)
        env[name] = value
    with pytest.raises(ConfigError, match="LSSO_FCM_ENDPOINT"):
        load_settings(environ=env)
    del env["LSSO_FCM_ENDPOINT"]
    with pytest.raises(ConfigError, match="LSSO_PASSWORD_HASHING"):
        load_settings(environ={**env, "LSSO_PASSWORD_HASHING": "fast"})
    with pytest.raises(ConfigError, match="LSSO_DELIVERY_LEASE_SECONDS"):
        load_settings(environ={**env, "LSSO_DELIVERY_LEASE_SECONDS": "30"})
    settings = load_settings(environ=env)
    with pytest.raises(ConfigError, match="does not exist"):
        create_app(settings)


def test_http_sms_needs_its_gateway():
    with pytest.raises(ConfigError, match="LSSO_SMS_GATEWAY_URL"):
        load_settings(environ={"LSSO_SMS_BACKEND": "http"})


def test_sms_fallback_windows_are_strictly_parsed():
    from lsso_mobile.config import fallback_windows

    settings = load_settings(environ={"LSSO_SMS_FALLBACK_WINDOWS": " benefits=60, contribution_due=7200 "})
    assert fallback_windows(settings.sms_fallback_windows) == {"benefits": 60, "contribution_due": 7200}
    for bad in ("benefits", "benefits=soon", "Benefits=60", "benefits=-1"):
        with pytest.raises(ConfigError, match="LSSO_SMS_FALLBACK_WINDOWS"):
            load_settings(environ={"LSSO_SMS_FALLBACK_WINDOWS": bad})


def test_every_setting_is_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    missing = [name for name in FIELDS if f"`{name}`" not in readme]
    assert missing == []


@pytest.mark.parametrize(
    ("server", "reason"),
    [
        ({"LSSO_DATABASE_URL": "postgresql+psycopg://x@localhost/lsso"}, "not SQLite"),
        ({"LSSO_REDIS_URL": "redis://localhost:6379/0"}, "LSSO_REDIS_URL is set"),
    ],
)
def test_a_service_on_postgresql_or_redis_must_say_whether_it_is_production(tmp_path, server, reason):
    """Before, it started with development defaults: codes in the log, a public secret key, a key per machine."""
    env = {"LSSO_INSTANCE_DIR": str(tmp_path), **server}
    with pytest.raises(ConfigError, match=f"LSSO_ENV is not set and .*{reason}"):
        load_settings(environ=env)
    for stated in ("development", "test"):
        assert load_settings(environ={**env, "LSSO_ENV": stated}).env == stated
    with pytest.raises(ConfigError, match="required in production"):  # production: its own checks apply
        load_settings(environ={**env, "LSSO_ENV": "production"})


def test_the_embedded_default_needs_no_settings(tmp_path):
    assert load_settings(environ={"LSSO_INSTANCE_DIR": str(tmp_path)}).env == "development"
    sqlite = {"LSSO_INSTANCE_DIR": str(tmp_path), "LSSO_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    assert load_settings(environ=sqlite).env == "development"


def test_bound_parameters_never_reach_error_messages(caplog):
    """A failing statement's traceback in the log held every value it was binding (names, phones, codes)."""
    import logging

    from sqlalchemy import text

    from lsso_mobile.extensions import make_engine
    from tests.conftest import BACKEND, POSTGRES_ADMIN_URL

    engine = make_engine(POSTGRES_ADMIN_URL if BACKEND == "postgresql" else "sqlite://")
    secret = "+8562055599999-code-482913"
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT :phone FROM no_such_table_here"), {"phone": secret})
    except Exception:
        logging.getLogger("test").exception("statement failed")
    finally:
        engine.dispose()
    assert "no_such_table_here" in caplog.text and secret not in caplog.text
