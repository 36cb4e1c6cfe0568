"""Console fixtures: a signed-in officer's test client, and helpers that read a page's CSRF token."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from lsso_mobile.models import BenefitClaim, BenefitType, ClaimStatus, InsuredPerson, Member
from lsso_mobile.services.phones import normalise_lao_mobile
from tests.conftest import STAFF_PASSWORD
from tests.support import application_form, bearer, sign_up, staff_sign_in

CSRF_FIELD = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


def console_sign_in(client: FlaskClient, username: str, password: str = STAFF_PASSWORD):
    page = client.get("/console/login")
    assert page.status_code == 200
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(page.text), "next": ""},
    )


def post_form(client: FlaskClient, page_path: str, action: str, data: dict[str, str]):
    """Post ``data`` to ``action`` with the CSRF token of the page at ``page_path`` (as a browser would)."""
    page = client.get(page_path)
    assert page.status_code == 200, page.text
    return client.post(action, data={"csrf_token": csrf_token(page.text), **data})


@pytest.fixture
def desk(client: FlaskClient, staff: dict[str, str]) -> FlaskClient:
    """The test client signed in to the console as the D0101 officer."""
    response = console_sign_in(client, staff["officer"])
    assert response.status_code == 302, response.text
    return client


def member_applies(
    client: FlaskClient, gateway: Any, phone: str, language: str = "lo", **form: Any
) -> tuple[dict, int]:
    """A member signs up over the API and applies to register; returns (their headers, the application id)."""
    headers = bearer(sign_up(client, gateway, phone, language=language)["access_token"])
    response = client.post("/api/v1/me/registration", json=application_form(**form), headers=headers)
    assert response.status_code == 201, response.json
    return headers, response.json["id"]


def registered_member(client: FlaskClient, gateway: Any, phone: str, officer_username: str, **form: Any) -> dict:
    """A member of the officer's office, approved over the staff API; returns their headers."""
    headers, application_id = member_applies(client, gateway, phone, **form)
    desk_headers = bearer(staff_sign_in(client, officer_username, STAFF_PASSWORD)["access_token"])
    decided = client.post(
        f"/api/v1/staff/registrations/{application_id}/decision", json={"decision": "approve"}, headers=desk_headers
    )
    assert decided.status_code == 200, decided.json
    return headers


def add_claim(db: Any, phone: str, status: ClaimStatus = ClaimStatus.RECEIVED) -> int:
    member = db.scalars(select(Member).where(Member.phone == normalise_lao_mobile(phone))).one()
    person = db.get(InsuredPerson, member.insured_person_id)
    claim = BenefitClaim(
        insured_person_id=person.id,
        office_id=person.office_id,
        benefit_type=BenefitType.SICKNESS,
        status=status,
        amount_claimed=500_000,
        amount_approved=None,
        source_id=f"claim-{person.id}-{status.value}",
    )
    db.add(claim)
    db.commit()
    return claim.id
