"""Arranging payments through the API: a registered voluntary member with arrears, the core client, callbacks."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from lsso_mobile.models import utcnow
from lsso_mobile.services.contributions import period_of, shift_period
from tests.conftest import STAFF_PASSWORD
from tests.fakes.bank import FakeBank
from tests.support import SmsGateway, application_form, bearer, sign_up, staff_sign_in


def current_period() -> str:
    return period_of(utcnow())


def arrear_period() -> str:
    """A month whose due day (the 20th of the following month at the latest) is surely past."""
    return shift_period(current_period(), -3)


def registered_member(
    client: FlaskClient,
    gateway: SmsGateway,
    officer_username: str,
    phone: str,
    *,
    language: str = "lo",
    income: int = 2_500_000,
    **form: Any,
) -> tuple[dict[str, str], str]:
    """A member approved by the officer's office (D0101 by default): (headers, member number)."""
    headers = bearer(sign_up(client, gateway, phone, language=language)["access_token"])
    applied = client.post(
        "/api/v1/me/registration",
        json=application_form(national_id=f"LA-{uuid.uuid4().hex[:10]}", declared_monthly_income=income, **form),
        headers=headers,
    )
    assert applied.status_code == 201, applied.json
    desk = bearer(staff_sign_in(client, officer_username, STAFF_PASSWORD)["access_token"])
    decided = client.post(
        f"/api/v1/staff/registrations/{applied.json['id']}/decision", json={"decision": "approve"}, headers=desk
    )
    assert decided.status_code == 200, decided.json
    return headers, decided.json["member_number"]


def core_headers(client: FlaskClient, db: Any, settings: Any) -> dict[str, str]:
    from lsso_mobile.services.accounts import create_integration_client

    core_client, secret = create_integration_client(db, settings, "LSSO core")
    db.commit()
    token = client.post(
        "/api/v1/integration/token", json={"client_id": core_client.client_id, "client_secret": secret}
    ).json["access_token"]
    return bearer(token)


def contribution(member_number: str, period: str, status: str, total: int = 225_000, **extra: Any) -> dict[str, Any]:
    record = {
        "source_id": f"core-{member_number}-{period}",
        "member_number": member_number,
        "period": period,
        "scheme": "voluntary",
        "insurable_earnings": 2_500_000,
        "employee_share": total,
        "employer_share": 0,
        "total": total,
        "status": status,
        "paid_date": None,
    }
    record.update(extra)
    return record


def import_records(client: FlaskClient, core: dict[str, str], records: list[dict[str, Any]]) -> dict[str, Any]:
    response = client.post("/api/v1/integration/contributions", json={"records": records}, headers=core)
    assert response.status_code == 200 and response.json["rejected"] == [], response.json
    return response.json


def send_callback(
    client: FlaskClient, bank: FakeBank, transaction_id: str, *, timestamp: int | None = None, provider: str = "sandbox"
) -> TestResponse:
    """What the bank posts: the same signed bytes and headers, through the app's HTTP interface."""
    body, headers = bank.signed(transaction_id, timestamp)
    return client.post(f"/api/v1/payments/callbacks/{provider}", data=body, headers=headers)
