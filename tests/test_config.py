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


@pytest.mark.parametrize(("name", "value"), [
    ("LSSO_ACCESS_TOKEN_MINUTES", "ten"),
    ("LSSO_ACCESS_TOKEN_MINUTES", "0"),
    ("LSSO_PUSH_BACKEND", "apns"),
    ("LSSO_ENV", "prod"),
    ("LSSO_FCM_HTTP_TIMEOUT", "-1"),
])
def test_malformed_values_name_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings(environ={name: value})


def test_production_names_each_missing_secret(tmp_path):
    env = {"LSSO_ENV": "production"}
    with pytest.raises(ConfigError, match="LSSO_DATABASE_URL"):
        load_settings(environ=env)
    env["LSSO_DATABASE_URL"] = "postgresql+psycopg://x@localhost/lsso"
    with pytest.raises(ConfigError, match="LSSO_SECRET_KEY"):
        load_settings(environ=env)
    env["LSSO_SECRET_KEY"] = "k" * 40
    with pytest.raises(ConfigError, match="LSSO_JWT_PRIVATE_KEY_FILE"):
        load_settings(environ=env)
    env["LSSO_JWT_PRIVATE_KEY_FILE"] = str(tmp_path / "missing.pem")
    env["LSSO_PASSWORD_HASHING"] = "fast"
    with pytest.raises(ConfigError, match="LSSO_PASSWORD_HASHING"):
        load_settings(environ=env)
    del env["LSSO_PASSWORD_HASHING"]
    settings = load_settings(environ=env)
    with pytest.raises(ConfigError, match="does not exist"):
        create_app(settings)


def test_http_sms_needs_its_gateway():
    with pytest.raises(ConfigError, match="LSSO_SMS_GATEWAY_URL"):
        load_settings(environ={"LSSO_SMS_BACKEND": "http"})


def test_every_setting_is_in_the_readme():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    missing = [name for name in FIELDS if f"`{name}`" not in readme]
    assert missing == []
