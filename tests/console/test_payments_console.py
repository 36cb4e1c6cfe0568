# ruff: noqa: F811  (bank, payer and settings_overrides are fixtures imported from tests/api/test_payments.py)
"""The officers' money pages with Flask's test client: cash recorded against a bill with the member present (the
bill's member, months and amount shown first), four eyes (the officer who took it cannot confirm it; a second
officer of the office can, the same day), the daily cash report with its totals and CSV, the payment review queue
(reason, expected and paid, resolve with a note), and who may open what."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update

from lsso_mobile import runtime
from lsso_mobile.i18n import format_money
from lsso_mobile.models import InsuredPerson, Payment, PaymentReview, StaffRole
from lsso_mobile.services.accounts import create_staff_user
from lsso_mobile.services.payments import damm_digit
from tests.api.test_payments import (  # noqa: F401  (settings_overrides and payer are fixtures)
    make_bill,
    payer,
    periods,
    settings_overrides,
    settled,
)
from tests.conftest import STAFF_PASSWORD, office_id
from tests.console.conftest import console_sign_in, csrf_token, post_form
from tests.messaging_support import member

SECOND = "officer.second"


@pytest.fixture
def second_officer(app, db) -> str:
    """Another officer of D0101 (the payer's office)."""
    create_staff_user(
        db,
        runtime.current().settings,
        SECOND,
        STAFF_PASSWORD,
        StaffRole.OFFICER,
        "Second officer",
        office_id(db, "D0101"),
    )
    db.commit()
    return SECOND


def signed_in(app, username: str):
    desk = app.test_client()
    assert console_sign_in(desk, username).status_code == 302
    return desk


def today() -> str:
    return datetime.now(UTC).astimezone(ZoneInfo("Asia/Vientiane")).date().isoformat()


def record(desk, number: str, amount: int | str, key: str | None = None):
    page = desk.get(f"/console/cash?bill={number}")
    assert page.status_code == 200, page.text
    data = {"bill_number": number, "amount": str(amount), "csrf_token": csrf_token(page.text)}
    if key:
        data["key"] = key
    return desk.post("/console/cash/record", data=data)


def confirm(desk, payment_id: int):
    return post_form(desk, "/console/cash", f"/console/cash/{payment_id}/confirm", {})


def test_who_may_open_the_money_pages(app, client, staff, sms_gateway):
    assert client.get("/console/cash").status_code == 302  # signed out: to the sign-in
    alice = member(client, sms_gateway, "+8562055560009")
    assert client.get("/console/cash", headers=alice).status_code == 302  # a bearer token opens nothing
    for role in ("ops", "admin"):
        other = signed_in(app, staff[role])
        for path in ("/console/cash", "/console/cash/report", f"/console/cash/report.csv?day={today()}"):
            refused = other.get(path)
            assert refused.status_code == 403 and "ບໍ່ແມ່ນສຳລັບບັນຊີຂອງທ່ານ" in refused.text, (role, path)
        assert other.post("/console/cash/1/confirm").status_code in (400, 403)  # no CSRF token, no role
        # with a valid token (from a page every staff account opens), the role alone refuses it
        assert post_form(other, "/console/account", "/console/cash/1/confirm", {}).status_code == 403, role
    ops = signed_in(app, staff["ops"])
    assert ops.get("/console/payment-reviews").status_code == 403
    admin = signed_in(app, staff["admin"])
    reviews = admin.get("/console/payment-reviews")
    assert reviews.status_code == 200 and 'href="/console/payment-reviews"' in reviews.text
    assert 'href="/console/cash"' not in reviews.text  # cash is the officers' own

    desk = signed_in(app, staff["officer"])
    inbox = desk.get("/console/inbox")
    assert 'href="/console/cash"' in inbox.text and 'href="/console/payment-reviews"' in inbox.text


def test_the_bill_is_shown_before_cash_is_taken(app, payer, staff) -> None:
    bill = make_bill(app.test_client(), payer["headers"], periods(3)).json
    desk = signed_in(app, staff["officer"])
    spoken = f"{bill['number'][:3]} {bill['number'][3:6]}-{bill['number'][6:]}"  # as read out or printed
    shown = desk.get("/console/cash", query_string={"bill": spoken})
    assert shown.status_code == 200, shown.text
    assert f'data-bill="{bill["number"]}"' in shown.text and payer["number"] in shown.text
    for month in bill["months"]:
        assert month["period"] in shown.text
    assert format_money(bill["amount"], "lo") in shown.text
    assert 'name="amount"' in shown.text  # the form to record it

    typo = bill["number"][:-1] + str((int(bill["number"][-1]) + 1) % 10)
    wrong = desk.get(f"/console/cash?bill={typo}")
    assert wrong.status_code == 422 and "ນີ້ບໍ່ແມ່ນເລກໃບເກັບເງິນ" in wrong.text and 'id="bill-error"' in wrong.text
    unknown_body = "123456789"
    unknown = desk.get(f"/console/cash?bill={unknown_body}{damm_digit(unknown_body)}")
    assert unknown.status_code == 404 and "ບໍ່ພົບໃບເກັບເງິນນີ້ຢູ່ຫ້ອງການຂອງທ່ານ" in unknown.text

    elsewhere = signed_in(app, staff["other_officer"])
    hidden = elsewhere.get(f"/console/cash?bill={bill['number']}")
    assert hidden.status_code == 404 and payer["number"] not in hidden.text


def test_cash_needs_a_second_officer_and_then_pays_the_bill(app, payer, staff, second_officer, db) -> None:
    api = app.test_client()
    bill = make_bill(api, payer["headers"], periods(2)).json
    first = signed_in(app, staff["officer"])

    forged = first.post("/console/cash/record", data={"bill_number": bill["number"], "amount": str(bill["amount"])})
    assert forged.status_code == 400  # no CSRF token: refused before anything is read
    wrong = record(first, bill["number"], bill["amount"] - 1)
    assert wrong.status_code == 422 and 'id="amount-error"' in wrong.text
    assert "ກະລຸນາຮັບເງິນເທົ່ານັ້ນ" in wrong.text  # the service's refusal, in Lao, at the field
    assert db.scalar(select(func.count()).select_from(Payment)) == 0

    taken = record(first, bill["number"], bill["amount"], key="one-click")
    assert taken.status_code == 302, taken.text
    again = record(first, bill["number"], bill["amount"], key="one-click")  # the same click sent twice
    assert again.status_code == 302
    payment = db.scalars(select(Payment)).one()
    assert payment.status.value == "awaiting_second_officer" and payment.provider == "cash"
    desk_page = first.get("/console/cash")
    assert f'id="cash-{payment.id}"' in desk_page.text and "ທ່ານເປັນຜູ້ຮັບ" in desk_page.text
    assert f"/console/cash/{payment.id}/confirm" not in desk_page.text  # no button for one's own cash
    pending = first.get(f"/console/cash?bill={bill['number']}")
    assert "data-pending" in pending.text and 'name="amount"' not in pending.text

    own = confirm(first, payment.id)  # posted anyway: the service refuses it
    assert own.status_code == 403 and "ພະນັກງານຄົນທີສອງຕ້ອງຢືນຢັນເງິນສົດທີ່ທ່ານຮັບ" in own.text
    elsewhere = signed_in(app, staff["other_officer"])
    assert f'id="cash-{payment.id}"' not in elsewhere.get("/console/cash").text
    assert confirm(elsewhere, payment.id).status_code == 404
    db.expire_all()
    assert db.get(Payment, payment.id).status.value == "awaiting_second_officer"
    assert api.get(f"/api/v1/me/bills/{bill['id']}", headers=payer["headers"]).json["status"] == "open"

    second = signed_in(app, second_officer)
    assert 'data-count="cash">1</span>' in second.get("/console/inbox").text  # the menu: cash for you to confirm
    assert 'data-count="cash"' not in first.get("/console/inbox").text  # not for the officer who took it
    assert f"/console/cash/{payment.id}/confirm" in second.get("/console/cash").text
    confirmed = confirm(second, payment.id)
    assert confirmed.status_code == 302
    assert bill["number"] in second.get("/console/cash").text  # the flash names the bill
    db.expire_all()
    assert db.get(Payment, payment.id).status.value == "credited"
    assert api.get(f"/api/v1/me/bills/{bill['id']}", headers=payer["headers"]).json["status"] == "paid"
    settled_again = confirm(second, payment.id)
    assert settled_again.status_code == 409 and "ໄດ້ຢືນຢັນ ຫຼື ແກ້ໄຂແລ້ວ" in settled_again.text


def test_cash_taken_yesterday_can_no_longer_be_confirmed(app, payer, staff, second_officer, db) -> None:
    bill = make_bill(app.test_client(), payer["headers"], periods(1)).json
    assert record(signed_in(app, staff["officer"]), bill["number"], bill["amount"]).status_code == 302
    yesterday = datetime.now(UTC) - timedelta(days=1)
    db.execute(Payment.__table__.update().values(paid_at=yesterday, received_at=yesterday))
    db.commit()
    payment_id = db.scalar(select(Payment.id))
    second = signed_in(app, second_officer)
    listed = second.get("/console/cash")
    assert "ຢືນຢັນບໍ່ໄດ້ອີກແລ້ວ" in listed.text and f"/console/cash/{payment_id}/confirm" not in listed.text
    late = confirm(second, payment_id)
    assert late.status_code == 409 and "ຕ້ອງຢືນຢັນເງິນສົດໃນມື້ທີ່ຮັບ" in late.text
    assert db.scalar(select(Payment.status)).value == "awaiting_second_officer"
    # It no longer blocks the bill: the cash is recorded again with the member, for a second officer today.
    page = signed_in(app, staff["officer"]).get(f"/console/cash?bill={bill['number']}")
    assert 'action="/console/cash/record"' in page.text, page.text
    assert record(signed_in(app, staff["officer"]), bill["number"], bill["amount"]).status_code == 302
    again = db.scalar(select(Payment.id).where(Payment.id != payment_id))
    assert confirm(second, again).status_code == 302
    assert db.scalar(select(Payment.status).where(Payment.id == again)).value == "credited"


def test_the_daily_cash_report_and_its_csv(app, payer, staff, second_officer, db) -> None:
    api = app.test_client()
    first = signed_in(app, staff["officer"])
    confirmed_bill = make_bill(api, payer["headers"], periods(1)).json
    assert record(first, confirmed_bill["number"], confirmed_bill["amount"]).status_code == 302
    second = signed_in(app, second_officer)
    assert confirm(second, db.scalar(select(Payment.id))).status_code == 302
    waiting_bill = make_bill(api, payer["headers"], periods(3)[1:]).json  # the next two months
    assert record(second, waiting_bill["number"], waiting_bill["amount"]).status_code == 302

    report = first.get(f"/console/cash/report?day={today()}")
    assert report.status_code == 200
    html = report.text
    assert "<strong data-confirmed-count>1</strong>" in html and "<strong data-awaiting-count>1</strong>" in html
    assert f"<strong data-confirmed-total>{format_money(confirmed_bill['amount'], 'lo')}</strong>" in html
    assert f"<strong data-awaiting-total>{format_money(waiting_bill['amount'], 'lo')}</strong>" in html
    assert first.get("/console/cash/report").text.count("data-cash=") == 2  # today by default

    # A name is whatever the member typed: in the CSV it must not be a formula a spreadsheet would run.
    formula = '=HYPERLINK("https://example.invalid/","open")'
    db.execute(update(InsuredPerson).where(InsuredPerson.member_number == payer["number"]).values(name_latin=formula))
    db.commit()
    exported = first.get(f"/console/cash/report.csv?day={today()}")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert f'filename="lsso-cash-{today()}.csv"' in exported.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.data.decode("utf-8-sig"))))
    by_bill = {r["bill_number"]: r for r in rows}
    assert set(by_bill) == {confirmed_bill["number"], waiting_bill["number"]}
    paid = by_bill[confirmed_bill["number"]]
    assert (paid["amount"], paid["status"], paid["member_number"]) == (
        str(confirmed_bill["amount"]),
        "credited",
        payer["number"],
    )
    assert paid["recorded_by"] == staff["officer"] and paid["confirmed_by"] == "Second officer"
    assert paid["name_latin"] == "'" + formula
    assert by_bill[waiting_bill["number"]]["confirmed_by"] == ""

    elsewhere = signed_in(app, staff["other_officer"])
    theirs = elsewhere.get(f"/console/cash/report?day={today()}")
    assert "<strong data-confirmed-count>0</strong>" in theirs.text and confirmed_bill["number"] not in theirs.text
    assert len(list(csv.reader(io.StringIO(elsewhere.get("/console/cash/report.csv").data.decode("utf-8-sig"))))) == 1
    other_day = first.get("/console/cash/report?day=2026-01-02")
    assert "<strong data-confirmed-count>0</strong>" in other_day.text
    bad = first.get("/console/cash/report?day=not-a-day")
    assert bad.status_code == 422 and "ກະລຸນາໃສ່ວັນທີ" in bad.text
    assert first.get("/console/cash/report.csv?day=31-12-2026").status_code == 422

    post_form(first, "/console/cash/report", "/console/language", {"lang": "en", "next": "/console/cash/report"})
    english = first.get(f"/console/cash/report?day={today()}")
    assert "Daily cash report" in english.text and format_money(confirmed_bill["amount"], "en") in english.text


def test_an_officer_settles_the_payment_review_queue(app, payer, bank, staff, db) -> None:
    api = app.test_client()
    bill = make_bill(api, payer["headers"], periods(2)).json
    short = bill["amount"] - 100_000
    tx = bank.pay(bill["number"], short)
    assert settled(api, bank, db, tx) == "review"
    review_id = db.scalar(select(PaymentReview.id))

    desk = signed_in(app, staff["officer"])
    queue = desk.get("/console/payment-reviews")
    assert queue.status_code == 200
    assert f'data-review="{review_id}"' in queue.text and "ຈຳນວນເງິນບໍ່ກົງກັບໃບເກັບເງິນ" in queue.text
    assert f"<td data-expected>{format_money(bill['amount'], 'lo')}</td>" in queue.text
    assert format_money(short, "lo") in queue.text and tx in queue.text and payer["number"] in queue.text
    elsewhere = signed_in(app, staff["other_officer"])
    assert f'data-review="{review_id}"' not in elsewhere.get("/console/payment-reviews").text
    assert (
        post_form(
            elsewhere,
            "/console/payment-reviews",
            f"/console/payment-reviews/{review_id}/resolve",
            {"action": "refund", "note": "not ours"},
        ).status_code
        == 404
    )

    action = f"/console/payment-reviews/{review_id}/resolve"
    no_note = post_form(desk, "/console/payment-reviews", action, {"action": "refund", "note": ""})
    assert no_note.status_code == 422 and f'id="note-{review_id}-error"' in no_note.text
    assert db.scalar(select(PaymentReview.status)).value == "open"
    refunded = post_form(
        desk, "/console/payment-reviews", action, {"action": "refund", "note": "Paid 100,000 short; refunded."}
    )
    assert refunded.status_code == 302, refunded.text
    db.expire_all()
    review = db.get(PaymentReview, review_id)
    assert review.status.value == "refunded" and review.note == "Paid 100,000 short; refunded."
    assert db.scalar(select(Payment.status).where(Payment.transaction_id == tx)).value == "refunded"
    assert f'data-review="{review_id}"' not in desk.get("/console/payment-reviews").text  # open ones by default
    settled_list = desk.get("/console/payment-reviews?status=refunded")
    assert "Paid 100,000 short; refunded." in settled_list.text and "data-outcome" in settled_list.text

    again = post_form(desk, "/console/payment-reviews?status=all", action, {"action": "apply", "note": "again"})
    assert again.status_code == 422 and "ລາຍການກວດສອບນີ້ໄດ້ແກ້ໄຂແລ້ວ" in again.text

    admin = signed_in(app, staff["admin"])
    assert f'data-review="{review_id}"' in admin.get("/console/payment-reviews?status=all").text
