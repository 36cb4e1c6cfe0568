"""Bad input gets a 4xx in the common error shape and changes nothing; every route declares its roles."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from lsso_mobile.api.access import ALL_ROLES, declared_roles
from lsso_mobile.api.schemas import MAX_PAGE_SIZE
from lsso_mobile.models import Member, OtpCode
from tests.conftest import STAFF_PASSWORD
from tests.support import bearer, sign_up, staff_sign_in

UNDECLARED_OK = {
    "static",
    "api-docs.openapi_json",
    "api-docs.openapi_swagger_ui",
    "swagger_ui_assets.static",
    "prometheus_metrics",  # not an API operation: internal networks or the metrics token only
}
# The console's pages use its session cookie, not bearer tokens: tests/console checks each declares its access.
CONSOLE_ENDPOINTS = "console."


def _shape(response, status):
    assert response.status_code == status, response.json
    body = response.json
    assert body["code"] == status and isinstance(body["status"], str)
    return body


def test_every_route_declares_who_may_call_it(app):
    undeclared = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNDECLARED_OK or rule.endpoint.startswith(CONSOLE_ENDPOINTS):
            continue
        view = app.view_functions[rule.endpoint]
        roles = declared_roles(view)
        if not roles or not set(roles) <= set(ALL_ROLES):
            undeclared.append(f"{sorted(rule.methods - {'HEAD', 'OPTIONS'})} {rule.rule}")
    assert undeclared == []
    assert len(list(app.url_map.iter_rules())) > 20


def test_route_check_catches_an_undeclared_route(app):
    """The check above can fail: a bare view has no declaration."""

    def bare_view():
        return "x"

    assert declared_roles(bare_view) is None


def test_malformed_phone_numbers(client, db):
    for phone in ["12345", "+66812345678", "+856 21 123456", "abc", "", "0" * 40, "+8562055"]:
        body = _shape(client.post("/api/v1/auth/otp", json={"phone": phone}), 422)
        assert "phone" in body["errors"]
    assert db.scalar(select(func.count()).select_from(OtpCode)) == 0


def test_unknown_fields_are_refused(client, db):
    body = _shape(client.post("/api/v1/auth/otp", json={"phone": "+8562055512345", "debug": True}), 422)
    assert "debug" in body["errors"]
    assert db.scalar(select(func.count()).select_from(OtpCode)) == 0


def test_pins_must_be_six_digits(client, db):
    for pin in ["12345", "1234567", "abcdef", 123456]:
        _shape(client.post("/api/v1/auth/signup", json={"phone": "+8562055512345", "code": "123456", "pin": pin}), 422)
    assert db.scalar(select(func.count()).select_from(Member)) == 0


def test_oversized_body_is_refused(client, db):
    huge = {"phone": "+8562055512345", "padding": "x" * 2_000_000}
    _shape(client.post("/api/v1/auth/otp", json=huge), 413)
    assert db.scalar(select(func.count()).select_from(OtpCode)) == 0


def test_not_json(client):
    response = client.post("/api/v1/auth/otp", data="phone=1", content_type="application/x-www-form-urlencoded")
    assert 400 <= response.status_code < 500
    assert response.json["code"] == response.status_code


def test_unknown_route_and_method(client):
    _shape(client.get("/api/v1/nothing-here"), 404)
    not_allowed = client.delete("/api/v1/auth/otp")
    _shape(not_allowed, 405)
    assert not_allowed.headers["Allow"] == "OPTIONS, POST"


BOUNDED_FORMATS = {"date", "date-time", "uuid", "binary"}
OPEN_QUANTIFIER = re.compile(r"[*+]|\{\d+,\}")


def unbounded_inputs(spec: dict[str, Any]) -> list[str]:
    """Every input the document leaves without a size: a string without maxLength, enum, a fixed format or
    an anchored pattern of bounded length; an array without maxItems; a number without maximum."""
    schemas = spec["components"]["schemas"]
    found: list[str] = []

    def walk(schema: dict[str, Any], where: str) -> None:
        while "$ref" in schema:
            schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
        for key in ("anyOf", "oneOf", "allOf"):
            for part in schema.get(key, []):
                walk(part, where)
        kind = schema.get("type")
        if kind == "string":
            pattern = schema.get("pattern", "")
            bounded_pattern = pattern.startswith("^") and pattern.endswith("$") and not OPEN_QUANTIFIER.search(pattern)
            if not (
                "maxLength" in schema or "enum" in schema or schema.get("format") in BOUNDED_FORMATS or bounded_pattern
            ):
                found.append(f"{where}: string without a bound")
        elif kind == "array":
            if "maxItems" not in schema:
                found.append(f"{where}: array without maxItems")
            walk(schema.get("items", {}), f"{where}[]")
        elif kind in ("integer", "number") and "maximum" not in schema and "enum" not in schema:
            found.append(f"{where}: number without maximum")
        for name, part in schema.get("properties", {}).items():
            if not part.get("readOnly"):
                walk(part, f"{where}.{name}")

    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            for parameter in operation.get("parameters", []) + operations.get("parameters", []):
                walk(parameter.get("schema", {}), f"{method.upper()} {path} {parameter['in']} {parameter['name']}")
            for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
                walk(content.get("schema", {}), f"{method.upper()} {path} body ({media_type})")
    return found


def test_every_input_has_a_documented_bound(client):
    """Page sizes, text, lists and numbers: nothing a caller sends is unbounded (the code enforces what the
    document says; schemathesis's negative phase checks that in CI)."""
    spec = client.get("/api/openapi.json").json
    assert unbounded_inputs(spec) == []
    limits = [
        p["schema"]
        for ops in spec["paths"].values()
        for op in ops.values()
        if isinstance(op, dict)
        for p in op.get("parameters", [])
        if p["name"] == "limit"
    ]
    assert len(limits) >= 10 and all(limit["maximum"] <= MAX_PAGE_SIZE for limit in limits)


def test_the_bound_check_finds_an_unbounded_input():
    spec = {
        "components": {"schemas": {}},
        "paths": {
            "/x": {
                "post": {
                    "parameters": [{"in": "query", "name": "q", "schema": {"type": "string"}}],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]+$"}},
                                        "n": {"type": "integer"},
                                        "ok": {"type": "string", "maxLength": 5},
                                    },
                                }
                            }
                        }
                    },
                }
            }
        },
    }
    assert unbounded_inputs(spec) == [
        "POST /x query q: string without a bound",
        "POST /x body (application/json).tags: array without maxItems",
        "POST /x body (application/json).tags[]: string without a bound",
        "POST /x body (application/json).n: number without maximum",
    ]


def test_page_size_and_long_urls_are_refused(client, sms_gateway):
    member = bearer(sign_up(client, sms_gateway, "+8562055512399")["access_token"])
    for path in ("/api/v1/me/notifications", "/api/v1/conversations", "/api/v1/me/contributions"):
        body = _shape(client.get(f"{path}?limit={MAX_PAGE_SIZE + 1}", headers=member), 422)
        assert "limit" in body["errors"], path
        assert client.get(f"{path}?limit={MAX_PAGE_SIZE}", headers=member).status_code in (200, 404), path
    response = client.get(f"/api/v1/provinces?padding={'x' * 5000}")
    body = _shape(response, 414)
    assert "4096" in body["message"]


def test_openapi_document_and_docs(client):
    spec = client.get("/api/openapi.json").json
    assert spec["info"]["title"] == "LSSO Mobile API"
    assert "/api/v1/auth/signup" in spec["paths"]
    me = spec["paths"]["/api/v1/me"]["get"]
    assert me["security"] == [{"bearerAuth": []}]
    assert {"200", "401", "403"} <= set(me["responses"])
    assert "security" not in spec["paths"]["/api/v1/provinces"]["get"]
    docs = client.get("/api/docs")
    assert docs.status_code == 200 and b"/api/swagger-ui/swagger-ui-bundle.js" in docs.data
    assert client.get("/api/swagger-ui/swagger-ui-bundle.js").status_code == 200  # served here: no CDN needed


def test_reference_data(client):
    provinces = client.get("/api/v1/provinces").json
    assert len(provinces) == 18 and provinces[0] == {
        "code": "01",
        "name_lo": "ນະຄອນຫຼວງວຽງຈັນ",
        "name_en": "Vientiane Capital",
    }
    districts = client.get("/api/v1/provinces/01/districts").json
    assert {d["code"] for d in districts} >= {"0101", "0102"}
    assert client.get("/api/v1/districts/0101/villages").json[0]["code"] == "01010001"
    assert client.get("/api/v1/provinces/99/districts").status_code == 404
    offices = client.get("/api/v1/offices").json
    assert {"P01", "D0101"} <= {o["code"] for o in offices}


def test_a_route_with_a_json_body_refuses_a_missing_or_other_body(client, sms_gateway, db):
    """Found by schemathesis: webargs read a non-JSON or absent body as {}, which an all-optional schema took."""
    member = bearer(sign_up(client, sms_gateway, "+8562055512398", language="lo")["access_token"])
    for response in (
        client.patch("/api/v1/me", headers=member),
        client.patch("/api/v1/me", headers=member, data="", content_type="application/json"),
        client.patch(
            "/api/v1/me", headers=member, data="language=en", content_type="application/x-www-form-urlencoded"
        ),
    ):
        body = _shape(response, 415)
        assert "JSON" in body["message"]
    assert db.scalar(select(Member.language).where(Member.phone == "+8562055512398")) == "lo"
    assert client.patch("/api/v1/me", headers=member, json={"language": "en"}).status_code == 200


def test_booleans_in_bodies_are_true_or_false_only(client, sms_gateway, staff):
    """Found by schemathesis: 0 and 1 were taken for false and true."""
    ops = bearer(staff_sign_in(client, staff["ops"], STAFF_PASSWORD)["access_token"])
    for value in (0, 1, "true", None):
        response = client.post("/api/v1/staff/broadcasts/preview", headers=ops, json={"pending_application": value})
        assert _shape(response, 422)["errors"]["pending_application"], value
    assert (
        client.post("/api/v1/staff/broadcasts/preview", headers=ops, json={"pending_application": True}).status_code
        == 200
    )
