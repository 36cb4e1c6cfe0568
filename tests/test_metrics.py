"""The metrics endpoint is not public, counts requests per route (the URL rule, never the raw path), and
request ids are accepted, made and echoed; a payment and SMS-fallback scenario (jobs in-process) shows in the
payment and fallback families with the right counts. The whole scenario with workers:
tests/notify/test_observability.py."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from lsso_mobile import logs, runtime
from lsso_mobile.metrics import sms_parts
from lsso_mobile.models import Member, Notification, NotificationPreference, StaffRole, utcnow
from lsso_mobile.services.accounts import create_staff_user
from lsso_mobile.services.contributions import shift_period
from lsso_mobile.services.payment_providers import sign
from lsso_mobile.services.sms_fallback import scan_once
from lsso_mobile.tasks.periodic import reconcile_payments
from tests.conftest import CALLBACK_SECRET, STAFF_PASSWORD, office_id
from tests.payments_support import (
    arrear_period,
    contribution,
    core_headers,
    current_period,
    import_records,
    registered_member,
    send_callback,
)
from tests.support import bearer, notify, sign_up, staff_sign_in

OUTSIDE = {"REMOTE_ADDR": "203.0.113.9"}
TOKEN = "metrics-token-0123456789-abcdef"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    return samples(response.get_data(as_text=True))


@pytest.fixture
def settings_overrides(request):
    overrides: dict[str, object] = {"metrics_token": TOKEN}
    if "bank" in request.fixturenames:
        bank = request.getfixturevalue("bank")
        overrides |= {"payment_provider_url": bank.url, "payment_callback_secret": CALLBACK_SECRET, "sms_daily_cap": 50}
    return overrides


def test_metrics_are_refused_from_outside_and_answer_inside_or_with_the_token(client):
    assert client.get("/metrics", environ_base=OUTSIDE).status_code == 404
    wrong = {"Authorization": "Bearer not-the-token-0123456789"}
    assert client.get("/metrics", environ_base=OUTSIDE, headers=wrong).status_code == 404
    assert client.get("/metrics", environ_base=OUTSIDE, headers=bearer(TOKEN)).status_code == 200
    assert client.get("/metrics").status_code == 200  # the test client calls from 127.0.0.1
    inside_v6 = client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"})
    assert inside_v6.status_code == 200 and b"lsso_http_requests_total" in inside_v6.data


@pytest.mark.parametrize("settings_overrides", [{"trusted_proxies": 1, "metrics_networks": ("10.0.0.0/8",)}])
def test_behind_a_proxy_the_caller_from_outside_is_outside(client):
    """The proxy is on an allowed network; a caller it forwards from the internet is still refused."""
    proxy = {"REMOTE_ADDR": "10.1.2.3"}
    assert client.get("/metrics", environ_base=proxy).status_code == 200
    forwarded = client.get("/metrics", environ_base=proxy, headers={"X-Forwarded-For": "198.51.100.7"})
    assert forwarded.status_code == 404


def test_requests_are_counted_per_route_rule_and_status(client, sms_gateway):
    before = scrape(client)
    member = bearer(sign_up(client, sms_gateway, "+8562055584001")["access_token"])
    for notification_id in (101, 102, 103):  # three raw paths, one route
        assert client.post(f"/api/v1/me/notifications/{notification_id}/read", headers=member).status_code == 404
    wrong_pin = client.post("/api/v1/auth/login", json={"phone": "+8562055584001", "pin": "000000"})
    assert wrong_pin.status_code == 401
    after = scrape(client)
    route = "/api/v1/me/notifications/<int:notification_id>/read"
    counted = value(after, "lsso_http_requests_total", route=route, method="POST", status="404")
    assert counted - value(before, "lsso_http_requests_total", route=route, method="POST", status="404") == 3
    signup = dict(route="/api/v1/auth/signup", method="POST", status="201")
    assert value(after, "lsso_http_requests_total", **signup) - value(before, "lsso_http_requests_total", **signup) == 1
    histogram = dict(route=route, method="POST")
    assert (
        value(after, "lsso_http_request_duration_seconds_count", **histogram)
        - value(before, "lsso_http_request_duration_seconds_count", **histogram)
        == 3
    )
    assert not any("/101/" in str(labels) for _name, labels in after)  # never the raw path
    failures = value(after, "lsso_sign_in_failures_total", who="member")
    assert failures - value(before, "lsso_sign_in_failures_total", who="member") == 1
    assert value(after, "lsso_state_probe_ok") == 1.0
    assert (("lsso_outbox_oldest_seconds", (("outbox", "notifications"),))) in after


@pytest.mark.parametrize("settings_overrides", [{"otp_sends_per_phone_per_ip": 1}])
def test_limit_refusals_are_counted_by_their_error_code(client, sms_gateway):
    before = scrape(client)
    assert client.post("/api/v1/auth/otp", json={"phone": "+8562055584002"}).status_code == 202
    refused = client.post("/api/v1/auth/otp", json={"phone": "+8562055584002"})
    assert refused.status_code == 429
    error = refused.json.get("error", "too_many_requests")  # the fallback label when a 429 names no code
    after = scrape(client)
    assert (
        value(after, "lsso_limit_refusals_total", error=error) - value(before, "lsso_limit_refusals_total", error=error)
        == 1
    )


def test_request_ids_are_accepted_when_well_formed_made_otherwise_and_echoed(client, caplog):
    caplog.set_level(logging.INFO)
    given = client.get("/api/v1/health", headers={"X-Request-Id": "edge-7f3a9c2e11d04b5c"})
    assert given.headers["X-Request-Id"] == "edge-7f3a9c2e11d04b5c"
    for bad in ("short", "x" * 101, "has space in it", "semi;colon-0123456", "-starts-with-a-dash"):
        made = client.get("/api/v1/health", headers={"X-Request-Id": bad}).headers["X-Request-Id"]
        assert made != bad and len(made) == 32
    first = client.get("/api/v1/health").headers["X-Request-Id"]
    assert first != client.get("/api/v1/health").headers["X-Request-Id"]
    assert logs.current_request_id() is None  # nothing leaks out of the request


def test_json_log_lines_carry_the_request_id():
    formatter = logs.JsonFormatter()
    with logs.request_context("trace-0123456789"):
        record = logging.getLogRecordFactory()("lsso_mobile.x", logging.INFO, __file__, 1, "sent %d", (3,), None)
    line = json.loads(formatter.format(record))
    assert line["message"] == "sent 3" and line["request_id"] == "trace-0123456789" and line["level"] == "INFO"


@pytest.mark.parametrize(
    ("text", "parts"),
    [("A" * 160, 1), ("A" * 161, 2), ("ລ" * 70, 1), ("ລ" * 71, 2), ("ລ" * 134, 2), ("ລ" * 135, 3), ("{" * 80, 1)],
)
def test_sms_parts_follow_gsm7_and_ucs2(text, parts):
    assert sms_parts(text) == parts


def _staff(client, username: str) -> dict[str, str]:
    return bearer(staff_sign_in(client, username, STAFF_PASSWORD)["access_token"])


def _bill(client, headers, months: list[str]) -> dict:
    made = client.post("/api/v1/me/bills", json={"months": months}, headers=headers)
    assert made.status_code == 201, made.json
    return made.json


def _fallbacks_queued(db, member_id: int) -> int:
    db.expire_all()
    return len(
        db.scalars(
            select(Notification.id).where(Notification.member_id == member_id, Notification.sms_outcome == "queued")
        ).all()
    )


def test_payments_and_sms_fallbacks_show_in_their_families_with_the_right_counts(
    client, db, sms_gateway, staff, settings, bank
):
    """Callbacks of every outcome, credits by bank, review and cash, a review item, reconciliation flags;
    fallback SMS for each reason and one withheld. Jobs run in-process here, so one endpoint counts it all."""
    before = scrape(client)
    phone = "+8562055584010"
    member, number = registered_member(client, sms_gateway, staff["officer"], phone, language="en")
    core = core_headers(client, db, settings)
    import_records(client, core, [contribution(number, arrear_period(), "unpaid", total=200_000)])
    member_id = db.scalar(select(Member.id).where(Member.phone == phone))

    # callbacks: a payment called back twice, a forged, a replayed and a misaddressed one; credited by the bank
    paid = _bill(client, member, [arrear_period()])
    tx = bank.pay(paid["number"], paid["amount"])
    assert [send_callback(client, bank, tx).status_code for _ in range(2)] == [202, 202]
    body, headers = bank.signed(tx)
    forged = {**headers, "X-Signature": "sha256=" + "0" * 64}
    assert client.post("/api/v1/payments/callbacks/sandbox", data=body, headers=forged).status_code == 401
    assert send_callback(client, bank, tx, timestamp=int(time.time()) - 3600).status_code == 401
    assert send_callback(client, bank, tx, provider="bank").status_code == 404
    stamp, no_id = str(int(time.time())), b'{"bill_number":"1234567890"}'
    signed = {
        "Content-Type": "application/json",
        "X-Timestamp": stamp,
        "X-Signature": sign(CALLBACK_SECRET, stamp, no_id),
    }
    assert client.post("/api/v1/payments/callbacks/sandbox", data=no_id, headers=signed).status_code == 422
    # an underpayment goes to review, and an officer applies it
    short = _bill(client, member, [current_period()])
    assert send_callback(client, bank, bank.pay(short["number"], short["amount"] - 100_000)).status_code == 202
    desk = _staff(client, staff["officer"])
    review = client.get("/api/v1/staff/payment-reviews?status=open", headers=desk).json["items"][0]
    assert review["reason"] == "amount_mismatch"
    pending = scrape(client)
    assert value(pending, "lsso_payment_reviews_open") == 1
    assert 0 <= value(pending, "lsso_payment_review_oldest_seconds") < 60
    applied = client.post(
        f"/api/v1/staff/payment-reviews/{review['id']}/resolve", json={"action": "apply", "note": "ok"}, headers=desk
    )
    assert applied.status_code == 200, applied.json
    # cash at the office, confirmed by a second officer
    create_staff_user(db, settings, "officer.cash", STAFF_PASSWORD, StaffRole.OFFICER, "Cash", office_id(db, "D0101"))
    db.commit()
    cash = _bill(client, member, [shift_period(current_period(), 1)])
    taken = client.post(
        "/api/v1/staff/cash-payments", json={"bill_number": cash["number"], "amount": cash["amount"]}, headers=desk
    )
    assert taken.status_code == 201, taken.json
    confirmed = client.post(
        f"/api/v1/staff/cash-payments/{taken.json['id']}/confirm", headers=_staff(client, "officer.cash")
    )
    assert confirmed.json["status"] == "credited", confirmed.json
    # reconciliation: a payment whose callback never came (flagged, then confirmed and credited by the bank)
    # and a credit the bank's list leaves out
    lost = _bill(client, member, [shift_period(current_period(), 2)])
    bank.pay(lost["number"], lost["amount"])
    bank.hidden.add(tx)
    result = reconcile_payments(datetime.now(UTC).astimezone(ZoneInfo("Asia/Vientiane")).date())
    assert len(result.no_credit) == 1 and result.no_transaction == [tx]
    assert client.get(f"/api/v1/me/bills/{lost['id']}", headers=member).json["status"] == "paid"

    # SMS fallback: a device now; a notice not acknowledged in time, one whose category was muted meanwhile,
    # one to a member who chose SMS only, and a broadcast sent by SMS too
    no_device = _fallbacks_queued(db, member_id)  # the registration's notices: no device yet, SMS at once
    assert no_device >= 1
    device = {"token": "tok-metrics-fallback-0123456789", "platform": "android", "app_version": "1.0"}
    assert client.post("/api/v1/me/devices", json=device, headers=member).status_code == 201
    rt = runtime.current()
    notify(member_id, template="registration_received")
    with rt.db.unit_of_work() as session:
        assert scan_once(session, settings, utcnow() + timedelta(seconds=901))["queued"] == 1
    notify(member_id, template="registration_received")
    db.merge(NotificationPreference(member_id=member_id, muted_categories=["registration"], channel="push"))
    db.commit()
    with rt.db.unit_of_work() as session:
        assert scan_once(session, settings, utcnow() + timedelta(seconds=901))["muted"] == 1
    db.merge(NotificationPreference(member_id=member_id, muted_categories=[], channel="sms"))
    db.commit()
    notify(member_id, template="registration_received")  # SMS only: its SMS goes at once
    create_staff_user(db, settings, "ops.metrics", STAFF_PASSWORD, StaffRole.OPS, "Second ops", None)
    db.commit()
    author, approver = _staff(client, staff["ops"]), _staff(client, "ops.metrics")
    created = client.post(
        "/api/v1/staff/broadcasts",
        headers=author,
        json={
            "title_lo": "ແຈ້ງການ",
            "body_lo": "ອັດຕາໃໝ່",
            "title_en": "Notice",
            "body_en": "New rate",
            "sms_fallback": True,
        },
    )
    assert created.status_code == 201, created.json
    assert client.post(f"/api/v1/staff/broadcasts/{created.json['id']}/submit", headers=author).status_code == 200
    assert client.post(f"/api/v1/staff/broadcasts/{created.json['id']}/approve", headers=approver).status_code == 200
    broadcast_sms = [m for m in sms_gateway.messages if m["text"].startswith("LSSO: Notice")]
    assert len(broadcast_sms) == 1

    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    callbacks = {
        outcome: grew("lsso_payment_callbacks_total", provider="sandbox", outcome=outcome)
        for outcome in ("accepted", "duplicate", "bad_signature", "replayed", "malformed")
    }
    assert callbacks == {"accepted": 2, "duplicate": 1, "bad_signature": 1, "replayed": 1, "malformed": 1}
    assert grew("lsso_payment_callbacks_total", provider="unknown", outcome="unknown") == 1
    assert not [
        labels for name, labels in after if name == "lsso_payment_callbacks_total" and ("provider", "bank") in labels
    ]
    credits = {c: grew("lsso_payment_credits_total", channel=c) for c in ("bank", "review", "cash")}
    assert credits == {"bank": 2, "review": 1, "cash": 1}
    kip = {c: grew("lsso_payment_credited_kip_total", channel=c) for c in ("bank", "review", "cash")}
    assert kip == {"bank": paid["amount"] + lost["amount"], "review": short["amount"], "cash": cash["amount"]}
    assert grew("lsso_payment_reviews_total", reason="amount_mismatch") == 1
    assert grew("lsso_payment_reviews_total", reason="already_paid") == 0
    flags = {r: grew("lsso_payment_reconciliation_flags_total", reason=r) for r in ("no_credit", "no_transaction")}
    assert flags == {"no_credit": 1, "no_transaction": 1}
    assert value(after, "lsso_payment_reviews_open") == 2  # the two reconciliation flags wait for staff
    reasons = ("no_device", "unacknowledged", "sms_only", "broadcast")
    sends = {r: grew("lsso_sms_fallback_sends_total", reason=r) for r in reasons}
    assert sends == {"no_device": no_device, "unacknowledged": 1, "sms_only": 1, "broadcast": 1}
    assert sends["no_device"] + 2 == _fallbacks_queued(db, member_id)  # as the notices' rows say
    assert grew("lsso_sms_fallback_withheld_total", why="muted") == 1
    assert grew("lsso_sms_fallback_withheld_total", why="capped") == 0


def test_counts_on_commit_wait_for_the_commit_and_forget_what_rolled_back() -> None:
    """A unit of work retried after a rollback (a database outage, a raced savepoint) counts once."""
    from prometheus_client import CollectorRegistry, Counter
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from lsso_mobile.metrics import count_on_commit

    counter = Counter("lsso_test_on_commit_total", "test", registry=CollectorRegistry())
    session = Session(create_engine("sqlite://"))
    session.execute(text("select 1"))
    count_on_commit(session, counter)
    with session.begin_nested():
        count_on_commit(session, counter, 2)  # released: stays pending until the real commit
    try:
        with session.begin_nested():
            count_on_commit(session, counter, 100)
            raise RuntimeError("raced")  # this savepoint rolls back, and its count with it
    except RuntimeError:
        pass
    assert counter._value.get() == 0  # nothing before the commit
    session.commit()
    assert counter._value.get() == 3
    session.execute(text("select 1"))
    count_on_commit(session, counter, 5)
    session.rollback()
    session.commit()
    assert counter._value.get() == 3
