"""The core system's API: client credentials, bulk contributions in JSON and CSV with per-record
results, idempotent re-sends, one notice per member per import."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from lsso_mobile import runtime
from lsso_mobile.models import Contribution, InsuredPerson, Member, Notification, Office, Scheme, Sex
from lsso_mobile.services.accounts import create_integration_client
from tests.support import bearer, sign_up


@pytest.fixture
def core(client, db):
    created, secret = create_integration_client(db, runtime.current().settings, "LSSO core system")
    db.commit()
    response = client.post("/api/v1/integration/token", json={"client_id": created.client_id, "client_secret": secret})
    assert response.status_code == 200 and response.json["role"] == "core"
    return bearer(response.json["access_token"])


@pytest.fixture
def people(client, sms_gateway, db):
    office = db.scalars(select(Office).where(Office.code == "P01")).one()
    persons = []
    for i in range(2):
        person = InsuredPerson(
            member_number=f"01000020{i:02d}",
            name_lo="ທ",
            name_latin="T",
            sex=Sex.MALE,
            date_of_birth=date(1985, 1, 1),
            national_id=f"N{i}",
            scheme=Scheme.COMPULSORY,
            office_id=office.id,
            province_code="01",
        )
        db.add(person)
        persons.append(person)
    db.commit()
    sign_up(client, sms_gateway, "+8562055591000")  # person 0 uses the app
    db.scalars(select(Member).where(Member.phone == "+8562055591000")).one().insured_person_id = persons[0].id
    db.commit()
    return persons


def record(n, member_number="0100002000", **overrides):
    base = {
        "source_id": f"core-{member_number}-{n}",
        "member_number": member_number,
        "period": f"2025-{n:02d}",
        "scheme": "compulsory",
        "employer_name": "Lao Brewery",
        "employer_registration_no": "ER-77",
        "insurable_earnings": 2_000_000,
        "employee_share": 110_000,
        "employer_share": 120_000,
        "total": 230_000,
        "status": "paid",
        "paid_date": f"2025-{n:02d}-18",
        "payment_channel": "bank",
        "receipt_reference": f"RC-{n}",
    }
    base.update(overrides)
    return base


def test_bad_rows_are_reported_and_good_ones_stored(client, db, core, people):
    records = [
        record(1),
        record(2),
        record(3, member_number="0100002001"),
        record(4, member_number="0199999999"),  # unknown member
        record(5, period="2025-13"),  # bad period
        record(6, employee_share=-5, total=119_995),  # negative amount
        record(2),  # duplicate in this import
        record(7, total=1),  # total does not add up
        record(8, period="2031-01", paid_date="2031-01-18"),  # the future
    ]
    result = client.post("/api/v1/integration/contributions", json={"records": records}, headers=core).json
    assert (result["received"], result["created"], result["accepted"]) == (9, 3, 3)
    reasons = {r["line"]: r["errors"] for r in result["rejected"]}
    assert set(reasons) == {4, 5, 6, 7, 8, 9}
    assert "member_number" in reasons[4] and "period" in reasons[5] and "employee_share" in reasons[6]
    assert reasons[7] == {"source_id": ["appears twice in this import"]} and "total" in reasons[8]
    assert db.scalar(select(func.count()).select_from(Contribution)) == 3
    # one notice for the one app user, however many rows were theirs
    notices = db.scalars(select(Notification).where(Notification.template == "contributions_received")).all()
    assert len(notices) == 1 and "2 month" in notices[0].body_en and result["members_notified"] == 1


def test_resending_changes_nothing_and_notifies_nobody(client, db, core, people):
    records = [record(1), record(2)]
    first = client.post("/api/v1/integration/contributions", json={"records": records}, headers=core).json
    again = client.post("/api/v1/integration/contributions", json={"records": records}, headers=core).json
    assert first["created"] == 2 and again["unchanged"] == 2 and again["created"] == again["updated"] == 0
    assert again["members_notified"] == 0
    assert db.scalar(select(func.count()).select_from(Notification)) == 1
    corrected = client.post(
        "/api/v1/integration/contributions", json={"records": [record(1, receipt_reference="RC-1-fixed")]}, headers=core
    ).json
    assert corrected["updated"] == 1 and corrected["members_notified"] == 0  # already paid: no new notice


def test_csv_with_line_numbers(client, db, core, people):
    header = ",".join(record(1))
    rows = [
        ",".join(str(v) for v in record(1).values()),
        ",".join(str(v) for v in record(2, member_number="0177777777").values()),
        ",".join(str(v) for v in record(3).values()),
    ]
    body = "\n".join([header, *rows]) + "\n"
    result = client.post("/api/v1/integration/contributions", data=body, content_type="text/csv", headers=core).json
    assert result["created"] == 2
    assert [(r["line"], list(r["errors"])) for r in result["rejected"]] == [(3, ["member_number"])]


def test_only_the_core_client_may_import(client, sms_gateway, db, people):
    member = bearer(sign_up(client, sms_gateway, "+8562055591001")["access_token"])
    response = client.post("/api/v1/integration/contributions", json={"records": [record(1)]}, headers=member)
    assert response.status_code == 403
    assert client.post("/api/v1/integration/contributions", json={"records": []}).status_code == 401
    wrong = client.post("/api/v1/integration/token", json={"client_id": "core-x", "client_secret": "nope"})
    assert wrong.status_code == 401


def test_limits_and_bad_bodies(client, core, people):
    too_many = [record(1, source_id=f"s{i}") for i in range(5001)]
    assert client.post("/api/v1/integration/contributions", json={"records": too_many}, headers=core).status_code == 413
    assert client.post("/api/v1/integration/contributions", json={"rows": []}, headers=core).status_code == 422
    assert (
        client.post("/api/v1/integration/contributions", data="x", content_type="text/plain", headers=core).status_code
        == 422
    )
    refresh_refused = client.post(
        "/api/v1/integration/contributions", json={"records": ["not an object"]}, headers=core
    ).json
    assert refresh_refused["rejected"][0]["line"] == 1


def claim(n, member_number="0100002000", **overrides):
    base = {
        "source_id": f"claim-{n}",
        "member_number": member_number,
        "benefit_type": "sickness",
        "status": "received",
        "amount_claimed": 600_000,
        "amount_approved": None,
        "reason": None,
    }
    base.update(overrides)
    return base


def test_claims_and_payments_reach_the_member(client, db, core, people):
    from tests.support import PIN

    member = bearer(
        client.post("/api/v1/auth/login", json={"phone": "+8562055591000", "pin": PIN}).json["access_token"]
    )
    records = [claim(1), claim(2, member_number="0100002001")]
    created = client.post("/api/v1/integration/claims", json={"records": records}, headers=core).json
    assert created["created"] == 2
    decided = client.post(
        "/api/v1/integration/claims",
        json={"records": [claim(1, status="approved", amount_approved=500_000), claim(1, status="paid")]},
        headers=core,
    ).json
    assert decided["updated"] == 1
    assert decided["rejected"][0]["errors"] == {"source_id": ["appears twice in this import"]}
    again = client.post(
        "/api/v1/integration/claims",
        json={"records": [claim(1, status="approved", amount_approved=500_000)]},
        headers=core,
    ).json
    assert again["unchanged"] == 1
    paid = client.post(
        "/api/v1/integration/payments",
        json={
            "records": [
                {
                    "source_id": "pay-1",
                    "claim_source_id": "claim-1",
                    "period": "2025-05",
                    "amount": 250_000,
                    "paid_date": "2025-05-30",
                    "channel": "bank",
                },
                {
                    "source_id": "pay-2",
                    "claim_source_id": "claim-1",
                    "period": "2025-06",
                    "amount": 250_000,
                    "paid_date": "2025-06-30",
                    "channel": "bank",
                },
                {
                    "source_id": "pay-3",
                    "claim_source_id": "claim-404",
                    "period": "2025-06",
                    "amount": 1,
                    "paid_date": "2025-06-30",
                    "channel": "bank",
                },
            ]
        },
        headers=core,
    ).json
    assert paid["created"] == 2 and paid["members_notified"] == 1 and paid["rejected"][0]["line"] == 3
    claims = client.get("/api/v1/me/claims", headers=member).json
    assert [c["status"] for c in claims] == ["approved"]
    assert [h["status"] for h in claims[0]["history"]] == ["received", "approved"]
    assert len(client.get("/api/v1/me/payments", headers=member).json) == 2
    templates = [n.template for n in db.scalars(select(Notification).order_by(Notification.id))]
    assert templates == ["claim_status_changed", "claim_status_changed", "benefit_paid"]
    assert "500,000" in db.scalars(select(Notification).where(Notification.template == "benefit_paid")).one().body_en


def test_officers_update_claims_of_their_office_only(client, db, core, people, staff):
    from tests.conftest import STAFF_PASSWORD
    from tests.support import staff_sign_in

    client.post("/api/v1/integration/claims", json={"records": [claim(1)]}, headers=core)
    claim_id = client.get(
        "/api/v1/staff/claims", headers=bearer(staff_sign_in(client, staff["admin"], STAFF_PASSWORD)["access_token"])
    ).json["items"][0]["id"]
    # the claim belongs to the Vientiane Capital provincial office (P01): neither district officer's
    other = bearer(staff_sign_in(client, staff["other_officer"], STAFF_PASSWORD)["access_token"])
    refused = client.post(f"/api/v1/staff/claims/{claim_id}/status", json={"status": "approved"}, headers=other)
    assert refused.status_code == 404
    assert client.get("/api/v1/staff/claims", headers=other).json["items"] == []
    from lsso_mobile.models import StaffRole
    from lsso_mobile.services.accounts import create_staff_user

    office_id = db.scalar(select(Office.id).where(Office.code == "P01"))
    create_staff_user(db, runtime.current().settings, "officer.p01", STAFF_PASSWORD, StaffRole.OFFICER, "o", office_id)
    db.commit()
    mine = bearer(staff_sign_in(client, "officer.p01", STAFF_PASSWORD)["access_token"])
    no_reason = client.post(f"/api/v1/staff/claims/{claim_id}/status", json={"status": "rejected"}, headers=mine)
    assert no_reason.status_code == 422
    updated = client.post(
        f"/api/v1/staff/claims/{claim_id}/status",
        json={"status": "more_info_needed", "reason": "Send the doctor's letter"},
        headers=mine,
    )
    assert updated.status_code == 200 and updated.json["status"] == "more_info_needed"
    notice = db.scalars(select(Notification).order_by(Notification.id.desc())).first()
    assert notice.template == "claim_status_changed" and "doctor's letter" in notice.body_en


def test_a_large_import_within_the_limits_is_accepted(client, db, core, people):
    def month(i):
        return f"{1990 + (i // 12) % 36}-{1 + i % 12:02d}"

    records = [
        record(1, source_id=f"big-{i}", period=month(i), paid_date=f"{month(i)}-18", employer_name="E" * 150)
        for i in range(4000)
    ]
    body_size = len(__import__("json").dumps({"records": records}))
    assert body_size > 1_048_576  # larger than the default body limit for other routes
    result = client.post("/api/v1/integration/contributions", json={"records": records}, headers=core)
    assert result.status_code == 200, result.json
    assert result.json["created"] == 4000 and result.json["members_notified"] == 1


def test_odd_input_is_refused_record_by_record_never_a_500(client, db, core, people):
    odd = [
        record(1, period="2025-01\n"),  # a trailing newline
        record(2, period="202໕-02"),  # Lao digits
        record(3, employee_share=3_000_000_000, total=3_000_120_000),  # beyond the columns
    ]
    result = client.post("/api/v1/integration/contributions", json={"records": odd}, headers=core)
    assert result.status_code == 200
    assert [r["line"] for r in result.json["rejected"]] == [1, 2, 3] and result.json["created"] == 0
    deep = "{" + '"a":[' * 5000 + "]" * 5000 + "}"
    assert (
        client.post(
            "/api/v1/integration/contributions", data=deep, content_type="application/json", headers=core
        ).status_code
        == 422
    )
    bom_csv = "\ufeff" + ",".join(record(4)) + "\n" + ",".join(str(v) for v in record(4).values()) + "\n"
    from_excel = client.post(
        "/api/v1/integration/contributions", data=bom_csv.encode(), content_type="text/csv", headers=core
    ).json
    assert from_excel["created"] == 1, from_excel
    payments_csv = (
        "source_id,claim_source_id,period,amount,paid_date,channel\npay-x,claim-x,2025-05,1000,2025-05-30,bank\n"
    )
    paid = client.post("/api/v1/integration/payments", data=payments_csv, content_type="text/csv", headers=core).json
    assert paid["rejected"][0]["errors"] == {"claim_source_id": ["no claim has this source id"]}  # amount parsed


def test_a_refused_status_change_leaves_the_claim_as_it_was(client, db, core, people):
    client.post(
        "/api/v1/integration/claims", json={"records": [claim(9, status="paid", amount_approved=10)]}, headers=core
    )
    refused = client.post(
        "/api/v1/integration/claims", json={"records": [claim(9, status="approved", amount_approved=999)]}, headers=core
    ).json
    assert refused["rejected"][0]["errors"]["status"]
    from lsso_mobile.models import BenefitClaim

    db.expire_all()
    assert db.scalars(select(BenefitClaim).where(BenefitClaim.source_id == "claim-9")).one().amount_approved == 10


def test_updated_since_out_of_range(client, sms_gateway):
    member = bearer(sign_up(client, sms_gateway, "+8562055591009")["access_token"])
    response = client.get(
        "/api/v1/me/notifications", query_string={"updated_since": "9999-12-31T23:00:00-14:00"}, headers=member
    )
    assert response.status_code == 422
