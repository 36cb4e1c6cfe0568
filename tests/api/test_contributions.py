"""The member's contribution endpoints over HTTP: summary with ETag/304 and gzip, pages, and member A
never seeing member B's records through any endpoint, filter or cursor."""

from __future__ import annotations

import gzip
import json
from datetime import date

from sqlalchemy import select

from lsso_mobile.models import (
    BenefitClaim,
    BenefitPayment,
    BenefitType,
    ClaimStatus,
    ClaimStatusChange,
    Contribution,
    ContributionStatus,
    InsuredPerson,
    Member,
    Office,
    Scheme,
    Sex,
)
from tests.support import bearer, field_codes, sign_up


def _linked_member(client, sms_gateway, db, phone, member_number):
    tokens = sign_up(client, sms_gateway, phone)
    office = db.scalars(select(Office).where(Office.code == "P01")).one()
    person = InsuredPerson(
        member_number=member_number,
        name_lo="ທ້າວ ທົດສອບ",
        name_latin="Test",
        sex=Sex.FEMALE,
        date_of_birth=date(1990, 1, 1),
        national_id=f"ID-{member_number}",
        scheme=Scheme.VOLUNTARY,
        office_id=office.id,
        province_code="01",
    )
    db.add(person)
    db.flush()
    db.scalars(select(Member).where(Member.phone == phone)).one().insured_person_id = person.id
    db.commit()
    return bearer(tokens["access_token"]), person


def _record(db, person, periods, status=ContributionStatus.PAID):
    for period in periods:
        db.add(
            Contribution(
                insured_person_id=person.id,
                period=period,
                scheme=Scheme.VOLUNTARY,
                insurable_earnings=1_300_000,
                employee_share=117_000,
                employer_share=0,
                total=117_000,
                status=status,
                paid_date=date(int(period[:4]), int(period[5:]), 15),
                payment_channel="bank",
                receipt_reference=f"R-{person.id}-{period}",
                source_id=f"core-{person.id}-{period}",
            )
        )
    db.commit()


def test_summary_has_an_etag_and_answers_304_when_unchanged(client, sms_gateway, db):
    member, person = _linked_member(client, sms_gateway, db, "+8562055590001", "0100001001")
    _record(db, person, [f"2025-{m:02d}" for m in range(1, 13)])
    first = client.get("/api/v1/me/contributions/summary", headers=member)
    assert first.status_code == 200 and first.json["total_months"] == 12
    assert {e["benefit_type"] for e in first.json["eligibility"]} >= {"sickness", "old_age_pension"}
    etag = first.headers["ETag"]
    again = client.get("/api/v1/me/contributions/summary", headers={**member, "If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    _record(db, person, ["2026-01"])
    changed = client.get("/api/v1/me/contributions/summary", headers={**member, "If-None-Match": etag})
    assert changed.status_code == 200 and changed.json["total_months"] == 13


def test_summary_and_first_page_are_small_gzipped(client, sms_gateway, db):
    member, person = _linked_member(client, sms_gateway, db, "+8562055590002", "0100001002")
    _record(db, person, [f"{y}-{m:02d}" for y in (2023, 2024, 2025) for m in range(1, 13)])
    sizes = {}
    for url in ("/api/v1/me/contributions/summary", "/api/v1/me/contributions?limit=12"):
        response = client.get(url, headers={**member, "Accept-Encoding": "gzip"})
        assert response.headers.get("Content-Encoding") == "gzip"
        assert json.loads(gzip.decompress(response.data))
        sizes[url] = len(response.data)
    assert sum(sizes.values()) <= 4096, sizes


def test_contribution_pages_by_year_and_cursor(client, sms_gateway, db):
    member, person = _linked_member(client, sms_gateway, db, "+8562055590003", "0100001003")
    _record(db, person, [f"{y}-{m:02d}" for y in (2024, 2025) for m in range(1, 13)])
    first = client.get("/api/v1/me/contributions?year=2025&limit=5", headers=member).json
    periods = [c["period"] for c in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(f"/api/v1/me/contributions?year=2025&limit=5&cursor={cursor}", headers=member).json
        periods += [c["period"] for c in page["items"]]
        cursor = page["next_cursor"]
    assert periods == [f"2025-{m:02d}" for m in range(12, 0, -1)]
    assert client.get("/api/v1/me/contributions?cursor=bad!", headers=member).status_code == 422


def test_member_a_never_sees_member_b(client, sms_gateway, db):
    member_a, person_a = _linked_member(client, sms_gateway, db, "+8562055590004", "0100001004")
    member_b, person_b = _linked_member(client, sms_gateway, db, "+8562055590005", "0100001005")
    _record(db, person_a, ["2025-01", "2025-02"])
    _record(db, person_b, ["2025-03"])
    claim = BenefitClaim(
        insured_person_id=person_b.id,
        office_id=person_b.office_id,
        benefit_type=BenefitType.SICKNESS,
        status=ClaimStatus.APPROVED,
        amount_claimed=500_000,
        amount_approved=400_000,
        source_id="claim-b",
    )
    db.add(claim)
    db.flush()
    db.add(ClaimStatusChange(claim_id=claim.id, status=ClaimStatus.APPROVED, reason="ok"))
    db.add(
        BenefitPayment(
            claim_id=claim.id,
            period="2025-04",
            amount=400_000,
            paid_date=date(2025, 4, 30),
            channel="bank",
            source_id="pay-b",
        )
    )
    db.commit()
    mine = client.get("/api/v1/me/contributions", headers=member_a).json["items"]
    assert [c["period"] for c in mine] == ["2025-02", "2025-01"]
    # a cursor the service did not sign is refused; a signed one pointing past B's rows still only walks A's
    unsigned = client.get("/api/v1/me/contributions?cursor=cDoyMDk5LTAxOjk5OTk5OTk", headers=member_a)
    assert unsigned.status_code == 422 and field_codes(unsigned.json) == {"cursor": ["invalid"]}
    from lsso_mobile.api.schemas import encode_period_cursor

    signed = encode_period_cursor("2099-01", 9999999)
    walked = client.get("/api/v1/me/contributions", query_string={"cursor": signed}, headers=member_a).json
    assert {c["period"] for c in walked["items"]} == {"2025-01", "2025-02"}
    assert client.get("/api/v1/me/contributions?year=2025", headers=member_a).json["items"][0]["period"] == "2025-02"
    assert client.get("/api/v1/me/claims", headers=member_a).json == []
    assert client.get("/api/v1/me/payments", headers=member_a).json == []
    claims_b = client.get("/api/v1/me/claims", headers=member_b).json
    assert claims_b[0]["history"][0]["status"] == "approved"
    assert client.get("/api/v1/me/payments", headers=member_b).json[0]["amount"] == 400_000
    assert client.get("/api/v1/me/contributions/summary", headers=member_a).json["total_months"] == 2


def test_unlinked_member_gets_a_clear_404(client, sms_gateway):
    member = bearer(sign_up(client, sms_gateway, "+8562055590006")["access_token"])
    response = client.get("/api/v1/me/contributions/summary", headers=member)
    assert response.status_code == 404 and response.json["error"] == "not_linked"


def test_304_also_works_for_a_client_that_accepts_gzip(client, sms_gateway, db):
    member, person = _linked_member(client, sms_gateway, db, "+8562055590007", "0100001007")
    _record(db, person, [f"2025-{m:02d}" for m in range(1, 13)])
    headers = {**member, "Accept-Encoding": "gzip"}
    first = client.get("/api/v1/me/contributions/summary", headers=headers)
    again = client.get("/api/v1/me/contributions/summary", headers={**headers, "If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and len(again.data) == 0


def test_annual_statement(client, sms_gateway, db):
    member, person = _linked_member(client, sms_gateway, db, "+8562055590008", "0100001008")
    _record(db, person, [f"2025-{m:02d}" for m in range(1, 11)])
    _record(db, person, ["2025-11", "2025-12"], status=ContributionStatus.UNPAID)
    _record(db, person, ["2024-12"])
    statement = client.get("/api/v1/me/contributions/statement?year=2025", headers=member).json
    assert statement["months_contributed"] == 10 and statement["total"] == 10 * 117_000
    assert statement["unpaid_months"] == ["2025-11", "2025-12"] and len(statement["months"]) == 12
    assert client.get("/api/v1/me/contributions/statement", headers=member).status_code == 422
