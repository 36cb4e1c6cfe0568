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
    response = client.post("/api/v1/integration/token", json={"client_id": created.client_id,
                                                               "client_secret": secret})
    assert response.status_code == 200 and response.json["role"] == "core"
    return bearer(response.json["access_token"])


@pytest.fixture
def people(client, sms_gateway, db):
    office = db.scalars(select(Office).where(Office.code == "P01")).one()
    persons = []
    for i in range(2):
        person = InsuredPerson(member_number=f"01000020{i:02d}", name_lo="ທ", name_latin="T", sex=Sex.MALE,
                               date_of_birth=date(1985, 1, 1), national_id=f"N{i}", scheme=Scheme.COMPULSORY,
                               office_id=office.id, province_code="01")
        db.add(person)
        persons.append(person)
    db.commit()
    sign_up(client, sms_gateway, "+8562055591000")  # person 0 uses the app
    db.scalars(select(Member).where(Member.phone == "+8562055591000")).one().insured_person_id = persons[0].id
    db.commit()
    return persons


def record(n, member_number="0100002000", **overrides):
    base = {"source_id": f"core-{member_number}-{n}", "member_number": member_number, "period": f"2025-{n:02d}",
            "scheme": "compulsory", "employer_name": "Lao Brewery", "employer_registration_no": "ER-77",
            "insurable_earnings": 2_000_000, "employee_share": 110_000, "employer_share": 120_000,
            "total": 230_000, "status": "paid", "paid_date": f"2025-{n:02d}-18", "payment_channel": "bank",
            "receipt_reference": f"RC-{n}"}
    base.update(overrides)
    return base


def test_bad_rows_are_reported_and_good_ones_stored(client, db, core, people):
    records = [
        record(1), record(2), record(3, member_number="0100002001"),
        record(4, member_number="0199999999"),                 # unknown member
        record(5, period="2025-13"),                           # bad period
        record(6, employee_share=-5, total=119_995),           # negative amount
        record(2),                                             # duplicate in this import
        record(7, total=1),                                    # total does not add up
        record(8, period="2031-01", paid_date="2031-01-18"),   # the future
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
    corrected = client.post("/api/v1/integration/contributions",
                            json={"records": [record(1, receipt_reference="RC-1-fixed")]}, headers=core).json
    assert corrected["updated"] == 1 and corrected["members_notified"] == 0  # already paid: no new notice


def test_csv_with_line_numbers(client, db, core, people):
    header = ",".join(record(1))
    rows = [",".join(str(v) for v in record(1).values()),
            ",".join(str(v) for v in record(2, member_number="0177777777").values()),
            ",".join(str(v) for v in record(3).values())]
    body = "\n".join([header, *rows]) + "\n"
    result = client.post("/api/v1/integration/contributions", data=body, content_type="text/csv",
                         headers=core).json
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
    assert client.post("/api/v1/integration/contributions", json={"records": too_many},
                       headers=core).status_code == 413
    assert client.post("/api/v1/integration/contributions", json={"rows": []}, headers=core).status_code == 422
    assert client.post("/api/v1/integration/contributions", data="x", content_type="text/plain",
                       headers=core).status_code == 422
    refresh_refused = client.post("/api/v1/integration/contributions", json={"records": ["not an object"]},
                                  headers=core).json
    assert refresh_refused["rejected"][0]["line"] == 1
