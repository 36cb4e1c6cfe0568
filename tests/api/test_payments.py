"""Members pay contributions: dues, bills, LAO QR, callbacks (forged, replayed, duplicated, failed), the
review queue, receipts, cash with four eyes, the core feed and the reconciliation.

Without Redis the confirmation job runs in-process at commit, asking the local fake bank over HTTP; the
end-to-end test with a real worker is in test_payments_pipeline.py."""

from __future__ import annotations

import io
import time
import uuid
from datetime import UTC, datetime, timedelta

import pypdf
import pytest
from sqlalchemy import func, select

from lsso_mobile.models import Bill, BillStatus, Contribution, Notification, Payment, PaymentReview
from lsso_mobile.services.contributions import shift_period
from lsso_mobile.services.lao_qr import LAO_QR_AID, crc_ok, parse_tlv
from lsso_mobile.services.payments import damm_digit, new_bill_number, round_contribution, valid_bill_number
from lsso_mobile.tasks.periodic import reconcile_payments
from tests.conftest import CALLBACK_SECRET, STAFF_PASSWORD
from tests.fakes.bank import FakeBank
from tests.payments_support import (
    arrear_period,
    contribution,
    core_headers,
    current_period,
    import_records,
    registered_member,
    send_callback,
)
from tests.support import bearer, staff_sign_in


@pytest.fixture
def settings_overrides(bank: FakeBank) -> dict[str, object]:
    return {"payment_provider_url": bank.url, "payment_callback_secret": CALLBACK_SECRET}


@pytest.fixture
def payer(client, sms_gateway, staff, db, settings):
    """A voluntary member of D0101 (declared 2,500,000 kip) with one month of arrears from the core system."""
    headers, number = registered_member(client, sms_gateway, staff["officer"], "+8562055510001", language="en")
    core = core_headers(client, db, settings)
    import_records(client, core, [contribution(number, arrear_period(), "unpaid", total=200_000)])
    return {"headers": headers, "number": number, "core": core}


def officer(client, username: str) -> dict[str, str]:
    return bearer(staff_sign_in(client, username, STAFF_PASSWORD)["access_token"])


def periods(count: int) -> list[str]:
    """The arrear, then the current month and the months after it."""
    return [arrear_period()] + [shift_period(current_period(), k) for k in range(count - 1)]


def settled(client, bank: FakeBank, db, transaction_id: str) -> str:
    """Send the bank's callback; answer the payment's state once its confirmation job has run (in-process)."""
    assert send_callback(client, bank, transaction_id).status_code == 202
    db.expire_all()
    return db.scalar(select(Payment.status).where(Payment.transaction_id == transaction_id)).value


def make_bill(client, headers, months, key=None):
    extra = {"Idempotency-Key": key} if key else {}
    return client.post("/api/v1/me/bills", json={"months": months}, headers={**headers, **extra})


# -- bill numbers and amounts --------------------------------------------------------------------------


def test_bill_numbers_carry_a_check_digit_that_catches_typos() -> None:
    for _ in range(200):
        number = new_bill_number()
        assert valid_bill_number(number) and number[0] != "0"
        for position in range(10):  # every single wrong digit is caught
            wrong = number[:position] + str((int(number[position]) + 1) % 10) + number[position + 1 :]
            assert not valid_bill_number(wrong)
        for position in range(9):  # and every swap of two different neighbours
            if number[position] != number[position + 1]:
                swapped = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
                assert not valid_bill_number(swapped)
    assert damm_digit("572") == "4"  # the published example


def test_amounts_round_half_up_to_the_whole_kip() -> None:
    assert round_contribution(2_500_000, 900) == 225_000
    assert round_contribution(1_234_567, 900) == 111_111  # 111,111.03
    assert round_contribution(1_000_005, 900) == 90_000  # 90,000.45 -> down
    assert round_contribution(1_000_006, 900) == 90_001  # 90,000.54 -> up
    assert round_contribution(50, 900) == 5  # 4.5 -> up


def test_dues_list_arrears_first_then_this_month_and_twelve_ahead(client, payer) -> None:
    dues = client.get("/api/v1/me/dues", headers=payer["headers"])
    assert dues.status_code == 200, dues.json
    months = dues.json["months"]
    assert months[0] == {"period": arrear_period(), "amount": 200_000, "kind": "arrear", "open_bill_number": None}
    assert [m["period"] for m in months[1:]] == [shift_period(current_period(), k) for k in range(13)]
    assert {m["amount"] for m in months[1:]} == {225_000}  # 9% of 2,500,000 (within the 2024 band)
    assert months[1]["kind"] == "current" and months[2]["kind"] == "ahead"
    assert dues.json["arrears_total"] == 200_000


def test_a_bill_takes_the_oldest_months_first_and_holds_them(client, payer) -> None:
    skipped = make_bill(client, payer["headers"], [current_period()])
    assert skipped.status_code == 422 and skipped.json["error"] == "arrears_first", skipped.json
    assert arrear_period() in skipped.json["message"]
    unknown = make_bill(client, payer["headers"], [arrear_period(), shift_period(current_period(), 20)])
    assert unknown.status_code == 422 and unknown.json["error"] == "month_not_payable"

    bill = make_bill(client, payer["headers"], periods(3))
    assert bill.status_code == 201, bill.json
    assert bill.json["amount"] == 200_000 + 2 * 225_000 and valid_bill_number(bill.json["number"])
    assert [m["period"] for m in bill.json["months"]] == periods(3)
    again = make_bill(client, payer["headers"], [arrear_period()])
    assert again.status_code == 409 and again.json["error"] == "month_has_open_bill"
    dues = client.get("/api/v1/me/dues", headers=payer["headers"]).json["months"]
    assert [m["open_bill_number"] for m in dues[:3]] == [bill.json["number"]] * 3 and dues[3][
        "open_bill_number"
    ] is None

    # Cancelling frees the months; a new bill may take them.
    cancelled = client.post(f"/api/v1/me/bills/{bill.json['id']}/cancel", headers=payer["headers"])
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert make_bill(client, payer["headers"], [arrear_period()]).status_code == 201


def test_creating_a_bill_is_safe_to_retry(client, payer, db) -> None:
    key = str(uuid.uuid4())
    first = make_bill(client, payer["headers"], periods(2), key)
    retry = make_bill(client, payer["headers"], periods(2), key)
    assert first.status_code == retry.status_code == 201
    assert retry.json["id"] == first.json["id"] and retry.headers["Idempotent-Replayed"] == "true"
    assert first.headers["Idempotent-Replayed"] == "false"
    reused = make_bill(client, payer["headers"], periods(1), key)
    assert reused.status_code == 409 and reused.json["error"] == "idempotency_key_reused"
    assert db.scalar(select(func.count()).select_from(Bill)) == 1


def test_the_lao_qr_parses_and_its_crc_checks(client, payer, settings) -> None:
    bill = make_bill(client, payer["headers"], periods(1)).json
    payload = bill["qr_payload"]
    assert crc_ok(payload)
    fields = parse_tlv(payload)
    assert fields["00"] == "01" and fields["01"] == "12" and fields["53"] == "418" and fields["58"] == "LA"
    assert fields["54"] == str(bill["amount"])
    merchant = parse_tlv(fields["38"])
    assert merchant["00"] == LAO_QR_AID and merchant["01"] == settings.laoqr_participant_id
    assert merchant["03"] == settings.laoqr_merchant_id
    assert parse_tlv(fields["62"])["01"] == bill["number"]
    assert not crc_ok(payload.replace(fields["54"], str(bill["amount"] + 1)))  # a changed amount fails the CRC

    png = client.get(f"/api/v1/me/bills/{bill['id']}/qr", headers=payer["headers"])
    assert png.status_code == 200 and png.mimetype == "image/png" and png.data.startswith(b"\x89PNG")
    svg = client.get(f"/api/v1/me/bills/{bill['id']}/qr?format=svg", headers=payer["headers"])
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    for image, kind in ((png, "png"), (svg, "svg")):  # a generated file: our name, no sniffing, nothing run
        assert image.headers["Content-Disposition"] == f'inline; filename="bill-{bill["number"]}.{kind}"'
        assert (
            image.headers["X-Content-Type-Options"] == "nosniff"
            and "sandbox" in image.headers["Content-Security-Policy"]
        )


def test_the_bill_number_goes_by_sms_in_the_members_language(client, payer, sms_gateway) -> None:
    bill = make_bill(client, payer["headers"], periods(1)).json
    sent = client.post(f"/api/v1/me/bills/{bill['id']}/sms", headers=payer["headers"])
    assert sent.status_code == 202
    text = sms_gateway.messages[-1]["text"]
    assert bill["number"] in text and "200,000 kip" in text and text.startswith("LSSO: bill number")


def test_a_member_never_sees_another_members_bills(client, payer, sms_gateway, staff) -> None:
    bill = make_bill(client, payer["headers"], periods(1)).json
    other, _ = registered_member(client, sms_gateway, staff["officer"], "+8562055510002")
    for path in ("", "/qr", "/receipt"):
        assert client.get(f"/api/v1/me/bills/{bill['id']}{path}", headers=other).status_code == 404
    for path in ("/cancel", "/sms"):
        assert client.post(f"/api/v1/me/bills/{bill['id']}{path}", headers=other).status_code == 404
    assert client.get("/api/v1/me/bills", headers=other).json["items"] == []
    assert [b["id"] for b in client.get("/api/v1/me/bills", headers=payer["headers"]).json["items"]] == [bill["id"]]


# -- callbacks -------------------------------------------------------------------------------------------


def test_paid_bill_is_credited_once_whatever_the_callbacks_do(client, payer, bank, db, sms_gateway) -> None:
    bill = make_bill(client, payer["headers"], periods(3)).json
    failed = bank.pay(bill["number"], bill["amount"], status="failed")
    tx = bank.pay(bill["number"], bill["amount"])
    # out of order (the later transaction first), duplicated, and a failed one in between
    answers = [send_callback(client, bank, t) for t in (tx, failed, tx, tx)]
    assert [a.status_code for a in answers] == [202] * 4, [a.json for a in answers]
    assert {a.json["status"] for a in answers} <= {"unconfirmed", "credited", "failed"}
    payments = {p.transaction_id: p.status.value for p in db.scalars(select(Payment))}
    assert payments == {tx: "credited", failed: "failed"}
    assert client.get(f"/api/v1/me/bills/{bill['id']}", headers=payer["headers"]).json["status"] == "paid"
    record = client.get("/api/v1/me/contributions", headers=payer["headers"]).json["items"]
    paid = {r["period"]: r for r in record if r["status"] == "paid"}
    assert set(paid) == set(periods(3)) and all(r["awaiting_confirmation"] for r in paid.values())
    assert client.get("/api/v1/me/contributions/summary", headers=payer["headers"]).json["arrears"] == []
    receipts = db.scalars(select(Notification).where(Notification.template == "contribution_payment_received")).all()
    assert len(receipts) == 1 and receipts[0].critical and bill["number"] in receipts[0].body_en
    assert [m for m in sms_gateway.messages if bill["number"] in m["text"]] and sum(
        1 for m in sms_gateway.messages if "received" in m["text"] and bill["number"] in m["text"]
    ) == 1  # one receipt (other SMS, such as the registration notice's fallback, name no bill)
    assert db.scalar(select(func.count()).select_from(PaymentReview)) == 0


def test_a_forged_or_replayed_callback_is_refused_and_changes_nothing(client, payer, bank, db) -> None:
    bill = make_bill(client, payer["headers"], periods(1)).json
    tx = bank.pay(bill["number"], bill["amount"])
    body, headers = bank.signed(tx)
    forged = client.post(
        "/api/v1/payments/callbacks/sandbox", data=body, headers={**headers, "X-Signature": "sha256=" + "0" * 64}
    )
    assert forged.status_code == 401 and forged.json["error"] == "callback_refused"
    tampered = client.post("/api/v1/payments/callbacks/sandbox", data=body.replace(b"TX", b"TY"), headers=headers)
    assert tampered.status_code == 401
    other_key = FakeBank("another-secret-entirely-0123456789")
    wrong_key = client.post(
        "/api/v1/payments/callbacks/sandbox", data=other_key.signed(tx)[0], headers=other_key.signed(tx)[1]
    )
    assert wrong_key.status_code == 401
    replayed = send_callback(client, bank, tx, timestamp=int(time.time()) - 3600)
    assert replayed.status_code == 401 and replayed.json["error"] == "callback_refused"
    assert send_callback(client, bank, tx, provider="bank").status_code == 404
    assert db.scalar(select(func.count()).select_from(Payment)) == 0
    assert client.get(f"/api/v1/me/bills/{bill['id']}", headers=payer["headers"]).json["status"] == "open"
    assert settled(client, bank, db, tx) == "credited"  # the genuine one still works


def test_an_underpayment_goes_to_the_review_queue_and_an_officer_refunds_it(
    client, payer, bank, db, staff, sms_gateway
) -> None:
    bill = make_bill(client, payer["headers"], periods(2)).json
    tx = bank.pay(bill["number"], bill["amount"] - 100_000)
    assert settled(client, bank, db, tx) == "review"
    assert client.get(f"/api/v1/me/bills/{bill['id']}", headers=payer["headers"]).json["status"] == "open"
    assert not [
        r
        for r in client.get("/api/v1/me/contributions", headers=payer["headers"]).json["items"]
        if r["awaiting_confirmation"]
    ]

    other_office = client.get("/api/v1/staff/payment-reviews", headers=officer(client, staff["other_officer"]))
    assert other_office.json["items"] == []
    desk = officer(client, staff["officer"])
    queue = client.get("/api/v1/staff/payment-reviews?status=open", headers=desk).json["items"]
    assert [(r["reason"], r["amount"], r["transaction_id"]) for r in queue] == [
        ("amount_mismatch", bill["amount"] - 100_000, tx)
    ]
    resolved = client.post(
        f"/api/v1/staff/payment-reviews/{queue[0]['id']}/resolve",
        json={"action": "refund", "note": "Paid 100,000 short; refunded at the counter."},
        headers=desk,
    )
    assert resolved.status_code == 200 and resolved.json["status"] == "refunded"
    assert db.scalar(select(Payment.status).where(Payment.transaction_id == tx)).value == "refunded"
    again = client.post(
        f"/api/v1/staff/payment-reviews/{queue[0]['id']}/resolve", json={"action": "apply", "note": "x"}, headers=desk
    )
    assert again.status_code == 409


def test_a_payment_for_an_expired_bill_or_a_second_payment_goes_to_review(client, payer, bank, db, staff) -> None:
    bill = make_bill(client, payer["headers"], periods(1)).json
    first = bank.pay(bill["number"], bill["amount"])
    second = bank.pay(bill["number"], bill["amount"])
    assert settled(client, bank, db, first) == "credited"
    assert settled(client, bank, db, second) == "review"
    late_bill = make_bill(client, payer["headers"], [current_period()]).json
    db.execute(
        Bill.__table__.update()
        .where(Bill.id == late_bill["id"])
        .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
    )
    db.commit()
    late = bank.pay(late_bill["number"], late_bill["amount"])
    assert settled(client, bank, db, late) == "review"
    reasons = sorted(r.reason.value for r in db.scalars(select(PaymentReview)))
    assert reasons == ["already_paid", "bill_expired"]
    # The officer applies the late payment: its month was free again, so the bill is credited.
    desk = officer(client, staff["officer"])
    expired = next(
        r
        for r in client.get("/api/v1/staff/payment-reviews", headers=desk).json["items"]
        if r["reason"] == "bill_expired"
    )
    applied = client.post(
        f"/api/v1/staff/payment-reviews/{expired['id']}/resolve",
        json={"action": "apply", "note": "Paid in time at the bank."},
        headers=desk,
    )
    assert applied.status_code == 200, applied.json
    assert client.get(f"/api/v1/me/bills/{late_bill['id']}", headers=payer["headers"]).json["status"] == "paid"


def test_a_slow_or_down_provider_leaves_the_payment_unconfirmed_until_it_answers(client, payer, bank, db) -> None:
    from lsso_mobile.tasks.payments import PaymentNotSettled, confirm_payment

    bill = make_bill(client, payer["headers"], periods(1)).json
    tx = bank.pay(bill["number"], bill["amount"])
    bank.down = True
    assert settled(client, bank, db, tx) == "unconfirmed"
    payment_id = db.scalar(select(Payment.id).where(Payment.transaction_id == tx))
    with pytest.raises(Exception, match="503"):
        confirm_payment(payment_id)  # what RQ retries
    bank.down = False
    bank.set_status(tx, "pending")
    with pytest.raises(PaymentNotSettled):
        confirm_payment(payment_id)
    bank.set_status(tx, "paid")
    assert confirm_payment(payment_id) == "credited"
    assert confirm_payment(payment_id) == "done"  # a duplicated job does nothing


# -- receipts, the core system -------------------------------------------------------------------------


def test_receipt_pdf_has_the_lao_name_and_the_bill(client, payer, bank) -> None:
    bill = make_bill(client, payer["headers"], periods(2)).json
    assert client.get(f"/api/v1/me/bills/{bill['id']}/receipt", headers=payer["headers"]).status_code == 409
    send_callback(client, bank, bank.pay(bill["number"], bill["amount"]))
    pdf = client.get(f"/api/v1/me/bills/{bill['id']}/receipt", headers=payer["headers"])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.headers["Content-Disposition"] == f'attachment; filename="receipt-{bill["number"]}.pdf"'
    assert pdf.headers["X-Content-Type-Options"] == "nosniff" and pdf.headers["Cache-Control"] == "private, no-store"
    reader = pypdf.PdfReader(io.BytesIO(pdf.data))
    text = reader.pages[0].extract_text()
    assert bill["number"] in text and "Bualai Sisouvan" in text
    assert "ນາງ ບົວໄລ ສີສຸວັນ" in text  # shaped glyphs still map back to the Lao text
    fonts = {f["/BaseFont"] for f in reader.pages[0]["/Resources"]["/Font"].values()}
    assert any("Phetsarath" in str(f) or "NotoSansLao" in str(f) for f in fonts), fonts


def test_core_feed_lists_each_payment_once_and_the_import_confirms_it(client, payer, bank, settings) -> None:
    bill = make_bill(client, payer["headers"], periods(3)).json
    send_callback(client, bank, bank.pay(bill["number"], bill["amount"]))
    time.sleep(settings.payment_feed_lag_seconds + 0.2)
    first = client.get("/api/v1/integration/app-payments?limit=1", headers=payer["core"]).json
    assert [i["bill_number"] for i in first["items"]] == [bill["number"]]
    assert [m["period"] for m in first["items"][0]["months"]] == periods(3)
    assert first["items"][0]["member_number"] == payer["number"] and first["items"][0]["amount"] == bill["amount"]
    later = client.get(f"/api/v1/integration/app-payments?cursor={first['next_cursor']}", headers=payer["core"]).json
    assert later["items"] == [] and later["next_cursor"] is None
    assert client.get("/api/v1/integration/app-payments", headers=payer["headers"]).status_code == 403

    # The core system's import: the arrear (its own record, now paid) and this month. The month ahead cannot
    # be imported before it comes (the core refuses future periods): it stays awaiting confirmation until then.
    records = [
        contribution(
            payer["number"],
            month["period"],
            "paid",
            total=month["amount"],
            paid_date=str(datetime.now(UTC).astimezone(bank_zone()).date()),
            receipt_reference=bill["number"],
        )
        for month in bill["months"][:2]
    ]
    import_records(client, payer["core"], records)
    record = {r["period"]: r for r in client.get("/api/v1/me/contributions", headers=payer["headers"]).json["items"]}
    assert [(record[p]["status"], record[p]["awaiting_confirmation"]) for p in periods(3)] == [
        ("paid", False),
        ("paid", False),
        ("paid", True),
    ]
    assert len(record) == 3  # one row per month: the import took over the rows the payment wrote


def test_an_unpaid_core_record_does_not_undo_a_month_paid_in_the_app(client, payer, bank) -> None:
    bill = make_bill(client, payer["headers"], periods(2)).json
    send_callback(client, bank, bank.pay(bill["number"], bill["amount"]))
    # the core system sends its old view again: the arrear unpaid, and this month unpaid
    import_records(client, payer["core"], [contribution(payer["number"], p, "unpaid") for p in periods(2)])
    record = {r["period"]: r for r in client.get("/api/v1/me/contributions", headers=payer["headers"]).json["items"]}
    assert all(record[p]["status"] == "paid" and record[p]["awaiting_confirmation"] for p in periods(2))


def test_reconciliation_flags_a_planted_mismatch(client, payer, bank, db, settings) -> None:
    bill = make_bill(client, payer["headers"], periods(1)).json
    credited = bank.pay(bill["number"], bill["amount"])
    send_callback(client, bank, credited)
    lost_bill = make_bill(client, payer["headers"], [current_period()]).json
    lost = bank.pay(lost_bill["number"], lost_bill["amount"])  # paid, but its callback never came
    bank.hidden.add(credited)  # and the bank's list leaves out one we credited
    today = datetime.now(UTC).astimezone(bank_zone()).date()
    result = reconcile_payments(today)
    assert result.no_credit == [lost] and result.no_transaction == [credited], result
    reasons = {(r.transaction_id, r.reason.value) for r in db.scalars(select(PaymentReview))}
    assert reasons == {(lost, "no_credit"), (credited, "no_transaction")}
    again = reconcile_payments(today)
    assert again.no_credit == [] and again.no_transaction == []  # flagged once
    # the lost payment was sent to be confirmed, as if its callback had come
    assert client.get(f"/api/v1/me/bills/{lost_bill['id']}", headers=payer["headers"]).json["status"] == "paid"


def bank_zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Vientiane")


# -- cash at the office ----------------------------------------------------------------------------------


def test_cash_needs_a_second_officer_the_same_day(client, payer, db, staff, settings) -> None:
    from lsso_mobile.models import StaffRole
    from lsso_mobile.services.accounts import create_staff_user
    from tests.conftest import office_id

    create_staff_user(
        db, settings, "officer.second", STAFF_PASSWORD, StaffRole.OFFICER, "Second", office_id(db, "D0101")
    )
    db.commit()
    bill = make_bill(client, payer["headers"], periods(2)).json
    first, second = officer(client, staff["officer"]), officer(client, "officer.second")
    elsewhere = officer(client, staff["other_officer"])
    body = {"bill_number": bill["number"], "amount": bill["amount"]}
    assert client.post("/api/v1/staff/cash-payments", json=body, headers=elsewhere).status_code == 404
    wrong = client.post("/api/v1/staff/cash-payments", json={**body, "amount": bill["amount"] - 1}, headers=first)
    assert wrong.status_code == 422 and wrong.json["error"] == "cash_amount_mismatch"
    key = str(uuid.uuid4())
    taken = client.post("/api/v1/staff/cash-payments", json=body, headers={**first, "Idempotency-Key": key})
    assert taken.status_code == 201 and taken.json["status"] == "awaiting_second_officer", taken.json
    retry = client.post("/api/v1/staff/cash-payments", json=body, headers={**first, "Idempotency-Key": key})
    assert retry.json["id"] == taken.json["id"] and retry.headers["Idempotent-Replayed"] == "true"
    assert client.post("/api/v1/staff/cash-payments", json=body, headers=second).json["error"] == "cash_pending"
    cash_id = taken.json["id"]
    own = client.post(f"/api/v1/staff/cash-payments/{cash_id}/confirm", headers=first)
    assert own.status_code == 403 and own.json["error"] == "four_eyes"
    assert client.post(f"/api/v1/staff/cash-payments/{cash_id}/confirm", headers=elsewhere).status_code == 404
    assert client.get(f"/api/v1/me/bills/{bill['id']}", headers=payer["headers"]).json["status"] == "open"
    confirmed = client.post(f"/api/v1/staff/cash-payments/{cash_id}/confirm", headers=second)
    assert confirmed.status_code == 200 and confirmed.json["status"] == "credited", confirmed.json
    assert client.get(f"/api/v1/me/bills/{bill['id']}", headers=payer["headers"]).json["status"] == "paid"
    assert client.post(f"/api/v1/staff/cash-payments/{cash_id}/confirm", headers=second).status_code == 409

    day = datetime.now(UTC).astimezone(bank_zone()).date().isoformat()
    report = client.get(f"/api/v1/staff/cash-payments/report?day={day}", headers=second).json
    assert (report["confirmed_count"], report["confirmed_total"], report["awaiting_count"]) == (1, bill["amount"], 0)
    assert client.get(f"/api/v1/staff/cash-payments/report?day={day}", headers=elsewhere).json["confirmed_count"] == 0

    # Yesterday's unconfirmed cash can no longer be confirmed.
    other_bill = make_bill(client, payer["headers"], [shift_period(current_period(), 1)]).json
    stale = client.post(
        "/api/v1/staff/cash-payments",
        json={"bill_number": other_bill["number"], "amount": other_bill["amount"]},
        headers=first,
    ).json
    db.execute(
        Payment.__table__.update()
        .where(Payment.id == stale["id"])
        .values(paid_at=datetime.now(UTC) - timedelta(days=1), received_at=datetime.now(UTC) - timedelta(days=1))
    )
    db.commit()
    late = client.post(f"/api/v1/staff/cash-payments/{stale['id']}/confirm", headers=second)
    assert late.status_code == 409 and late.json["error"] == "cash_confirmation_late"
    assert db.scalar(select(func.count()).select_from(Contribution).where(Contribution.awaiting_confirmation)) == 2
    # ... so it does not block the bill: the cash is recorded again with the member, and confirmed today.
    again = client.post(
        "/api/v1/staff/cash-payments",
        json={"bill_number": other_bill["number"], "amount": other_bill["amount"]},
        headers=first,
    )
    assert again.status_code == 201 and again.json["id"] != stale["id"], again.json
    redone = client.post(f"/api/v1/staff/cash-payments/{again.json['id']}/confirm", headers=second)
    assert redone.status_code == 200 and redone.json["status"] == "credited", redone.json
    assert db.scalar(select(func.count()).select_from(Contribution).where(Contribution.awaiting_confirmation)) == 3
    assert BillStatus.PAID.value == "paid"


# -- the SMS look-up "BILL" ----------------------------------------------------------------------------------


def test_bill_by_sms_answers_the_oldest_open_bill_in_lao(client, payer, sms_gateway, db) -> None:
    from lsso_mobile import runtime
    from lsso_mobile.models import InsuredPerson
    from lsso_mobile.services.sms_lookup import receive_inbound

    phone = "+8562055510001"  # the payer's phone, put on their record (as the core system's records carry it)
    db.execute(
        InsuredPerson.__table__.update().where(InsuredPerson.member_number == payer["number"]).values(phone=phone)
    )
    db.commit()

    def ask(text: str, message_id: str) -> str:
        rt = runtime.current()
        with rt.db.unit_of_work() as session:
            assert receive_inbound(session, rt.settings, phone, text, message_id, datetime.now(UTC)) == "answered"
        return [m for m in sms_gateway.messages if m["to"] == phone][-1]["text"]

    none_yet = ask("ບິນ", "in-bill-1")
    assert none_yet.startswith(f"ປກສ {payer['number']}: ບໍ່ມີໃບເກັບເງິນທີ່ເປີດ"), none_yet
    first = make_bill(client, payer["headers"], periods(1)).json
    second = make_bill(client, payer["headers"], [current_period()]).json
    answer = ask("BILL", "in-bill-2")
    assert answer.startswith(f"ປກສ {payer['number']}: ໃບເກັບເງິນ {first['number']}, 200.000 ກີບ, ຈ່າຍກ່ອນ "), answer
    assert second["number"] not in answer and answer.endswith("ມີໃບເກັບເງິນເປີດອີກ 1 ໃບ: ເບິ່ງໃນແອັບ ປກສ.")
    assert "ບິນ (BILL)" in ask("help", "in-bill-3")
