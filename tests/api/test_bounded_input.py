"""Whatever a body holds, the answer and the work stay small: over-long lists are refused before their items
are read, an error body lists at most MAX_ERROR_ENTRIES entries, and nesting deeper than MAX_JSON_DEPTH is a
400 in the common shape (a 500 before, from the body parser and from the rate limiter)."""

from __future__ import annotations

import json
import time

from sqlalchemy import func, select

from lsso_mobile.api.bodies import MAX_JSON_DEPTH
from lsso_mobile.api.errors import MAX_ERROR_ENTRIES, error_body
from lsso_mobile.models import Conversation, OtpCode
from tests.messaging_support import member, new_key
from tests.support import field_codes, field_messages

SMALL_ANSWER_BYTES = 8 * 1024


def _small_422(response, started: float):
    assert response.status_code == 422, response.status_code
    assert len(response.data) < SMALL_ANSWER_BYTES, len(response.data)
    assert time.monotonic() - started < 5
    body = response.json
    assert body["code"] == 422 and body["status"] == "Unprocessable Entity"
    return body


def test_an_over_long_list_is_refused_before_its_items_are_read(client, sms_gateway, db):
    """The review's 750 KB message body (a list of 150,000 bad ids) was answered with 21 MB."""
    alice = member(client, sms_gateway, "+8562055580101")
    payload = {
        "office_code": "D0101",
        "category": "contributions",
        "subject": "May contribution",
        "body": "Hello",
        "attachment_ids": ["x"] * 150_000,
        "idempotency_key": new_key(),
    }
    raw = json.dumps(payload)
    assert len(raw) > 750_000
    started = time.monotonic()
    response = client.post("/api/v1/conversations", data=raw, content_type="application/json", headers=alice)
    body = _small_422(response, started)
    assert field_codes(body) == {"attachment_ids": ["too_many_items"]}
    # a list within its bound still has each item checked
    few = client.post(
        "/api/v1/conversations", json={**payload, "attachment_ids": ["x", 0]}, headers=alice, content_type=None
    )
    assert few.status_code == 422 and set(few.json["errors"]) == {"attachment_ids.0", "attachment_ids.1"}
    assert db.scalar(select(func.count()).select_from(Conversation)) == 0


def test_many_unknown_fields_get_one_short_answer(client, db):
    """85,000 unknown keys on an anonymous route were answered with 2.3 MB, one entry per key."""
    payload = {"phone": "+8562055512345", **{f"{i:x}": 0 for i in range(85_000)}}
    raw = json.dumps(payload, separators=(",", ":"))
    assert len(raw) < 1_000_000  # under LSSO_MAX_BODY_BYTES
    started = time.monotonic()
    response = client.post("/api/v1/auth/otp", data=raw, content_type="application/json")
    body = _small_422(response, started)
    errors = field_messages(body)
    assert len(errors) <= MAX_ERROR_ENTRIES
    assert errors["_schema"] == [f"85000 unknown fields; the first {MAX_ERROR_ENTRIES - 1} are listed."]
    assert field_codes(body)["_schema"] == ["unknown_field"]
    # a few unknown fields are still named one by one
    few = client.post("/api/v1/auth/otp", json={"phone": "+8562055512345", "a": 1, "b": 2})
    assert few.status_code == 422 and field_messages(few.json) == {"a": ["Unknown field."], "b": ["Unknown field."]}
    assert db.scalar(select(func.count()).select_from(OtpCode)) == 0


def test_a_long_unknown_name_is_not_echoed_in_full(client):
    response = client.post("/api/v1/auth/otp", json={"phone": "+8562055512345", "x" * 500_000: 1})
    assert response.status_code == 422 and len(response.data) < SMALL_ANSWER_BYTES


def test_error_bodies_list_at_most_the_cap_and_count_the_rest():
    errors = {"json": {f"field{i}": ["Not valid."] for i in range(30)}, "query": {"limit": ["Too big."]}}
    body = error_body(422, errors=errors)
    assert len(body["errors"]) == MAX_ERROR_ENTRIES and "limit" not in body["errors"]
    assert body["errors_omitted"] == 11
    small = error_body(422, "Nope.", {"json": {"a": ["Unknown field."]}}, language="lo")
    assert small == {
        "code": 422,
        "status": "Unprocessable Entity",
        "error": "invalid_input",
        "message": "Nope.",
        "errors": {"a": [{"error": "unknown_field", "message": "ບໍ່ຮູ້ຈັກຊ່ອງຂໍ້ມູນນີ້."}]},
    }


def _assert_unreadable(response) -> None:
    assert response.status_code == 400, (response.status_code, response.data[:200])
    body = response.json
    assert body["code"] == 400 and body["status"] == "Bad Request" and "json" in body["errors"]


def test_deeply_nested_json_is_a_400_on_anonymous_and_signed_in_routes(client, sms_gateway):
    deep = "[" * 50_000
    # anonymous; and the refresh route, whose token the rate limiter reads from the body before the view
    for path in ("/api/v1/auth/otp", "/api/v1/auth/refresh"):
        _assert_unreadable(client.post(path, data=deep, content_type="application/json"))
    alice = member(client, sms_gateway, "+8562055580102")
    _assert_unreadable(client.post("/api/v1/conversations", data=deep, content_type="application/json", headers=alice))
    _assert_unreadable(
        client.post("/api/v1/conversations", data="{" * 50_000, content_type="application/json", headers=alice)
    )


def test_valid_json_nested_beyond_the_limit_is_a_400(client):
    def nested(depth: int) -> str:  # the body object is level 1
        return '{"phone": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"

    too_deep = client.post("/api/v1/auth/otp", data=nested(MAX_JSON_DEPTH + 1), content_type="application/json")
    _assert_unreadable(too_deep)
    assert str(MAX_JSON_DEPTH) in too_deep.json["message"]
    within = client.post("/api/v1/auth/otp", data=nested(MAX_JSON_DEPTH), content_type="application/json")
    assert within.status_code == 422  # read, then refused as a phone number
    # brackets inside strings are text, not nesting
    text = client.post("/api/v1/auth/otp", json={"phone": "[" * 1000})
    assert text.status_code == 422
    not_json = client.post("/api/v1/auth/otp", data="{nope", content_type="application/json")
    _assert_unreadable(not_json)


def test_request_get_json_is_bounded_too(app):
    """Routes that read the body themselves (the core imports) get the same bounded parser."""
    from flask import request

    valid_but_deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    for body in ("[" * 50_000, valid_but_deep):
        with app.test_request_context(data=body, content_type="application/json"):
            assert request.get_json(silent=True) is None
    with app.test_request_context(data='{"records": [[1]]}', content_type="application/json"):
        assert request.get_json() == {"records": [[1]]}


def test_the_parsers_own_422_goes_through_the_one_builder(client, sms_gateway):
    """flask-smorest's handler built its own bodies, uncapped; now error_body builds every one."""
    alice = member(client, sms_gateway, "+8562055580103")
    bad = {f"unknown{i}": 1 for i in range(MAX_ERROR_ENTRIES - 1)}  # just under the early refusal
    bad.update({"name_lo": 1, "name_latin": 2, "date_of_birth": "x", "sex": "x", "consent": "x"})
    response = client.post("/api/v1/me/registration", json=bad, headers=alice)
    assert response.status_code == 422
    body = response.json
    assert len(body["errors"]) == MAX_ERROR_ENTRIES and body["errors_omitted"] > 0
    missing = client.get("/api/v1/no-such-thing")
    assert missing.json["code"] == 404 and missing.json["status"] == "Not Found" and missing.json["message"]
