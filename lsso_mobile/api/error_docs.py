"""Each operation's possible ``error`` codes, in the OpenAPI document, found from the code itself.

``document_error_codes(app, api)`` runs once the blueprints are registered. For every operation it walks the
view function's calls down through the services (the functions of ``lsso_mobile`` they name, a few levels
deep) and collects every ``raise SomeError(..., error="code")``, each under its HTTP status; it adds what
every operation of its kind can answer (401/403 where a role is needed, 422 where input is parsed, 429 on
writes, 400/413/415 with a body, 414 always). Each status's response then lists its codes in
``x-error-codes`` and in its description; a status the code can answer that the route did not declare is
added. ``operation_error_codes()`` gives the same table to tests.

It is a static walk: a code raised through a call it cannot follow (a method on an object, a callback) is
missed, and one raised on a branch the operation never takes is listed. The test that triggers codes for
real checks that what an operation answers is among what it documents.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import re
import textwrap
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask_smorest import Api

from lsso_mobile import errors as domain_errors
from lsso_mobile.api.access import PUBLIC, declared_roles
from lsso_mobile.errors import DEFAULT_CODES, DomainError

MAX_DEPTH = 7
ERROR_SCHEMA_REF = {"$ref": "#/components/schemas/Error"}

# What an operation answers whatever its view does (by status).
SIGNED_IN_CODES = {
    401: {
        "not_authenticated",
        "token_malformed",
        "token_expired",
        "token_invalid",
        "token_key_unknown",
        "token_algorithm_refused",
        "token_type_wrong",
        "session_ended",
        "account_disabled",
    },
    403: {"role_not_allowed"},
}
BODY_CODES = {400: {"unreadable_json"}, 413: {"payload_too_large"}, 415: {"body_not_json"}}
WRITE_CODES = {429: {"too_many_writes"}}
ALWAYS_CODES = {414: {"uri_too_long"}, 404: {"not_found"}}
INPUT_CODES = {422: {"invalid_input"}}
WRITING_METHODS = {"post", "put", "patch", "delete"}


def _error_statuses() -> dict[str, int]:
    """Every DomainError class by name (ours and the services' own subclasses), with its status."""
    import lsso_mobile.services.accounts as accounts
    import lsso_mobile.services.claims as claims
    import lsso_mobile.services.otp as otp

    statuses: dict[str, int] = {}
    for module in (domain_errors, accounts, claims, otp):
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, DomainError):
                statuses[name] = value.status
    return statuses


@functools.cache
def _codes_of(function: Callable[..., Any], depth: int = 0) -> frozenset[tuple[int, str]]:
    """The (status, code) pairs ``function`` and the functions of ``lsso_mobile`` it calls can raise."""
    try:
        source = textwrap.dedent(inspect.getsource(function))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError):
        return frozenset()
    namespace = dict(getattr(function, "__globals__", {}))
    with contextlib.suppress(TypeError, ValueError):  # a view made in a loop: its action's name
        namespace.update(inspect.getclosurevars(function).nonlocals)
    statuses = _error_statuses()
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        if name in statuses:
            found |= _raised(node, statuses[name], namespace)
        if name == "StepUpRequired":
            found.add((401, "step_up_required"))
        if name == "check_window_limit" and len(node.args) > 7:
            found |= {(429, code) for code in _strings(node.args[7], namespace)}
        if name == "required":
            what = next((k.value for k in node.keywords if k.arg == "what"), None)
            for text in _strings(what, namespace) if what is not None else ["record"]:
                found.add((404, f"{text.replace(' ', '_')}_not_found"))
        if depth < MAX_DEPTH:
            callee = _resolve(node.func, namespace)
            if callee is not None:
                found |= _codes_of(callee, depth + 1)
    return frozenset(found)


def _call_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _raised(node: ast.Call, status: int, namespace: dict[str, Any]) -> set[tuple[int, str]]:
    for keyword in node.keywords:
        if keyword.arg == "error":
            return {(status, code) for code in _strings(keyword.value, namespace)}
    return set()


def _strings(node: ast.expr | None, namespace: dict[str, Any]) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name) and isinstance(namespace.get(node.id), str):
        return [namespace[node.id]]
    return []


def _resolve(func: ast.expr, namespace: dict[str, Any]) -> Callable[..., Any] | None:
    """The lsso_mobile function a call names (``name(...)`` or ``module.name(...)``), if it is one."""
    target: Any = None
    if isinstance(func, ast.Call) and _call_name(func) == "getattr" and len(func.args) == 2:
        owner, attribute = (namespace.get(a.id) if isinstance(a, ast.Name) else None for a in func.args)
        if inspect.ismodule(owner) and isinstance(attribute, str):
            target = getattr(owner, attribute, None)
    elif isinstance(func, ast.Name):
        target = namespace.get(func.id)
    elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        owner = namespace.get(func.value.id)
        if inspect.ismodule(owner):
            target = getattr(owner, func.attr, None)
    target = inspect.unwrap(target) if callable(target) else None
    if not (inspect.isfunction(target) and target.__module__.startswith("lsso_mobile")):
        return None
    return target


def _rule_to_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def operation_error_codes(app: Flask) -> dict[tuple[str, str], dict[int, set[str]]]:
    """``{(path, method): {status: {codes}}}`` for every API operation (method in lower case)."""
    table: dict[tuple[str, str], dict[int, set[str]]] = {}
    for rule in app.url_map.iter_rules():
        if not (rule.rule.startswith("/api/v1") or rule.rule == "/"):
            continue
        view = app.view_functions[rule.endpoint]
        roles = declared_roles(view) or ()
        target = getattr(view, "view_class", None)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            function = getattr(target, method.lower(), None) if target is not None else view
            if function is None:
                continue
            codes: dict[int, set[str]] = {}
            for status, code in _codes_of(inspect.unwrap(function)):
                codes.setdefault(status, set()).add(code)
            extra: list[dict[int, set[str]]] = [ALWAYS_CODES]
            if PUBLIC not in roles:
                extra.append(SIGNED_IN_CODES)
            if method.lower() in WRITING_METHODS:
                extra.append(WRITE_CODES)
            for more in extra:
                for status, names in more.items():
                    codes.setdefault(status, set()).update(names)
            table[(_rule_to_path(rule.rule), method.lower())] = codes
    return table


def document_error_codes(app: Flask, api: Api) -> None:
    """Write each operation's codes into its responses (see the module docstring)."""
    table = operation_error_codes(app)
    _describe_error_schema(api.spec.components.schemas.get("Error"))
    components = api.spec.components.responses
    paths: dict[str, dict[str, Any]] = api.spec._paths  # apispec keeps the operations here until to_dict()
    for path, operations in paths.items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"} or not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            codes = {status: set(names) for status, names in table.get((path, method), {}).items()}
            if "requestBody" in operation:
                for status, names in BODY_CODES.items():
                    codes.setdefault(status, set()).update(names)
            if operation.get("parameters") or "requestBody" in operation:
                for status, names in INPUT_CODES.items():
                    codes.setdefault(status, set()).update(names)
            for status, names in codes.items():
                _document(responses, components, status, names)


def _describe_error_schema(schema: dict[str, Any] | None) -> None:
    """The Error component as ``api.errors.error_body`` builds it (the shape of ``errors``, and ``params``)."""
    if not isinstance(schema, dict):
        return
    properties = schema.setdefault("properties", {})
    properties["error"] = {
        "type": "string",
        "description": "A stable snake_case code to switch on; each response lists its codes in x-error-codes",
        "example": "not_linked",
    }
    properties["message"] = {
        "type": "string",
        "description": "What went wrong, for people, in the caller's language (a member's own, else "
        "Accept-Language lo or en, else Lao)",
    }
    properties["params"] = {
        "type": "object",
        "additionalProperties": True,
        "description": "The values the message was filled with (a limit, a status), for apps that write their own",
        "example": {"max_bytes": 8388608},
    }
    properties["errors"] = {
        "type": "object",
        "description": "Problems by field (a nested field as a dotted path), each a list of entries with a code",
        "additionalProperties": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "error": {"type": "string", "description": "The field's problem", "example": "too_long"},
                    "message": {"type": "string", "description": "The same, for people, in the caller's language"},
                },
                "required": ["error", "message"],
            },
        },
        "example": {"subject": [{"error": "too_long", "message": "ຍາວກວ່າຄວາມຍາວສູງສຸດ 200."}]},
    }
    required = set(schema.get("required", [])) | {"code", "status", "error"}
    schema["required"] = sorted(required)


def _document(responses: dict[str, Any], components: dict[str, Any], status: int, names: set[str]) -> None:
    key = str(status)
    response = responses.get(key)
    if isinstance(response, str):  # a shared response by name: spell it out to add the codes
        response = dict(components.get(response, {}))
    elif isinstance(response, dict) and "$ref" in response:  # the same, as a reference
        response = dict(components.get(str(response["$ref"]).rsplit("/", 1)[-1], {}))
    if response is None:
        if status == 404 and names == ALWAYS_CODES[404]:
            return  # an operation without path ids only answers "no such address" (not documented per route)
        response = {"description": DEFAULT_CODES.get(status, "Error").replace("_", " ").capitalize()}
    response = dict(response)
    response.setdefault("content", {"application/json": {"schema": ERROR_SCHEMA_REF}})
    listed = sorted(set(response.get("x-error-codes", [])) | names)
    response["x-error-codes"] = listed
    description = str(response.get("description", "")).split(". Error codes: ")[0].rstrip(".")
    response["description"] = f"{description}. Error codes: {', '.join(f'`{c}`' for c in listed)}."
    responses[key] = response
