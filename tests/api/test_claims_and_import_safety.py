# ruff: noqa: F811 (the fixtures core and people come from test_integration)
"""Core imports refuse text the database cannot store record by record; a claim follows one life for
officers and imports alike, and an import waits for an officer's decision on the same claim."""

from __future__ import annotations

import logging
import re
import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from lsso_mobile import runtime
from lsso_mobile.models import BenefitClaim, ClaimStatus, ClaimStatusChange, Contribution, StaffUser
from lsso_mobile.services import claims as claim_service
from lsso_mobile.services.accounts import Principal
from tests.api.test_integration import claim, core, people, record  # noqa: F401 (fixtures)
from tests.conftest import BACKEND, STAFF_PASSWORD
from tests.support import bearer, field_codes, staff_sign_in

CLAIMS = "/api/v1/integration/claims"
CONTRIBUTIONS = "/api/v1/integration/contributions"


def _csv(records: list[dict]) -> bytes:
    header = list(records[0])
    lines = [",".join(header)] + [",".join("" if r[k] is None else str(r[k]) for k in header) for r in records]
    return ("\n".join(lines) + "\n").encode()


def _post(client, path, records, fmt, headers):
    if fmt == "json":
        return client.post(path, json={"records": records}, headers=headers)
    return client.post(path, data=_csv(records), content_type="text/csv", headers=headers)


@pytest.mark.parametrize("fmt", ["json", "csv"])
@pytest.mark.parametrize("kind", ["contributions", "claims"])
def test_text_the_database_cannot_store_refuses_only_its_record(client, db, core, people, caplog, fmt, kind):
    if kind == "contributions":
        path, model, make, field = CONTRIBUTIONS, Contribution, record, "employer_name"
    else:
        path, model, make, field = CLAIMS, BenefitClaim, claim, "reason"
    bad = [
        make(2, **{field: "Lao\x00Brewery"}),  # NUL: PostgreSQL refuses it in text
        make(3, source_id="nul-\x00-id"),  # NUL in the id looked up before anything is stored
    ]
    if fmt == "json":  # CSV arrives as bytes: a lone surrogate cannot be sent in UTF-8
        bad += [
            make(4, **{field: "half \ud800 pair"}),
            make(5, source_id="\udcff"),
            {**make(6), "ke\x00y": 1},
            {**make(7), "\udc80key": 1},
        ]
    records = [make(1)] + bad + [make(len(bad) + 2)]
    caplog.set_level(logging.DEBUG)
    response = _post(client, path, records, fmt, core)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    body = response.json
    first_line = 2 if fmt == "csv" else 1  # CSV lines count the header
    bad_lines = list(range(first_line + 1, first_line + 1 + len(bad)))
    assert [r["line"] for r in body["rejected"]] == bad_lines
    assert all("NUL character or an unpaired surrogate" in str(r["errors"]) for r in body["rejected"])
    assert body["created"] == 2 and body["received"] == len(records)
    # nothing that cannot be stored is echoed either: a strict JSON parser refuses a lone surrogate
    assert not re.search(r"\\u(0000|d[89a-f][0-9a-f]{2})", response.get_data(as_text=True), re.IGNORECASE)
    echoed = {r["line"]: r["source_id"] for r in body["rejected"]}
    assert echoed[first_line + 1] == make(2)["source_id"]
    assert echoed[first_line + 2] is None  # an id that cannot be stored is not echoed either
    if fmt == "json":
        assert echoed[first_line + 4] is None
    db.expire_all()
    stored = set(db.scalars(select(model.source_id)))
    assert stored == {make(1)["source_id"], make(len(bad) + 2)["source_id"]}
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], "nothing about the records is logged"
    again = _post(client, path, records, fmt, core).json  # a retry: the same answer, nothing new
    assert [r["line"] for r in again["rejected"]] == bad_lines and again["unchanged"] == 2


def _admin(db) -> Principal:
    admin = db.scalars(select(StaffUser).where(StaffUser.username == "admin.central")).one()
    return Principal(kind="staff", id=admin.id, role="admin", office_id=None, session_id="test")


def _history(db, claim_id: int) -> list[str]:
    db.expire_all()
    return [
        c.status.value
        for c in db.scalars(
            select(ClaimStatusChange).where(ClaimStatusChange.claim_id == claim_id).order_by(ClaimStatusChange.id)
        )
    ]


def _claim(db, source_id: str) -> BenefitClaim:
    db.expire_all()
    return db.scalars(select(BenefitClaim).where(BenefitClaim.source_id == source_id)).one()


def test_officers_follow_the_claims_life(client, db, core, people, staff):
    client.post(CLAIMS, json={"records": [claim(1)]}, headers=core)
    claim_id = _claim(db, "claim-1").id
    admin = bearer(staff_sign_in(client, staff["admin"], STAFF_PASSWORD)["access_token"])
    url = f"/api/v1/staff/claims/{claim_id}/status"

    def move(status, **extra):
        return client.post(url, json={"status": status, **extra}, headers=admin)

    no_amount = move("approved")
    assert no_amount.status_code == 422 and field_codes(no_amount.json) == {"amount_approved": ["required"]}
    assert move("under_review").status_code == 200
    assert move("approved", amount_approved=450_000).json["amount_approved"] == 450_000
    for backwards in ("under_review", "more_info_needed", "received"):
        refused = move(backwards, reason="again")
        assert refused.status_code == 409 and field_codes(refused.json) == {"status": ["status_conflict"]}
    assert move("rejected", reason="changed my mind").status_code == 409  # a decision stands
    assert move("paid").status_code == 200
    for after_paid in ("approved", "rejected", "under_review"):
        assert move(after_paid, reason="x", amount_approved=1).status_code == 409
    assert move("paid", reason="once more").status_code == 409  # nothing is added to a final claim
    assert move("paid", amount_approved=1).status_code == 409
    assert move("paid").status_code == 200  # the same request again: nothing changes
    assert _history(db, claim_id) == ["received", "under_review", "approved", "paid"]
    assert _claim(db, "claim-1").amount_approved == 450_000
    # rejected is final too
    client.post(CLAIMS, json={"records": [claim(2)]}, headers=core)
    rejected_id = _claim(db, "claim-2").id
    url = f"/api/v1/staff/claims/{rejected_id}/status"
    assert move("rejected", reason="not insured then").status_code == 200
    assert move("approved", amount_approved=1).status_code == 409
    assert move("under_review").status_code == 409


def test_imports_follow_the_same_life_record_by_record(client, db, core, people):
    def send(*records):
        response = client.post(CLAIMS, json={"records": list(records)}, headers=core)
        assert response.status_code == 200, response.json
        return response.json

    created = send(claim(1), claim(2, status="approved"), claim(3, status="paid", amount_approved=None))
    assert created["created"] == 1
    assert [(r["line"], r["errors"]) for r in created["rejected"]] == [
        (2, {"amount_approved": ["A approved claim needs the amount approved."]}),
        (3, {"amount_approved": ["A paid claim needs the amount approved."]}),
    ]
    assert send(claim(1, status="approved", amount_approved=300_000))["updated"] == 1  # skipping ahead is allowed
    assert send(claim(1, status="approved", amount_approved=300_000))["unchanged"] == 1  # a retry changes nothing
    back = send(claim(1, status="under_review", amount_approved=300_000))
    assert (
        back["rejected"][0]["line"] == 1 and "cannot become under_review" in back["rejected"][0]["errors"]["status"][0]
    )
    assert send(claim(1, status="approved", amount_approved=None))["rejected"][0]["errors"] == {
        "amount_approved": ["A approved claim needs the amount approved."]
    }
    assert send(claim(1, status="paid", amount_approved=300_000))["updated"] == 1
    for after_paid in (
        claim(1, status="rejected", reason="late", amount_approved=300_000),
        claim(1, status="approved", amount_approved=300_000),
        claim(1, status="paid", amount_approved=999_999),  # not even the amount of a paid claim
    ):
        refused = send(after_paid)
        assert refused["rejected"][0]["errors"] == {"status": ["The claim is paid; its status can no longer change."]}
    assert send(claim(1, status="paid", amount_approved=300_000))["unchanged"] == 1
    paid = _claim(db, "claim-1")
    assert (paid.status, paid.amount_approved) == (ClaimStatus.PAID, 300_000)
    assert _history(db, paid.id) == ["received", "approved", "paid"]


needs_postgres = pytest.mark.skipif(BACKEND != "postgresql", reason="waits for a row lock, seen in pg_stat_activity")


def _wait_until_blocked(db, what: str) -> None:
    """Until some other session of this database waits for a row lock (the import, behind the officer)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        waiting = db.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
        ).scalar()
        db.rollback()
        if waiting:
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} never waited for the lock")


@needs_postgres
@pytest.mark.parametrize(
    ("before", "officer_sets", "core_sends"),
    [
        # from the import's stale view (under review) approving is allowed; from the officer's decision it is not
        ("under_review", {"status": ClaimStatus.REJECTED, "reason": "not insured then"}, {"status": "approved"}),
        # paid is final: not even the amount of a claim paid a moment ago changes
        ("approved", {"status": ClaimStatus.PAID}, {"status": "approved", "amount_approved": 999_999}),
        ("approved", {"status": ClaimStatus.PAID}, {"status": "rejected", "reason": "core says no"}),
    ],
)
def test_an_import_waits_for_the_officers_decision(
    app, client, db, core, people, staff, before, officer_sets, core_sends
):
    client.post(CLAIMS, json={"records": [claim(1, status=before, amount_approved=500_000)]}, headers=core)
    claim_id = _claim(db, "claim-1").id
    officer = runtime.current().db.session_factory()
    decided = claim_service.claim_for_staff(officer, _admin(db), claim_id)  # the officer's lock, held
    claim_service.change_claim_status(
        officer, decided, officer_sets["status"], officer_sets.get("reason"), datetime.now(UTC)
    )
    answers: list = []

    def import_stale_decision() -> None:
        stale = claim(1, **{"amount_approved": 500_000, **core_sends})
        answers.append(app.test_client().post(CLAIMS, json={"records": [stale]}, headers=core))

    importer = threading.Thread(target=import_stale_decision)
    importer.start()
    try:
        _wait_until_blocked(db, "the import")
    finally:
        officer.commit()
        officer.close()
        importer.join(30)
    assert answers[0].status_code == 200
    assert answers[0].json["updated"] == 0 and answers[0].json["rejected"][0]["errors"]["status"]
    final = _claim(db, "claim-1")
    assert (final.status, final.amount_approved) == (officer_sets["status"], 500_000)
    assert _history(db, claim_id) == [before, officer_sets["status"].value]


def test_officer_and_import_racing_on_one_claim_end_consistent(app, client, db, core, people, staff):
    admin = bearer(staff_sign_in(client, staff["admin"], STAFF_PASSWORD)["access_token"])
    for round_ in range(8):
        source_id = f"claim-race-{round_}"
        client.post(CLAIMS, json={"records": [claim(0, source_id=source_id, status="under_review")]}, headers=core)
        claim_id = _claim(db, source_id).id
        barrier = threading.Barrier(2)
        answers: dict[str, object] = {}

        def officer_rejects() -> None:
            own = app.test_client()
            barrier.wait()
            answers["officer"] = own.post(
                f"/api/v1/staff/claims/{claim_id}/status",
                json={"status": "rejected", "reason": "not enough months"},
                headers=admin,
            )

        def core_approves() -> None:
            own = app.test_client()
            barrier.wait()
            answers["import"] = own.post(
                CLAIMS,
                json={"records": [claim(0, source_id=source_id, status="approved", amount_approved=700_000)]},
                headers=core,
            )

        threads = [threading.Thread(target=officer_rejects), threading.Thread(target=core_approves)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        officer_won = answers["officer"].status_code == 200
        import_won = answers["import"].json["updated"] == 1
        assert officer_won != import_won, (answers["officer"].json, answers["import"].json)  # exactly one decision
        if officer_won:
            assert answers["import"].json["rejected"][0]["errors"]["status"]
        else:
            assert answers["officer"].status_code == 409
        final = _claim(db, source_id)
        history = _history(db, claim_id)
        assert history[-1] == final.status.value and history[:-1] == ["under_review"]
        assert final.status is (ClaimStatus.REJECTED if officer_won else ClaimStatus.APPROVED)
