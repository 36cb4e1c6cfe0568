"""Admins change rules as data; the next summary uses them; nobody else may."""

from __future__ import annotations

from tests.conftest import STAFF_PASSWORD
from tests.support import bearer, staff_sign_in

SICKNESS = "/api/v1/admin/eligibility-rules/voluntary/sickness"


def test_admin_changes_an_eligibility_rule(client, staff):
    admin = bearer(staff_sign_in(client, staff["admin"], STAFF_PASSWORD)["access_token"])
    rules = client.get("/api/v1/admin/eligibility-rules", headers=admin).json
    shipped = next(r for r in rules if r["scheme"] == "voluntary" and r["benefit_type"] == "sickness")
    assert shipped["min_total_months"] == 3
    body = {"min_total_months": 6, "min_recent_months": 3, "recent_window_months": 6, "min_age": None}
    try:
        changed = client.put(SICKNESS, json=body, headers=admin)
        assert changed.status_code == 200 and changed.json["min_total_months"] == 6
        bad = client.put(SICKNESS, json={**body, "min_recent_months": 9}, headers=admin)
        assert bad.status_code == 422 and "min_recent_months" in bad.json["errors"]
        assert (
            client.put("/api/v1/admin/eligibility-rules/voluntary/lottery", json=body, headers=admin).status_code == 404
        )
    finally:
        restore = {k: shipped[k] for k in body}
        assert client.put(SICKNESS, json=restore, headers=admin).status_code == 200


def test_scheme_rules_are_validated(client, staff):
    admin = bearer(staff_sign_in(client, staff["admin"], STAFF_PASSWORD)["access_token"])
    current = next(
        r for r in client.get("/api/v1/admin/scheme-rules", headers=admin).json if r["scheme"] == "voluntary"
    )
    body = {
        k: current[k] for k in ("employee_rate_bp", "employer_rate_bp", "earnings_floor", "earnings_ceiling", "due_day")
    }
    assert (
        client.put("/api/v1/admin/scheme-rules/voluntary", json={**body, "due_day": 31}, headers=admin).status_code
        == 422
    )
    assert (
        client.put(
            "/api/v1/admin/scheme-rules/voluntary", json={**body, "earnings_floor": 10**8}, headers=admin
        ).status_code
        == 422
    )
    assert client.put("/api/v1/admin/scheme-rules/voluntary", json=body, headers=admin).status_code == 200


def test_only_admins(client, staff):
    for key in ("officer", "ops"):
        token = bearer(staff_sign_in(client, staff[key], STAFF_PASSWORD)["access_token"])
        assert client.get("/api/v1/admin/scheme-rules", headers=token).status_code == 403
    assert client.get("/api/v1/admin/eligibility-rules").status_code == 401
