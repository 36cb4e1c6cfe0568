"""The OpenAPI document is complete enough to build the member app from, on every operation, present and future.

Each check collects every gap it finds and fails with one line per gap (``METHOD /path: what is missing where``),
so that whoever adds a route (or merges branches that did) sees the whole list at once.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator
from openapi_spec_validator import validate

HTTP_METHODS = ("get", "put", "post", "patch", "delete")
CAMEL_CASE = re.compile(r"^[a-z][a-zA-Z0-9]*$")
# Output fields whose values come from a fixed list: their schema must say which (``enum``).
ENUMERATED_NAME = re.compile(
    r"(^|_)(status|state|type|category|kind|channel|role|method|language|scheme|platform|outcome|level|sex|"
    r"decision|purpose|action|priority)$"
)
# Fields whose names end like an enumerated one but hold free text or numbers (say why for each).
NOT_ENUMERATED = {
    "content_type",  # a media type of an upload (image/jpeg, image/png, application/pdf, ...)
    "token_type",  # always "Bearer", documented as such
    "payment_channel",  # free text from the core system (bank names and channels change)
    "channel",  # free text from the core system
    "Error.status",  # the HTTP status phrase
    "AuditEvent.action",  # dotted names each service records (staff.disable, claim.status, ...): the list grows
    "AuditEvent.object_type",  # the kind of object an action touched, as open as the actions
    "CostRow.category",  # a notice category or what an SMS was for (sign-in code, bill number, ...)
    "SmsReport.report_status",  # the gateway's own word for the delivery state, stored as it came
}


def _spec(app) -> dict[str, Any]:
    return app.extensions["lsso_api"].spec.to_dict()


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield f"{method.upper()} {path}", item[method]


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        section, kind, name = node["$ref"].removeprefix("#/").split("/")
        node = spec[section][kind][name]
    return node


def _fail(problems: list[str], what: str) -> None:
    if problems:
        pytest.fail(f"{len(problems)} {what}:\n" + "\n".join(sorted(problems)), pytrace=False)


def _walk_properties(
    spec: dict[str, Any], schema: dict[str, Any], where: str, seen: set[str]
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(where, name, property schema) for every property reachable from ``schema``, each component once."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return
        seen.add(name)
        yield from _walk_properties(spec, _resolve(spec, schema), f"schema {name}", seen)
        return
    for key in ("allOf", "anyOf", "oneOf"):
        for part in schema.get(key, []):
            yield from _walk_properties(spec, part, where, seen)
    if "items" in schema:
        yield from _walk_properties(spec, schema["items"], where, seen)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _walk_properties(spec, schema["additionalProperties"], where, seen)
    for name, prop in schema.get("properties", {}).items():
        yield where, name, prop
        yield from _walk_properties(spec, prop, where, seen)


def _described(spec: dict[str, Any], prop: dict[str, Any]) -> bool:
    if prop.get("description"):
        return True
    # a nested object: `allOf: [$ref]` or a bare $ref; the description then sits beside it or on the target
    for part in prop.get("allOf", []) + ([prop] if "$ref" in prop else []):
        if _resolve(spec, part).get("description"):
            return True
    return False


def _operation_schemas(spec: dict[str, Any], operation: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    body = operation.get("requestBody")
    if body:
        for media, content in _resolve(spec, body).get("content", {}).items():
            if "schema" in content:
                yield f"request body ({media})", content["schema"]
    for status, response in operation.get("responses", {}).items():
        for media, content in _resolve(spec, response).get("content", {}).items():
            if "schema" in content:
                yield f"{status} response ({media})", content["schema"]


def test_the_document_is_valid_openapi(app) -> None:
    validate(_spec(app))  # raises with the first error found


def test_every_operation_has_an_operation_id_summary_description_and_roles(app) -> None:
    spec = _spec(app)
    problems = []
    ids: dict[str, str] = {}
    for name, operation in _operations(spec):
        operation_id = operation.get("operationId")
        if not operation_id:
            problems.append(f"{name}: no operationId (add @blp.doc(operationId='doSomething'))")
        elif not CAMEL_CASE.match(operation_id):
            problems.append(f"{name}: operationId {operation_id!r} is not camelCase")
        elif operation_id in ids:
            problems.append(f"{name}: operationId {operation_id!r} also used by {ids[operation_id]}")
        else:
            ids[operation_id] = name
        if not operation.get("summary"):
            problems.append(f"{name}: no summary (the first line of the view's docstring)")
        roles = operation.get("x-roles")
        if not roles:
            problems.append(f"{name}: no x-roles (declare who may call it with @blp.access(...))")
        description = operation.get("description", "")
        own = description.split("\n\nWho may call:")[0].strip()
        if not own:
            problems.append(
                f"{name}: no description (the view's docstring after its first line: what it does, when to call it)"
            )
        if "Who may call:" not in description:
            problems.append(f"{name}: the description does not say who may call it")
    _fail(problems, "operations lack an id, summary, description or roles")


def test_every_field_parameter_and_header_is_described(app) -> None:
    spec = _spec(app)
    problems = []
    seen: set[str] = set()
    for name, operation in _operations(spec):
        for parameter in operation.get("parameters", []):
            parameter = _resolve(spec, parameter)
            if not parameter.get("description"):
                problems.append(f"{name}: {parameter['in']} parameter {parameter['name']!r} has no description")
        for status, response in operation.get("responses", {}).items():
            for header, declared in _resolve(spec, response).get("headers", {}).items():
                if not _resolve(spec, declared).get("description"):
                    problems.append(f"{name}: {status} response header {header!r} has no description")
        for where, schema in _operation_schemas(spec, operation):
            for place, field, prop in _walk_properties(spec, schema, f"{name} {where}", seen):
                if not _described(spec, prop):
                    problems.append(f"{place}: field {field!r} has no description (metadata={{'description': ...}})")
    _fail(sorted(set(problems)), "fields, parameters or headers have no description")


def _inlined(spec: dict[str, Any], node: Any, depth: int = 0) -> Any:
    """``node`` with every $ref replaced by its target (deep enough for any example here)."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _inlined(spec, _resolve(spec, node), depth + 1) if depth < 12 else {}
        return {key: _inlined(spec, value, depth) for key, value in node.items()}
    if isinstance(node, list):
        return [_inlined(spec, value, depth) for value in node]
    return node


def test_every_request_body_and_success_response_has_a_valid_example(app) -> None:
    """Present, and valid against its schema: an example the server would refuse, or never send, misleads."""
    spec = _spec(app)
    problems = []
    for name, operation in _operations(spec):
        holders = [("request body", _resolve(spec, operation.get("requestBody", {})), OAS30WriteValidator)]
        holders += [
            (f"{status} response", _resolve(spec, response), OAS30ReadValidator)
            for status, response in operation.get("responses", {}).items()
            if status.startswith("2")
        ]
        for where, holder, validator in holders:
            for media, content in holder.get("content", {}).items():
                if "example" not in content and not content.get("examples"):
                    problems.append(f"{name}: {where} ({media}) has no example (example=... on the decorator)")
                    continue
                if "example" not in content or "schema" not in content:
                    continue
                errors = list(validator(_inlined(spec, content["schema"])).iter_errors(content["example"]))
                for error in errors[:3]:
                    at = "/".join(map(str, error.absolute_path)) or "(the whole example)"
                    problems.append(f"{name}: {where} ({media}) example is invalid at {at}: {error.message[:160]}")
    _fail(problems, "request bodies or success responses lack a valid example")


def test_every_enumerated_field_lists_its_values(app) -> None:
    spec = _spec(app)
    problems = []
    seen: set[str] = set()
    for name, operation in _operations(spec):
        for where, schema in _operation_schemas(spec, operation):
            for place, field, prop in _walk_properties(spec, schema, f"{name} {where}", seen):
                schema_name = place.removeprefix("schema ")
                if not ENUMERATED_NAME.search(field) or {field, f"{schema_name}.{field}"} & NOT_ENUMERATED:
                    continue
                target = prop.get("items", prop)
                target = _resolve(spec, target)
                if target.get("type") == "string" and "enum" not in target and "format" not in target:
                    problems.append(f"{place}: field {field!r} lists no enum values (fields.Enum or validate.OneOf)")
    _fail(sorted(set(problems)), "enumerated fields list no values")


def test_conditional_gets_and_response_headers_are_declared(app) -> None:
    spec = _spec(app)
    problems = []
    for name, operation in _operations(spec):
        responses = {status: _resolve(spec, r) for status, r in operation.get("responses", {}).items()}
        etag_on = [status for status, r in responses.items() if "ETag" in r.get("headers", {})]
        if etag_on and "304" not in responses:
            problems.append(f"{name}: sends an ETag ({etag_on}) but documents no 304 for If-None-Match")
        if "304" in responses and not etag_on:
            problems.append(f"{name}: documents a 304 but no ETag header on its 200")
        if "304" in responses and not any(
            p.get("name") == "If-None-Match" for p in map(lambda p: _resolve(spec, p), operation.get("parameters", []))
        ):
            problems.append(f"{name}: documents a 304 but not the If-None-Match request header")
        if "429" in responses and "Retry-After" not in responses["429"].get("headers", {}):
            problems.append(f"{name}: its 429 does not declare Retry-After")
        signed_in = "x-roles" in operation and "public" not in operation["x-roles"]
        if signed_in and "401" in responses and "WWW-Authenticate" not in responses["401"].get("headers", {}):
            problems.append(f"{name}: its 401 does not declare WWW-Authenticate")
    _fail(problems, "response headers are not declared")


def test_the_push_data_payload_is_documented(app) -> None:
    """The keys of a push's data payload, and the deep links, are one component the app team reads."""
    from lsso_mobile.notify.delivery import NOTICE_PUSH_DATA_KEYS
    from lsso_mobile.notify.templates import TEMPLATES
    from lsso_mobile.services.broadcast_delivery import BROADCAST_DEEP_LINK, BROADCAST_PUSH_DATA_KEYS

    spec = _spec(app)
    component = spec["components"]["schemas"].get("PushData")
    assert component, "no PushData component in the document"
    assert component.get("description"), "PushData has no description"
    documented = set(component["properties"])
    sent = set(NOTICE_PUSH_DATA_KEYS) | set(BROADCAST_PUSH_DATA_KEYS)
    assert documented == sent, f"PushData documents {sorted(documented)}, pushes carry {sorted(sent)}"
    undescribed = [key for key, prop in component["properties"].items() if not prop.get("description")]
    assert not undescribed, f"PushData keys without a description: {undescribed}"
    links = component["properties"]["deep_link"]["description"]
    for link in {template.deep_link for template in TEMPLATES.values()} | {BROADCAST_DEEP_LINK}:
        assert f"`{link}`" in links, f"deep link {link} is not documented in PushData.deep_link"


IMPORT_PATHS = ("insured-persons", "contributions", "claims", "payments")  # the order the examples build on


@pytest.mark.parametrize("media", ["text/csv", "application/json"])
def test_each_import_accepts_the_columns_and_example_it_documents(app, client, db, media) -> None:
    """Each import documents its own CSV header and example; posting exactly what is shown is accepted."""
    from lsso_mobile import runtime
    from lsso_mobile.services.accounts import create_integration_client
    from tests.support import bearer

    created, secret = create_integration_client(db, runtime.current().settings, "LSSO core system")
    db.commit()
    token = client.post("/api/v1/integration/token", json={"client_id": created.client_id, "client_secret": secret})
    headers = bearer(token.json["access_token"])
    spec = _spec(app)
    headers_shown = set()
    for name in IMPORT_PATHS:
        content = spec["paths"][f"/api/v1/integration/{name}"]["post"]["requestBody"]["content"][media]
        example = content["example"]
        if media == "text/csv":
            header = example.splitlines()[0]
            assert header in content["schema"]["description"], f"{name}: the example's header is not the one described"
            headers_shown.add(header)
            response = client.post(
                f"/api/v1/integration/{name}", data=example.encode(), headers=headers, content_type=media
            )
        else:
            response = client.post(f"/api/v1/integration/{name}", json=example, headers=headers)
        assert response.status_code == 200, (name, response.json)
        assert response.json["rejected"] == [], (name, response.json["rejected"])
        assert response.json["accepted"] == 1, (name, response.json)
    if media == "text/csv":
        assert len(headers_shown) == len(IMPORT_PATHS), "two imports show the same CSV header"


def test_the_message_body_limit_is_the_same_in_the_document_and_the_service(app, client, sms_gateway) -> None:
    from lsso_mobile.services.conversations import MAX_BODY_CHARS
    from tests.support import bearer, sign_up

    spec = _spec(app)
    limits = {
        name: _resolve(spec, spec["components"]["schemas"][name]["properties"]["body"])["maxLength"]
        for name in ("StartConversation", "MemberMessageIn", "StaffReplyIn", "StaffNoteIn")
    }
    assert set(limits.values()) == {MAX_BODY_CHARS}, limits
    headers = bearer(sign_up(client, sms_gateway, "+8562055570401")["access_token"])

    def start(body: str):
        return client.post(
            "/api/v1/conversations",
            json={
                "office_code": "D0101",
                "category": "other",
                "subject": "Limit",
                "body": body,
                "idempotency_key": str(uuid.uuid4()),
            },
            headers=headers,
        )

    accepted = start("ກ" * MAX_BODY_CHARS)
    assert accepted.status_code == 201, accepted.json
    refused = start("ກ" * (MAX_BODY_CHARS + 1))
    assert refused.status_code == 422 and "body" in str(refused.json), refused.json
    # white space the service would trim still counts: the document counts the text as sent
    assert start("ກ" * MAX_BODY_CHARS + " ").status_code == 422


def test_the_root_points_to_the_docs(client) -> None:
    answer = client.get("/")
    assert answer.status_code == 200
    for key in ("docs", "openapi", "health"):
        assert client.get(answer.json[key]).status_code == 200, key
    assert client.get(answer.json["openapi"]).json["paths"]
