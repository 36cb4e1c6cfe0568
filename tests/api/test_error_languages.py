"""One error shape in the caller's language, and each operation's error codes in the OpenAPI document.

Every scenario below triggers an error for real, once in Lao and once in English, and checks: the one shape
(``code``, ``status``, ``error``, ``message``, optional ``params``, ``errors`` as ``{field: [{error, message}]}``),
the code expected, the message and every field message in Lao script for the Lao caller and without it for the
English one, and that the operation's document lists the code under the answered status (``x-error-codes``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from lsso_mobile.api.error_docs import operation_error_codes
from tests.conftest import STAFF_PASSWORD
from tests.support import bearer, request_code, sign_up

SHAPE_KEYS = {"code", "status", "error", "message", "params", "errors", "errors_omitted"}
CODE = re.compile(r"^[a-z][a-z0-9_]*$")


def _is_lao(text: str) -> bool:
    return any("\u0e80" <= ch <= "\u0eff" for ch in text)


def check_shape(response: Any, status: int, code: str, language: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.json)
    body = response.json
    assert set(body) <= SHAPE_KEYS and body["code"] == status and isinstance(body["status"], str), body
    assert body["error"] == code, body
    assert CODE.match(body["error"])
    texts = [body["message"]]
    for field, entries in (body.get("errors") or {}).items():
        assert isinstance(field, str) and isinstance(entries, list) and entries, body
        for entry in entries:
            assert set(entry) == {"error", "message"} and CODE.match(entry["error"]), entry
            texts.append(entry["message"])
    for text in texts:
        assert _is_lao(text) is (language == "lo"), (language, text)
    assert response.headers["Content-Language"] == language
    return body


# -- the scenarios -----------------------------------------------------------------------------------------
# Each: (name, status, code, documented operation (path, method) or None, request(client, language, ctx)).

Scenario = tuple[str, int, str, tuple[str, str] | None, Callable[[FlaskClient, str, dict[str, Any]], Any]]


def _anon(language: str) -> dict[str, str]:
    return {"Accept-Language": language}


def _member(ctx: dict[str, Any], language: str) -> dict[str, str]:
    return ctx["members"][language]


def _staff(ctx: dict[str, Any], language: str) -> dict[str, str]:
    return {**ctx["officer"], "Accept-Language": language}


SCENARIOS: list[Scenario] = [
    ("no such address", 404, "not_found", None, lambda c, lang, ctx: c.get("/api/v1/nothing", headers=_anon(lang))),
    (
        "method not allowed",
        405,
        "method_not_allowed",
        None,
        lambda c, lang, ctx: c.delete("/api/v1/auth/otp", headers=_anon(lang)),
    ),
    (
        "not signed in",
        401,
        "not_authenticated",
        ("/api/v1/me", "get"),
        lambda c, lang, ctx: c.get("/api/v1/me", headers=_anon(lang)),
    ),
    (
        "malformed token",
        401,
        "token_malformed",
        ("/api/v1/me", "get"),
        lambda c, lang, ctx: c.get("/api/v1/me", headers={**bearer("nope"), **_anon(lang)}),
    ),
    (
        "invalid input, unknown field",
        422,
        "invalid_input",
        ("/api/v1/auth/otp", "post"),
        lambda c, lang, ctx: c.post("/api/v1/auth/otp", json={"phone": "12", "debug": 1}, headers=_anon(lang)),
    ),
    (
        "unreadable JSON",
        400,
        "unreadable_json",
        ("/api/v1/auth/otp", "post"),
        lambda c, lang, ctx: c.post(
            "/api/v1/auth/otp", data="{nope", content_type="application/json", headers=_anon(lang)
        ),
    ),
    (
        "not JSON",
        415,
        "body_not_json",
        ("/api/v1/auth/otp", "post"),
        lambda c, lang, ctx: c.post(
            "/api/v1/auth/otp", data="phone=1", content_type="application/x-www-form-urlencoded", headers=_anon(lang)
        ),
    ),
    (
        "body too large",
        413,
        "payload_too_large",
        ("/api/v1/auth/otp", "post"),
        lambda c, lang, ctx: c.post("/api/v1/auth/otp", json={"phone": "x" * 2_000_000}, headers=_anon(lang)),
    ),
    (
        "address too long",
        414,
        "uri_too_long",
        ("/api/v1/me", "get"),
        lambda c, lang, ctx: c.get("/api/v1/me?x=" + "a" * 5000, headers=_anon(lang)),
    ),
    (
        "wrong staff password",
        401,
        "wrong_credentials",
        ("/api/v1/auth/staff/login", "post"),
        lambda c, lang, ctx: c.post(
            "/api/v1/auth/staff/login", json={"username": "nobody", "password": "wrong-password"}, headers=_anon(lang)
        ),
    ),
    (
        "code not requested",
        400,
        "code_expired",
        ("/api/v1/auth/signup", "post"),
        lambda c, lang, ctx: c.post(
            "/api/v1/auth/signup",
            json={"phone": "+8562055599999", "code": "123456", "pin": "482913"},
            headers=_anon(lang),
        ),
    ),
    (
        "member on a staff route",
        403,
        "role_not_allowed",
        ("/api/v1/staff/registrations", "get"),
        lambda c, lang, ctx: c.get("/api/v1/staff/registrations", headers=_member(ctx, lang)),
    ),
    (
        "not linked yet",
        404,
        "not_linked",
        ("/api/v1/me/contributions", "get"),
        lambda c, lang, ctx: c.get("/api/v1/me/contributions", headers=_member(ctx, lang)),
    ),
    (
        "no application yet",
        404,
        "no_application",
        ("/api/v1/me/registration", "get"),
        lambda c, lang, ctx: c.get("/api/v1/me/registration", headers=_member(ctx, lang)),
    ),
    (
        "no such conversation",
        404,
        "conversation_not_found",
        ("/api/v1/conversations/{conversation_id}", "get"),
        lambda c, lang, ctx: c.get("/api/v1/conversations/999999", headers=_member(ctx, lang)),
    ),
    (
        "phone already has an account",
        409,
        "phone_taken",
        ("/api/v1/auth/signup", "post"),
        lambda c, lang, ctx: c.post(
            "/api/v1/auth/signup",
            json={
                "phone": ctx["phones"][lang],
                "code": request_code(c, ctx["gateway"], ctx["phones"][lang]),
                "pin": "482913",
            },
            headers=_anon(lang),
        ),
    ),
    (
        "officer: no such application",
        404,
        "application_not_found",
        ("/api/v1/staff/registrations/{application_id}", "get"),
        lambda c, lang, ctx: c.get("/api/v1/staff/registrations/999999", headers=_staff(ctx, lang)),
    ),
]


@pytest.fixture
def ctx(client, sms_gateway, staff) -> dict[str, Any]:
    phones = {"lo": "+8562055570001", "en": "+8562055570002"}
    members = {
        lang: bearer(sign_up(client, sms_gateway, phone, language=lang)["access_token"])
        for lang, phone in phones.items()
    }
    login = client.post("/api/v1/auth/staff/login", json={"username": staff["officer"], "password": STAFF_PASSWORD})
    return {"members": members, "phones": phones, "gateway": sms_gateway, "officer": bearer(login.json["access_token"])}


def _documented(spec: dict[str, Any], path: str, method: str, status: int) -> list[str]:
    response = spec["paths"][path][method]["responses"][str(status)]
    return response.get("x-error-codes", [])


def test_every_scenario_answers_in_the_callers_language_and_its_code_is_documented(client, ctx):
    spec = client.get("/api/openapi.json").json
    for name, status, code, operation, call in SCENARIOS:
        bodies = {}
        for language in ("lo", "en"):
            bodies[language] = check_shape(call(client, language, ctx), status, code, language)
        assert bodies["lo"]["message"] != bodies["en"]["message"], name
        if operation is not None:
            documented = _documented(spec, *operation, status)
            assert code in documented, (name, operation, documented)


def test_field_errors_come_in_one_answer_each_with_its_code(client, ctx):
    """The parser's problems and the service's (unknown province, consent) in the same 422."""
    form = {
        "name_lo": "",
        "name_latin": "Somchai",
        "date_of_birth": "1990-01-01",
        "sex": "x",
        "national_id": "12345678",
        "province_code": "99",
        "district_code": "9901",
        "occupation": "farmer",
        "declared_monthly_income": 100000,
        "consent": False,
        "surprise": 1,
    }
    for language in ("lo", "en"):
        response = client.post("/api/v1/me/registration", json=form, headers=_member(ctx, language))
        body = check_shape(response, 422, "invalid_input", language)
        codes = {field: [entry["error"] for entry in entries] for field, entries in body["errors"].items()}
        assert codes == {
            "name_lo": ["wrong_length"],
            "sex": ["not_allowed"],
            "surprise": ["unknown_field"],
            "province_code": ["unknown_province"],
            "district_code": ["unknown_district"],
            "consent": ["consent_required"],
        }, codes


def test_language_without_a_member(client, staff):
    """No header: Lao for the public; English for staff; a header for either of lo and en is followed."""
    bare = client.application.test_client()  # no Accept-Language at all
    assert _is_lao(bare.get("/api/v1/me").json["message"])
    assert not _is_lao(bare.get("/api/v1/me", headers={"Accept-Language": "fr, en;q=0.5"}).json["message"])
    assert _is_lao(bare.get("/api/v1/me", headers={"Accept-Language": "en;q=0.3, lo"}).json["message"])
    login = bare.post("/api/v1/auth/staff/login", json={"username": staff["officer"], "password": STAFF_PASSWORD})
    officer = bearer(login.json["access_token"])
    missing = bare.get("/api/v1/staff/registrations/999999", headers=officer)
    assert missing.status_code == 404 and not _is_lao(missing.json["message"])
    lao = bare.get("/api/v1/staff/registrations/999999", headers={**officer, "Accept-Language": "lo"})
    assert _is_lao(lao.json["message"])


def test_a_member_gets_the_stored_language_whatever_the_header(client, ctx):
    for header in ("en", "lo"):
        lao = client.get("/api/v1/me/contributions", headers={**_member(ctx, "lo"), "Accept-Language": header})
        english = client.get("/api/v1/me/contributions", headers={**_member(ctx, "en"), "Accept-Language": header})
        assert _is_lao(lao.json["message"]) and not _is_lao(english.json["message"])


def test_every_operation_documents_codes_for_each_error_status(client, app):
    spec = client.get("/api/openapi.json").json
    table = operation_error_codes(app)
    undocumented = []
    operations = 0
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            operations += 1
            for status, response in operation["responses"].items():
                is_error = "components/schemas/Error" in str(response.get("content"))
                if int(status) >= 400 and is_error and not response.get("x-error-codes"):
                    undocumented.append((path, method, status))
            assert (path, method) in table, (path, method)
    assert operations > 50 and undocumented == []
    # the walk reaches the services: the member's registration lists what the service raises
    registration = spec["paths"]["/api/v1/me/registration"]["post"]["responses"]
    assert "application_in_progress" in registration["409"]["x-error-codes"]
    assert "application_invalid" in registration["422"]["x-error-codes"]
