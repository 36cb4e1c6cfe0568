"""Examples in the OpenAPI document: every request body and success response carries one.

A route may give its own (``@blp.arguments(..., example=...)``, ``@blp.response(..., example=...)``); the others
are composed from their schema: a field's own ``metadata={"example": ...}`` first, then the value a field of that
name takes in the demo data (``EXAMPLE_BY_NAME``, one place, so the same member appears everywhere), then its
first enum value or a value of its format. tests/api/test_openapi_document.py checks that every example is
valid against its schema.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec

# The demo member (`make dev`), her office and records: what a field of this name shows in the examples.
EXAMPLE_BY_NAME: dict[str, Any] = {
    "phone": "+8562055550001",
    "member_number": "0100000001",
    "date_of_birth": "1988-04-12",
    "name_lo": "ນາງ ບົວໄລ ສີສຸວັນ",
    "name_latin": "Bualai Sisouvan",
    "name_en": "Chanthabouly",
    "national_id": "LA-0101-123456",
    "province_code": "01",
    "district_code": "0101",
    "village_code": "01010001",
    "office_code": "D0101",
    "code": "123456",
    "pin": "246810",
    "current_pin": "246810",
    "new_pin": "135790",
    "occupation": "Market vendor",
    "declared_monthly_income": 2500000,
    "period": "2025-09",
    "current_period": "2025-10",
    "last_paid_period": "2025-09",
    "subject": "ເງິນສົມທົບເດືອນນີ້",
    "body": "ຂ້ອຍໄດ້ຈ່າຍເງິນສົມທົບເດືອນນີ້ແລ້ວ, ແຕ່ຍັງບໍ່ເຫັນໃນແອັບ.",
    "body_lo": "ຫ້ອງການທຸກແຫ່ງໃນນະຄອນຫຼວງ ປິດໃນວັນບຸນທາດຫຼວງ.",
    "body_en": "All social security offices in Vientiane Capital are closed on That Luang festival day.",
    "title_lo": "ຫ້ອງການປະກັນສັງຄົມ ປິດວັນບຸນ",
    "title_en": "Offices closed for That Luang festival",
    "title": "Offices closed for That Luang festival",
    "reason": "Please add your village.",
    "note": "Please give the date in the title.",
    "message": "If the number can receive SMS, a code is on its way.",
    "username": "officer.vte",
    "password": "demo-password-1",
    "display_name": "Demo officer, Chanthabouly",
    "access_token": "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtOjEifQ.c2lnbmF0dXJl",
    "refresh_token": "rt_5d41402abc4b2a76b9719d911017c592",
    "token_type": "Bearer",
    "client_id": "core-1a2b3c4d",
    "client_secret": "s3cret-from-create-client",
    "token": "fcm-registration-token-from-the-phone:APA91bH",
    "app_version": "1.4.2",
    "locale": "lo-LA",
    "idempotency_key": "3f0c0a64-8f0e-4a53-9d0a-2b6f1c1d7e55",
    "cursor": None,
    "next_cursor": None,
    "sent_to": "+856 20 ••••0001",
    "linked_account": "+856 20 ••••0001",
    "account_phone": "+856 20 ••••0001",
    "employer_name": None,
    "employer_registration_no": None,
    "payment_channel": "bank",
    "channel": "bank",
    "receipt_reference": "BCEL-20251010-0042",
    "source_id": "CORE-CTB-0100000001-2025-09",
    "template": "registration_approved",
    "content_type": "image/jpeg",
    "quiet_start": "21:00",
    "quiet_end": "07:00",
    "opens": "08:00",
    "closes": "16:00",
    "assignee": "me",
    "year": 2025,
    "amount": 270000,
    "total": 270000,
    "employee_share": 270000,
    "employer_share": 0,
    "insurable_earnings": 3000000,
    "arrears_total": 0,
    "limit": 20,
    "photo_url": "/api/v1/staff/link-requests/1/photo",
    "deep_link": "lsso://registration/1",
    "database": "ok",
}

_FORMATS = {
    "date-time": "2025-10-10T03:15:00+00:00",
    "date": "2025-10-10",
    "uuid": "3f0c0a64-8f0e-4a53-9d0a-2b6f1c1d7e55",
    "email": "officer@lsso.gov.la",
    "binary": "(the file's bytes)",
}
_TYPES = {"integer": 1, "number": 1.5, "boolean": True, "string": "text"}


def _resolve(spec: APISpec, node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = spec.components.schemas[node["$ref"].rsplit("/", 1)[-1]]
    return node


def example_of(spec: APISpec, schema: dict[str, Any], name: str = "", reading: bool = True, depth: int = 0) -> Any:
    """An example of ``schema`` as a response (``reading``) or a request body shows it."""
    if "example" in schema:
        return schema["example"]
    if "$ref" in schema:
        return example_of(spec, _resolve(spec, schema), name, reading, depth)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = example_of(spec, part, name, reading, depth)
            if not isinstance(value, dict):
                return value
            merged.update(value)
        return merged
    for key in ("anyOf", "oneOf"):
        if key in schema:  # a nullable object: show the object
            branches = [part for part in schema[key] if part.get("type") != "null"]
            return example_of(spec, branches[0], name, reading, depth) if branches else None
    kind = schema.get("type")
    composite = kind in ("object", "array") or "properties" in schema
    if name in EXAMPLE_BY_NAME and not composite:
        value = EXAMPLE_BY_NAME[name]
        if value is not None or schema.get("nullable"):
            return value
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "array":
        if depth > 6:
            return []
        return [example_of(spec, schema.get("items", {}), _singular(name), reading, depth + 1)]
    if kind == "object" or "properties" in schema:
        if depth > 6:
            return {}
        skip = "writeOnly" if reading else "readOnly"
        return {
            key: example_of(spec, prop, key, reading, depth + 1)
            for key, prop in schema.get("properties", {}).items()
            if not _resolve(spec, prop).get(skip)
        }
    if kind == "string" and schema.get("format") in _FORMATS:
        return _FORMATS[schema["format"]]
    if kind == "integer" and "minimum" in schema:
        return max(schema["minimum"], 1)
    return _TYPES.get(kind or "string")


def _singular(name: str) -> str:
    plural = {"provinces": "province_code", "districts": "district_code", "schemes": "scheme", "attachment_ids": "id"}
    return plural.get(name, name.removesuffix("s"))


def add_examples(spec: APISpec) -> None:
    """An example on every request body and success response that has none of its own."""
    for item in spec._paths.values():
        for method, operation in item.items():
            if method not in ("get", "put", "post", "patch", "delete"):
                continue
            bodies = [(operation.get("requestBody", {}), False)]
            bodies += [
                (response, True)
                for status, response in operation.get("responses", {}).items()
                if str(status).startswith("2") and isinstance(response, dict)
            ]
            for holder, reading in bodies:
                for media, content in holder.get("content", {}).items():
                    if "example" in content or "examples" in content or "schema" not in content:
                        continue
                    if media not in ("application/json", "multipart/form-data"):
                        continue
                    content["example"] = example_of(spec, content["schema"], reading=reading)
