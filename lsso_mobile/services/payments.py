"""Members paying their contributions: what they owe, bills, crediting payments exactly once, the review
queue, cash at the office, the core system's feed and the daily reconciliation.

Amounts: a month costs ``rate_bp`` basis points of the member's declared monthly base held within the band
of the rate in force for that month (``contribution_rates``, by effective month), **rounded half up to the
whole kip**: ``(base * rate_bp + 5000) // 10000``. That is the one rounding rule. An arrear keeps the amount
the core system recorded for it when it has one.

Crediting: a payment is keyed on (provider, transaction id). A callback records the key (``unconfirmed``)
and a job asks the provider; only the provider's answer credits, under a lock on the payment and the bill,
so any number of callbacks in any order credit a bill at most once. Whatever cannot be credited as it stands
(another amount, an expired or cancelled bill, a bill already paid, an unknown bill) goes to the review queue.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lsso_mobile import metrics
from lsso_mobile.config import Settings
from lsso_mobile.errors import Conflict, Forbidden, InvalidInput, NotFound
from lsso_mobile.i18n import Money, format_money
from lsso_mobile.jobs import CONFIRM_PAYMENT, enqueue_after_commit
from lsso_mobile.models import (
    Bill,
    BillMonth,
    BillStatus,
    Contribution,
    ContributionRate,
    ContributionStatus,
    InsuredPerson,
    Member,
    Payment,
    PaymentReview,
    PaymentStatus,
    RegistrationApplication,
    ReviewReason,
    ReviewStatus,
    Scheme,
)
from lsso_mobile.notify.outbox import record_notification
from lsso_mobile.notify.preferences import VIENTIANE
from lsso_mobile.notify.templates import lookup_text, member_sms_text
from lsso_mobile.services.accounts import Principal
from lsso_mobile.services.audit import record_audit
from lsso_mobile.services.contributions import CONTRIBUTED, period_of, shift_period, summarise
from lsso_mobile.services.idempotency import earlier_write, request_digest, store_once
from lsso_mobile.services.locking import locked
from lsso_mobile.services.paging import keyset_page, keyset_page_by
from lsso_mobile.services.payment_providers import ProviderTransaction
from lsso_mobile.services.rows import insert_ignoring_duplicates
from lsso_mobile.services.sms import queue_sms
from lsso_mobile.services.sms_lookup import Lookup, register_keyword

MONTHS_AHEAD = 12
MAX_MONTHS_PER_BILL = 36
MAX_BILL_SMS = 3
CASH = "cash"
# A transaction the provider does not know is asked about this many times before it counts as failed.
MAX_UNKNOWN_CHECKS = 5


# -- rates and amounts ----------------------------------------------------------------------------------


def round_contribution(base: int, rate_bp: int) -> int:
    """The one rounding rule: half up to the whole kip."""
    return (base * rate_bp + 5000) // 10000


def monthly_amount(rate: ContributionRate, declared_base: int) -> int:
    base = min(max(declared_base, rate.base_floor), rate.base_ceiling)
    return round_contribution(base, rate.rate_bp)


def rates_of(session: Session, scheme: Scheme) -> list[ContributionRate]:
    """The scheme's rates, latest effective month first."""
    return list(
        session.scalars(
            select(ContributionRate)
            .where(ContributionRate.scheme == scheme)
            .order_by(ContributionRate.effective_from.desc())
        )
    )


def rate_in_force(rates: list[ContributionRate], period: str) -> ContributionRate | None:
    return next((rate for rate in rates if rate.effective_from <= period), None)


def declared_base_of(session: Session, person: InsuredPerson) -> int:
    """The monthly income the member declared (their approved registration), else the earnings of their
    latest recorded month, else 0 (the band's floor then applies)."""
    declared = session.scalar(
        select(RegistrationApplication.declared_monthly_income)
        .where(RegistrationApplication.insured_person_id == person.id)
        .order_by(RegistrationApplication.id.desc())
        .limit(1)
    )
    if declared is not None:
        return int(declared)
    latest = session.scalar(
        select(Contribution.insurable_earnings)
        .where(Contribution.insured_person_id == person.id)
        .order_by(Contribution.period.desc())
        .limit(1)
    )
    return int(latest or 0)


# -- bill numbers: 9 random digits and a Damm check digit ------------------------------------------------

_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def damm_digit(digits: str) -> str:
    """Damm's check digit: catches every single wrong digit and every swap of two neighbours."""
    interim = 0
    for digit in digits:
        interim = _DAMM[interim][int(digit)]
    return str(interim)


def valid_bill_number(number: str) -> bool:
    return len(number) == 10 and number.isdigit() and damm_digit(number) == "0"


def new_bill_number() -> str:
    body = str(secrets.randbelow(9 * 10**8) + 10**8)  # 9 digits, no leading zero (read over the phone)
    return body + damm_digit(body)


# -- what a member owes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DueMonth:
    period: str
    amount: int
    kind: str  # "arrear" | "current" | "ahead"
    open_bill_number: str | None = None


@dataclass(frozen=True)
class Dues:
    member_number: str
    scheme: str
    declared_base: int
    rounding: str
    months: list[DueMonth]

    @property
    def arrears_total(self) -> int:
        return sum(m.amount for m in self.months if m.kind == "arrear")


ROUNDING_RULE = "rate x declared base within the band, rounded half up to the whole kip"


def expire_overdue_bills(session: Session, now: datetime, person_id: int | None = None) -> int:
    """Open bills past their expiry become expired and let go of their months."""
    query = select(Bill.id).where(Bill.status == BillStatus.OPEN, Bill.expires_at <= now)
    if person_id is not None:
        query = query.where(Bill.insured_person_id == person_id)
    ids = list(session.scalars(query.limit(5000)))
    if ids:
        session.execute(
            update(Bill)
            .where(Bill.id.in_(ids), Bill.status == BillStatus.OPEN)
            .values(status=BillStatus.EXPIRED, updated_at=now)
        )
        session.execute(update(BillMonth).where(BillMonth.bill_id.in_(ids)).values(held=False))
    return len(ids)


def _voluntary(person: InsuredPerson) -> None:
    if person.scheme is not Scheme.VOLUNTARY:
        raise Conflict(
            "Only voluntary members pay their contributions in the app; your employer pays yours.",
            error="scheme_not_voluntary",
        )


def dues_of(session: Session, person: InsuredPerson, now: datetime) -> Dues:
    """Arrears oldest first, the current month and up to 12 months ahead, each with its amount; months on an
    open bill say which."""
    _voluntary(person)
    expire_overdue_bills(session, now, person.id)
    summary = summarise(session, person, now)
    contributed = set(
        session.scalars(
            select(Contribution.period).where(
                Contribution.insured_person_id == person.id, Contribution.status.in_(CONTRIBUTED)
            )
        )
    )
    held = dict(
        session.execute(
            select(BillMonth.period, Bill.number)
            .join(Bill, Bill.id == BillMonth.bill_id)
            .where(BillMonth.insured_person_id == person.id, BillMonth.held, Bill.status == BillStatus.OPEN)
        ).all()
    )
    rates = rates_of(session, person.scheme)
    base = declared_base_of(session, person)

    def amount(period: str, recorded: int = 0) -> int | None:
        if recorded > 0:
            return recorded
        rate = rate_in_force(rates, period)
        return monthly_amount(rate, base) if rate is not None else None

    months: list[DueMonth] = []
    for arrear in summary.arrears:
        value = amount(arrear.period, arrear.amount)
        if value is not None and arrear.period not in contributed:
            months.append(DueMonth(arrear.period, value, "arrear", held.get(arrear.period)))
    current = period_of(now)
    for offset in range(MONTHS_AHEAD + 1):
        period = shift_period(current, offset)
        value = amount(period)
        if period in contributed or value is None:
            continue
        months.append(DueMonth(period, value, "current" if offset == 0 else "ahead", held.get(period)))
    return Dues(person.member_number, person.scheme.value, base, ROUNDING_RULE, months)


# -- bills -------------------------------------------------------------------------------------------------


@dataclass
class BillView:
    bill: Bill
    months: list[BillMonth] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bill, name)


def _with_months(session: Session, bills: list[Bill]) -> list[BillView]:
    views = {bill.id: BillView(bill) for bill in bills}
    if views:
        for month in session.scalars(
            select(BillMonth).where(BillMonth.bill_id.in_(views)).order_by(BillMonth.period, BillMonth.id)
        ):
            views[month.bill_id].months.append(month)
    return [views[bill.id] for bill in bills]


def create_bill(
    session: Session,
    settings: Settings,
    member_id: int,
    person: InsuredPerson,
    periods: list[str],
    key: str | None,
    now: datetime,
) -> tuple[BillView, bool]:
    """A bill for ``periods`` (the oldest months owed first). Returns (bill, replayed): a retry with the same
    Idempotency-Key gets the first bill; the same key with other months is a 409."""
    chosen = sorted(set(periods))
    digest = request_digest(kind="bill", periods=chosen)
    author = Bill.member_id == member_id
    earlier = earlier_write(session, Bill, author, key, digest, what="bill")
    if earlier is not None:
        return _with_months(session, [earlier])[0], True
    locked(session, select(InsuredPerson).where(InsuredPerson.id == person.id))  # one bill at a time per person
    dues = dues_of(session, person, now)
    by_period = {m.period: m for m in dues.months}
    unknown = [p for p in chosen if p not in by_period]
    if unknown:
        raise InvalidInput(
            "{month} is not a month you can pay now.",
            error="month_not_payable",
            params={"month": unknown[0]},
            errors={"months": ["Choose months from what you owe."]},
        )
    on_bill = [p for p in chosen if by_period[p].open_bill_number]
    if on_bill:
        raise Conflict(
            "{month} is already on bill {bill_number}; pay or cancel that bill first.",
            error="month_has_open_bill",
            params={"month": on_bill[0], "bill_number": by_period[on_bill[0]].open_bill_number},
        )
    payable = [m for m in dues.months if m.open_bill_number is None]
    expected = [m.period for m in payable[: len(chosen)]]
    if chosen != expected:
        first_missing = next(p for p in expected if p not in chosen)
        raise InvalidInput(
            "Pay {month} first: the oldest months come first.",
            error="arrears_first",
            params={"month": first_missing},
            errors={"months": ["Pay the oldest month first."]},
        )
    months = [by_period[p] for p in chosen]
    bill = Bill(
        number=new_bill_number(),
        insured_person_id=person.id,
        member_id=member_id,
        office_id=person.office_id,
        amount=sum(m.amount for m in months),
        declared_base=dues.declared_base,
        status=BillStatus.OPEN,
        expires_at=now + timedelta(hours=settings.bill_expiry_hours),
        created_at=now,
        updated_at=now,
        idempotency_key=key,
        request_digest=digest,
    )
    session.add(bill)
    winner = store_once(session, Bill, author, key, digest, what="bill")
    if winner is not None:
        return _with_months(session, [winner])[0], True
    for month in months:
        session.add(
            BillMonth(
                bill_id=bill.id,
                insured_person_id=person.id,
                period=month.period,
                amount=month.amount,
                arrear=month.kind == "arrear",
                held=True,
            )
        )
    session.flush()
    return _with_months(session, [bill])[0], False


def bill_of_member(session: Session, member_id: int, bill_id: int) -> BillView:
    bill = session.scalar(select(Bill).where(Bill.id == bill_id, Bill.member_id == member_id))
    if bill is None:
        raise NotFound("No such bill.", error="bill_not_found")
    return _with_months(session, [bill])[0]


def open_bill_of_member(session: Session, member_id: int, bill_id: int, now: datetime) -> Bill:
    bill = bill_of_member(session, member_id, bill_id).bill
    if bill.status is not BillStatus.OPEN or bill.expires_at <= now:
        raise Conflict("This bill is no longer open.", error="bill_not_open")
    return bill


def bills_of_member(session: Session, member_id: int, before: int | None, limit: int) -> list[BillView]:
    """The member's bills, newest first (keyset on id)."""
    query = keyset_page(select(Bill).where(Bill.member_id == member_id), Bill.id, before, limit, newest_first=True)
    return _with_months(session, list(session.scalars(query)))


def cancel_bill(session: Session, member_id: int, bill_id: int, now: datetime) -> BillView:
    bill = session.scalar(select(Bill).where(Bill.id == bill_id, Bill.member_id == member_id))
    if bill is None:
        raise NotFound("No such bill.", error="bill_not_found")
    bill = locked(session, select(Bill).where(Bill.id == bill.id))[0]
    if bill.status is BillStatus.OPEN and bill.expires_at > now:
        bill.status = BillStatus.CANCELLED
        bill.updated_at = now
        session.execute(update(BillMonth).where(BillMonth.bill_id == bill.id).values(held=False))
    elif bill.status not in (BillStatus.CANCELLED, BillStatus.EXPIRED):
        raise Conflict("This bill is paid; it cannot be cancelled.", error="bill_not_open")
    return _with_months(session, [bill])[0]


def send_bill_sms(session: Session, settings: Settings, member_id: int, bill_id: int, now: datetime) -> BillView:
    """The bill number and amount by SMS, for paying at a bank counter or agent (at most 3 per bill)."""
    view = bill_of_member(session, member_id, bill_id)
    bill = view.bill
    if bill.status is not BillStatus.OPEN or bill.expires_at <= now:
        raise Conflict("This bill is no longer open.", error="bill_not_open")
    if bill.sms_sent >= MAX_BILL_SMS:
        raise Conflict("This bill's number was already sent by SMS three times.", error="bill_sms_limit")
    member = session.get(Member, member_id)
    assert member is not None
    text = member_sms_text(
        "bill_number",
        member.language,
        {
            "bill_number": bill.number,
            "amount": Money(bill.amount),
            "expires": bill.expires_at.astimezone(VIENTIANE).strftime("%d/%m/%Y %H:%M"),
        },
    )
    queue_sms(session, settings, member.phone, text, "bill_number")
    bill.sms_sent += 1
    return view


# -- callbacks and crediting -----------------------------------------------------------------------------


def record_callback(
    session: Session,
    provider: str,
    transaction_id: str,
    bill_number: str | None,
    now: datetime,
    *,
    count_as_callback: bool = False,
) -> PaymentStatus:
    """A verified callback: remember the transaction (once, whatever the number of callbacks) and, while it
    is unconfirmed, ask for a job that confirms it with the provider. Returns the payment's status.

    The first callback for a transaction is one statement (an insert returning its id); a repeat finds the
    row the first one wrote. ``count_as_callback``: the bank's own callback (the API's route), counted as
    accepted (new) or duplicate; reconciliation's calls are not."""
    inserted = insert_ignoring_duplicates(
        session,
        Payment,
        [
            {
                "provider": provider,
                "transaction_id": transaction_id,
                "bill_number": bill_number,
                "status": PaymentStatus.UNCONFIRMED.value,
                "received_at": now,
                "checks": 0,
            }
        ],
        ["provider", "transaction_id"],
        returning=[Payment.id],
    )
    if count_as_callback:
        outcome = "duplicate" if not inserted else "accepted"
        metrics.count_on_commit(session, metrics.PAYMENT_CALLBACKS.labels(provider=provider, outcome=outcome))
    if inserted:
        payment_id, status = inserted[0].id, PaymentStatus.UNCONFIRMED
    else:
        payment_id, status = session.execute(
            select(Payment.id, Payment.status).where(
                Payment.provider == provider, Payment.transaction_id == transaction_id
            )
        ).one()
    if status is PaymentStatus.UNCONFIRMED:
        enqueue_after_commit(session, CONFIRM_PAYMENT.request(payment_id, description=f"confirm_payment({payment_id})"))
    return status


def payment_to_confirm(session: Session, payment_id: int) -> tuple[str, str] | None:
    """(provider, transaction id) of an unconfirmed payment, or None when there is nothing left to do."""
    payment = session.get(Payment, payment_id)
    if payment is None or payment.status is not PaymentStatus.UNCONFIRMED:
        return None
    return payment.provider, payment.transaction_id


def payments_to_confirm(session: Session, payment_ids: list[int]) -> dict[int, str]:
    """payment id -> transaction id of those still unconfirmed among ``payment_ids`` (one query)."""
    return dict(
        session.execute(
            select(Payment.id, Payment.transaction_id).where(
                Payment.id.in_(payment_ids), Payment.status == PaymentStatus.UNCONFIRMED
            )
        ).all()
    )


def settle_payments(
    session: Session, settings: Settings, answers: dict[int, ProviderTransaction | None], now: datetime
) -> dict[int, str]:
    """Several answers in one unit of work, in id order (so two workers lock rows in the same order), each in
    a savepoint: one payment that fails does not undo the others."""
    states: dict[int, str] = {}
    for payment_id in sorted(answers):
        try:
            with session.begin_nested():
                states[payment_id] = settle_payment(session, settings, payment_id, answers[payment_id], now)
        except IntegrityError:
            states[payment_id] = "pending"  # raced with another writer: asked again
    return states


def settle_payment(
    session: Session, settings: Settings, payment_id: int, answer: ProviderTransaction | None, now: datetime
) -> str:
    """Apply the provider's answer; returns the payment's state, ``"pending"`` when it must be asked again."""
    rows = locked(session, select(Payment).where(Payment.id == payment_id))
    if not rows or rows[0].status is not PaymentStatus.UNCONFIRMED:
        return str(rows[0].status.value) if rows else "gone"
    payment = rows[0]
    payment.checks += 1
    if answer is None:
        if payment.checks >= MAX_UNKNOWN_CHECKS:
            payment.status = PaymentStatus.FAILED
            return str(payment.status.value)
        return "pending"
    if answer.status == "pending":
        return "pending"
    if answer.status == "failed":
        payment.status = PaymentStatus.FAILED
        return str(payment.status.value)
    payment.amount = answer.amount
    payment.paid_at = answer.paid_at or now
    payment.bill_number = answer.bill_number or payment.bill_number
    apply_to_bill(session, settings, payment, now)
    return str(payment.status.value)


def _review(session: Session, payment: Payment, bill: Bill | None, reason: ReviewReason, now: datetime) -> None:
    payment.status = PaymentStatus.REVIEW
    if _flag(session, payment.provider, payment.transaction_id, reason, now, payment=payment, bill=bill):
        metrics.count_on_commit(session, metrics.PAYMENT_REVIEWS.labels(reason=reason.value))


def _flag(
    session: Session,
    provider: str,
    transaction_id: str,
    reason: ReviewReason,
    now: datetime,
    *,
    payment: Payment | None = None,
    bill: Bill | None = None,
    amount: int | None = None,
) -> bool:
    """One review item per (provider, transaction, reason); returns whether it is new."""
    exists = session.scalar(
        select(PaymentReview.id).where(
            PaymentReview.provider == provider,
            PaymentReview.transaction_id == transaction_id,
            PaymentReview.reason == reason,
        )
    )
    if exists is not None:
        return False
    session.add(
        PaymentReview(
            provider=provider,
            transaction_id=transaction_id,
            payment_id=payment.id if payment else None,
            bill_id=bill.id if bill else None,
            office_id=bill.office_id if bill else None,
            reason=reason,
            amount=amount if amount is not None else (payment.amount if payment else None),
            status=ReviewStatus.OPEN,
            created_at=now,
        )
    )
    session.flush()
    return True


def apply_to_bill(session: Session, settings: Settings, payment: Payment, now: datetime) -> None:
    """Credit the payment's bill if it may be credited as it stands; else put it in the review queue."""
    bills = locked(session, select(Bill).where(Bill.number == (payment.bill_number or "")))
    if not bills:
        _review(session, payment, None, ReviewReason.UNKNOWN_BILL, now)
        return
    bill = bills[0]
    payment.bill_id = bill.id
    if payment.office_id is None:
        payment.office_id = bill.office_id
    paid_at = payment.paid_at or now
    if bill.status is BillStatus.PAID:
        _review(session, payment, bill, ReviewReason.ALREADY_PAID, now)
    elif bill.status is BillStatus.CANCELLED:
        _review(session, payment, bill, ReviewReason.BILL_CANCELLED, now)
    elif bill.status is BillStatus.EXPIRED or paid_at > bill.expires_at:
        _review(session, payment, bill, ReviewReason.BILL_EXPIRED, now)
    elif payment.amount != bill.amount:
        _review(session, payment, bill, ReviewReason.AMOUNT_MISMATCH, now)
    else:
        credit_bill(session, settings, bill, payment, now)


def credit_bill(session: Session, settings: Settings, bill: Bill, payment: Payment, now: datetime) -> None:
    """The bill is paid: its months appear in the record at once (awaiting the core system's confirmation),
    and the member gets a receipt notice (push + inbox) and an SMS in their language."""
    channel = "review" if payment.status is PaymentStatus.REVIEW else "cash" if payment.provider == CASH else "bank"
    metrics.count_on_commit(session, metrics.PAYMENT_CREDITS.labels(channel=channel))
    metrics.count_on_commit(session, metrics.PAYMENT_CREDITED_KIP.labels(channel=channel), bill.amount)
    bill.status = BillStatus.PAID
    bill.paid_at = payment.paid_at or now
    bill.updated_at = now
    payment.status = PaymentStatus.CREDITED
    payment.credited_at = now
    months = list(session.scalars(select(BillMonth).where(BillMonth.bill_id == bill.id).order_by(BillMonth.period)))
    session.execute(update(BillMonth).where(BillMonth.bill_id == bill.id).values(held=True))
    person = session.get(InsuredPerson, bill.insured_person_id)
    assert person is not None
    paid_day = (payment.paid_at or now).astimezone(VIENTIANE).date()
    existing = {
        row.period: row
        for row in session.scalars(
            select(Contribution).where(
                Contribution.insured_person_id == person.id,
                Contribution.period.in_([m.period for m in months]),
            )
        )
    }
    for month in months:
        row = existing.get(month.period)
        if row is not None and row.status in CONTRIBUTED:
            continue
        if row is None:
            row = Contribution(
                insured_person_id=person.id,
                period=month.period,
                scheme=person.scheme,
                insurable_earnings=bill.declared_base,
                employee_share=month.amount,
                employer_share=0,
                total=month.amount,
                source_id=f"app-{bill.number}-{month.period}",
                created_at=now,
            )
            session.add(row)
        row.status = ContributionStatus.PAID
        row.paid_date = paid_day
        row.payment_channel = payment.provider
        row.receipt_reference = bill.number
        row.awaiting_confirmation = True
        row.updated_at = now
    session.flush()
    _send_receipt(session, settings, bill, [m.period for m in months], now)


def _months_text(periods: list[str]) -> str:
    return periods[0] if len(periods) == 1 else f"{periods[0]} - {periods[-1]} ({len(periods)})"


def _send_receipt(session: Session, settings: Settings, bill: Bill, periods: list[str], now: datetime) -> None:
    member = session.get(Member, bill.member_id) if bill.member_id is not None else None
    if member is None:
        member = session.scalar(select(Member).where(Member.insured_person_id == bill.insured_person_id))
    if member is None:
        return
    months = _months_text(periods)
    record_notification(
        session,
        member.id,
        "contribution_payment_received",
        {
            "amount": Money(bill.amount),
            "months": months,
            "bill_number": bill.number,
            "bill_id": bill.id,
        },
        now,
        collapse_key=f"bill-{bill.id}",
        sms_fallback=False,  # the receipt SMS below is sent whatever the app does
    )
    text = member_sms_text(
        "payment_receipt", member.language, {"amount": Money(bill.amount), "months": months, "bill_number": bill.number}
    )
    queue_sms(session, settings, member.phone, text, "payment_receipt")


def unconfirmed_payments(session: Session, now: datetime, older_than: timedelta, limit: int = 1000) -> list[int]:
    """Unconfirmed payments whose confirmation job seems lost (Redis down, a worker killed)."""
    return list(
        session.scalars(
            select(Payment.id)
            .where(Payment.status == PaymentStatus.UNCONFIRMED, Payment.received_at < now - older_than)
            .order_by(Payment.id)
            .limit(limit)
        )
    )


# -- receipts -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    bill: Bill
    months: list[BillMonth]
    payment: Payment
    person: InsuredPerson


def receipt_of_member(session: Session, member_id: int, bill_id: int) -> Receipt:
    view = bill_of_member(session, member_id, bill_id)
    payment = session.scalar(
        select(Payment).where(Payment.bill_id == bill_id, Payment.status == PaymentStatus.CREDITED).limit(1)
    )
    if view.bill.status is not BillStatus.PAID or payment is None:
        raise Conflict("This bill is not paid yet; there is no receipt.", error="bill_not_paid")
    person = session.get(InsuredPerson, view.bill.insured_person_id)
    assert person is not None
    return Receipt(view.bill, view.months, payment, person)


# -- the review queue ---------------------------------------------------------------------------------


def _office_scope(principal: Principal) -> int | None:
    """Officers see their office's items; admins every office's."""
    return principal.office_id if principal.role == "officer" else None


def reviews_for_staff(
    session: Session, principal: Principal, status: ReviewStatus | None, after: int | None, limit: int
) -> list[PaymentReview]:
    query = select(PaymentReview)
    office = _office_scope(principal)
    if office is not None:
        query = query.where(PaymentReview.office_id == office)
    if status is not None:
        query = query.where(PaymentReview.status == status)
    return list(session.scalars(keyset_page(query, PaymentReview.id, after, limit)))


def resolve_review(
    session: Session,
    settings: Settings,
    principal: Principal,
    review_id: int,
    action: str,
    note: str,
    now: datetime,
    address: str | None = None,
) -> PaymentReview:
    """``refund`` (the money goes back outside the app), ``apply`` (credit the bill as paid) or ``dismiss``
    (nothing to do, e.g. a reconciliation flag that was explained)."""
    query = select(PaymentReview).where(PaymentReview.id == review_id)
    office = _office_scope(principal)
    if office is not None:
        query = query.where(PaymentReview.office_id == office)
    rows = locked(session, query)
    if not rows:
        raise NotFound("No such review item.", error="review_not_found")
    review: PaymentReview = rows[0]
    if review.status is not ReviewStatus.OPEN:
        raise Conflict("This review item is already settled.", error="review_settled")
    payment = session.get(Payment, review.payment_id) if review.payment_id is not None else None
    if action == "apply":
        _apply_reviewed(session, settings, review, payment, now)
        review.status = ReviewStatus.APPLIED
    elif action == "refund":
        if payment is None or payment.status is not PaymentStatus.REVIEW:
            raise Conflict("Only a payment waiting for review can be refunded.", error="review_not_refundable")
        payment.status = PaymentStatus.REFUNDED
        review.status = ReviewStatus.REFUNDED
    else:
        review.status = ReviewStatus.DISMISSED
    review.note = note
    review.resolved_by_id = principal.id
    review.resolved_at = now
    record_audit(
        session,
        principal,
        f"payment_review_{action}",
        "payment_review",
        review.id,
        office_id=review.office_id,
        details={"reason": review.reason, "note": note},
        address=address,
        now=now,
    )
    return review


def _apply_reviewed(
    session: Session, settings: Settings, review: PaymentReview, payment: Payment | None, now: datetime
) -> None:
    if payment is None or payment.status is not PaymentStatus.REVIEW or payment.bill_id is None:
        raise Conflict("Only a payment for a known bill can be applied.", error="review_not_applicable")
    bill = locked(session, select(Bill).where(Bill.id == payment.bill_id))[0]
    if bill.status is BillStatus.PAID:
        raise Conflict("The bill is paid already; refund this payment instead.", error="bill_already_paid")
    if bill.status is not BillStatus.OPEN:
        try:
            with session.begin_nested():
                session.execute(update(BillMonth).where(BillMonth.bill_id == bill.id).values(held=True))
        except IntegrityError:
            raise Conflict(
                "These months are on another bill now; refund this payment instead.", error="months_taken"
            ) from None
    credit_bill(session, settings, bill, payment, now)


# -- cash at the office ----------------------------------------------------------------------------------


def _officer(principal: Principal) -> int:
    if principal.role != "officer" or principal.office_id is None:
        raise Forbidden("Only an office's officers take cash.", error="officers_only")
    return principal.office_id


def record_cash(
    session: Session,
    principal: Principal,
    bill_number: str,
    amount: int,
    key: str | None,
    now: datetime,
    address: str | None = None,
) -> tuple[Payment, bool]:
    """An officer takes cash for a bill with the member present; a second officer confirms it."""
    office_id = _officer(principal)
    digest = request_digest(kind="cash", bill_number=bill_number, amount=amount)
    author = Payment.recorded_by_id == principal.id
    earlier = earlier_write(session, Payment, author, key, digest, what="cash payment")
    if earlier is not None:
        return earlier, True
    bills = locked(session, select(Bill).where(Bill.number == bill_number, Bill.office_id == office_id))
    if not bills:
        raise NotFound("No such bill at your office.", error="bill_not_found")
    bill = bills[0]
    if bill.status is not BillStatus.OPEN or bill.expires_at <= now:
        raise Conflict("This bill is not open: it is paid, cancelled or expired.", error="bill_not_open")
    if amount != bill.amount:
        raise InvalidInput(
            "The bill is for {amount} kip; take exactly that.",
            error="cash_amount_mismatch",
            params={"amount": bill.amount},
            errors={"amount": ["Must equal the bill's amount."]},
        )
    if _cash_awaiting_today(session, bill.id, now) is not None:
        raise Conflict("Cash for this bill is already recorded and awaits confirmation.", error="cash_pending")
    payment = Payment(
        provider=CASH,
        transaction_id=f"cash-{uuid.uuid4().hex}",
        bill_id=bill.id,
        bill_number=bill.number,
        amount=amount,
        status=PaymentStatus.AWAITING_SECOND_OFFICER,
        paid_at=now,
        received_at=now,
        office_id=office_id,
        recorded_by_id=principal.id,
        idempotency_key=key,
        request_digest=digest,
    )
    session.add(payment)
    winner = store_once(session, Payment, author, key, digest, what="cash payment")
    if winner is not None:
        return winner, True
    record_audit(
        session,
        principal,
        "cash_recorded",
        "bill_payment",
        payment.id,
        office_id=office_id,
        details={"bill_number": bill.number, "amount": amount},
        address=address,
        now=now,
    )
    return payment, False


def _awaiting_cash_of_today(now: datetime) -> list[ColumnElement[bool]]:
    """Cash taken today (Vientiane) that still waits for a second officer: the only cash that can be confirmed
    (``confirm_cash``). Cash is received and paid at the same moment; ``received_at`` is the indexed one."""
    start, end = _day_bounds(now.astimezone(VIENTIANE).date())
    return [
        Payment.provider == CASH,
        Payment.status == PaymentStatus.AWAITING_SECOND_OFFICER,
        Payment.received_at >= start,
        Payment.received_at < end,
    ]


def _cash_awaiting_today(session: Session, bill_id: int, now: datetime) -> int | None:
    """Today's cash for the bill still waiting for a second officer. Only today's stops the bill taking cash
    again: cash left unconfirmed on an earlier day is recorded again with the member, and stays in its own
    day's report as unconfirmed."""
    return session.scalar(select(Payment.id).where(Payment.bill_id == bill_id, *_awaiting_cash_of_today(now)))


def confirm_cash(
    session: Session, settings: Settings, principal: Principal, payment_id: int, now: datetime, address: str | None
) -> Payment:
    """A second officer of the same office confirms the cash the same day (Vientiane); then it is credited."""
    office_id = _officer(principal)
    rows = locked(
        session,
        select(Payment).where(Payment.id == payment_id, Payment.provider == CASH, Payment.office_id == office_id),
    )
    if not rows:
        raise NotFound("No such cash payment at your office.", error="cash_payment_not_found")
    payment: Payment = rows[0]
    if payment.status is not PaymentStatus.AWAITING_SECOND_OFFICER:
        raise Conflict("This cash payment is already confirmed or settled.", error="cash_settled")
    if payment.recorded_by_id == principal.id:
        raise Forbidden("A second officer must confirm the cash you took.", error="four_eyes")
    if not taken_on(payment, now):
        raise Conflict(
            "Cash must be confirmed the day it was taken; record it again with the member.",
            error="cash_confirmation_late",
        )
    payment.confirmed_by_id = principal.id
    apply_to_bill(session, settings, payment, now)
    record_audit(
        session,
        principal,
        "cash_confirmed",
        "bill_payment",
        payment.id,
        office_id=office_id,
        details={"bill_number": payment.bill_number, "amount": payment.amount, "status": payment.status},
        address=address,
        now=now,
    )
    return payment


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=VIENTIANE)
    return start, start + timedelta(days=1)


@dataclass(frozen=True)
class CashReport:
    office_id: int
    day: date
    confirmed_count: int
    confirmed_total: int
    awaiting_count: int
    awaiting_total: int
    payments: list[Payment]


def cash_report(session: Session, principal: Principal, day: date) -> CashReport:
    """The office's cash of one day (Vientiane): confirmed and awaiting, with totals."""
    office_id = _officer(principal)
    start, end = _day_bounds(day)
    payments = list(
        session.scalars(
            select(Payment)
            .where(
                Payment.provider == CASH,
                Payment.office_id == office_id,
                Payment.received_at >= start,
                Payment.received_at < end,
            )
            .order_by(Payment.id)
            .limit(5000)
        )
    )
    confirmed = [p for p in payments if p.confirmed_by_id is not None]
    awaiting = [p for p in payments if p.status is PaymentStatus.AWAITING_SECOND_OFFICER]
    return CashReport(
        office_id,
        day,
        len(confirmed),
        sum(p.amount or 0 for p in confirmed),
        len(awaiting),
        sum(p.amount or 0 for p in awaiting),
        payments,
    )


# -- reads for the office console -------------------------------------------------------------------------


@dataclass(frozen=True)
class CashBill:
    """A bill as the officer sees it before taking cash: whose it is, its months and amount."""

    bill: Bill
    months: list[BillMonth]
    person: InsuredPerson
    payable: bool  # open and not expired: cash may be taken for it
    pending_payment_id: int | None  # cash already recorded for it, awaiting a second officer


def cash_bill(session: Session, principal: Principal, bill_number: str, now: datetime) -> CashBill:
    """The bill of this number at the officer's office, to show before recording cash (changes nothing)."""
    office_id = _officer(principal)
    bill = session.scalar(select(Bill).where(Bill.number == bill_number, Bill.office_id == office_id))
    if bill is None:
        raise NotFound("No such bill at your office.", error="bill_not_found")
    person = session.get(InsuredPerson, bill.insured_person_id)
    assert person is not None
    pending = _cash_awaiting_today(session, bill.id, now)
    payable = bill.status is BillStatus.OPEN and bill.expires_at > now
    return CashBill(bill, _with_months(session, [bill])[0].months, person, payable, pending)


def cash_awaiting(
    session: Session, principal: Principal, now: datetime, days: int = 7, limit: int = 200
) -> list[Payment]:
    """The office's cash payments of the last ``days`` awaiting a second officer, newest first (only today's can
    still be confirmed; older ones stay in their day's cash report)."""
    office_id = _officer(principal)
    return list(
        session.scalars(
            select(Payment)
            .where(
                Payment.provider == CASH,
                Payment.office_id == office_id,
                Payment.received_at >= now - timedelta(days=days),
                Payment.status == PaymentStatus.AWAITING_SECOND_OFFICER,
            )
            .order_by(Payment.id.desc())
            .limit(limit)
        )
    )


def cash_to_confirm_count(session: Session, principal: Principal, now: datetime) -> int:
    """How many of the office's cash payments taken today (Vientiane) by colleagues await this officer."""
    office_id = _officer(principal)
    return int(
        session.scalar(
            select(func.count()).where(
                Payment.office_id == office_id,
                Payment.recorded_by_id != principal.id,
                *_awaiting_cash_of_today(now),
            )
        )
        or 0
    )


def taken_on(payment: Payment, now: datetime) -> bool:
    """Whether cash was taken on ``now``'s day (Vientiane): only then may it be confirmed (the test for one
    payment that ``_awaiting_cash_of_today`` is for a query)."""
    return (payment.paid_at or payment.received_at).astimezone(VIENTIANE).date() == now.astimezone(VIENTIANE).date()


def bills_with_persons(session: Session, bill_ids: set[int | None]) -> dict[int, tuple[Bill, InsuredPerson]]:
    """bill id -> (bill, insured person), in one query, for lists of payments and review items."""
    ids = {i for i in bill_ids if i is not None}
    if not ids:
        return {}
    rows = session.execute(
        select(Bill, InsuredPerson)
        .join(InsuredPerson, InsuredPerson.id == Bill.insured_person_id)
        .where(Bill.id.in_(ids))
    ).all()
    return {bill.id: (bill, person) for bill, person in rows}


# -- the core system's feed ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedItem:
    id: int
    provider: str
    transaction_id: str
    bill_number: str
    member_number: str
    amount: int
    paid_at: datetime
    credited_at: datetime
    months: list[BillMonth]


def payment_feed(
    session: Session, after: tuple[datetime, int] | None, limit: int, now: datetime, lag_seconds: int
) -> list[FeedItem]:
    """Credited payments in the order they were credited (credit time, then id), each once. Only credits
    older than ``lag_seconds`` are listed, so a credit whose transaction commits a moment after a later one
    is not skipped by a reader that has moved past it."""
    query = (
        select(Payment, Bill.number, InsuredPerson.member_number)
        .join(Bill, Bill.id == Payment.bill_id)
        .join(InsuredPerson, InsuredPerson.id == Bill.insured_person_id)
        .where(Payment.credited_at.is_not(None), Payment.credited_at <= now - timedelta(seconds=lag_seconds))
    )
    rows = session.execute(keyset_page_by(query, Payment.credited_at, Payment.id, after, limit)).all()  # type: ignore[type-var]
    months: dict[int, list[BillMonth]] = {}
    bill_ids = [payment.bill_id for payment, _, _ in rows if payment.bill_id is not None]
    if bill_ids:
        for month in session.scalars(
            select(BillMonth).where(BillMonth.bill_id.in_(bill_ids)).order_by(BillMonth.period)
        ):
            months.setdefault(month.bill_id, []).append(month)
    return [
        FeedItem(
            payment.id,
            payment.provider,
            payment.transaction_id,
            number,
            member_number,
            payment.amount or 0,
            payment.paid_at or payment.credited_at,
            payment.credited_at,
            months.get(payment.bill_id or 0, []),
        )
        for payment, number, member_number in rows
        if payment.credited_at is not None
    ]


# -- reconciliation ------------------------------------------------------------------------------------


@dataclass
class Reconciliation:
    day: date
    provider: str
    listed: int = 0
    credited: int = 0
    no_credit: list[str] = field(default_factory=list)
    no_transaction: list[str] = field(default_factory=list)


def reconcile(
    session: Session, provider: str, day: date, listed: list[ProviderTransaction], now: datetime
) -> Reconciliation:
    """Compare the provider's paid transactions of ``day`` with what we credited: a paid transaction we never
    credited (nor put in review) and a credit the provider does not list each become a review item (once).
    A transaction we never heard of is also recorded and sent to be confirmed, as if its callback had come."""
    result = Reconciliation(day, provider)
    paid = {t.transaction_id: t for t in listed if t.status == "paid"}
    result.listed = len(paid)
    start, end = _day_bounds(day)
    ours = {
        p.transaction_id: p
        for p in session.scalars(
            select(Payment).where(
                Payment.provider == provider,
                or_(
                    Payment.transaction_id.in_(list(paid)) if paid else false(),
                    and_(Payment.paid_at >= start, Payment.paid_at < end),
                ),
            )
        )
    }
    settled = (PaymentStatus.CREDITED, PaymentStatus.REVIEW, PaymentStatus.REFUNDED)
    for transaction_id, transaction in sorted(paid.items()):
        payment = ours.get(transaction_id)
        if payment is not None and payment.status in settled:
            continue
        bill = session.scalar(select(Bill).where(Bill.number == (transaction.bill_number or "")))
        if _flag(session, provider, transaction_id, ReviewReason.NO_CREDIT, now, bill=bill, amount=transaction.amount):
            result.no_credit.append(transaction_id)
            metrics.count_on_commit(session, metrics.PAYMENT_RECONCILIATION_FLAGS.labels(reason="no_credit"))
        if payment is None:
            record_callback(session, provider, transaction_id, transaction.bill_number, now)
    for transaction_id, payment in sorted(ours.items()):
        if payment.status is not PaymentStatus.CREDITED:
            continue
        result.credited += 1
        if transaction_id not in paid:
            bill = session.get(Bill, payment.bill_id) if payment.bill_id else None
            if _flag(session, provider, transaction_id, ReviewReason.NO_TRANSACTION, now, payment=payment, bill=bill):
                result.no_transaction.append(transaction_id)
                metrics.count_on_commit(session, metrics.PAYMENT_RECONCILIATION_FLAGS.labels(reason="no_transaction"))
    return result


def yesterday(now: datetime) -> date:
    return now.astimezone(VIENTIANE).date() - timedelta(days=1)


def receipt_pdf(receipt: Receipt) -> bytes:
    """The receipt as a PDF, in Lao with English beside each label."""
    from lsso_mobile.services.pdf import LaoDocument

    bill, person, payment = receipt.bill, receipt.person, receipt.payment
    document = LaoDocument("ໃບຮັບເງິນສົມທົບ ປກສ / LSSO contribution receipt")
    paid_at = (payment.paid_at or payment.credited_at or bill.updated_at).astimezone(VIENTIANE)
    document.rows(
        [
            ("ຊື່ / Name", f"{person.name_lo} ({person.name_latin})"),
            ("ເລກສະມາຊິກ / Member number", person.member_number),
            ("ເລກໃບເກັບເງິນ / Bill number", bill.number),
            ("ຈຳນວນເງິນ / Amount", f"{format_money(bill.amount, 'lo')} ({format_money(bill.amount, 'en')})"),
            ("ວັນທີຈ່າຍ / Paid", paid_at.strftime("%d/%m/%Y %H:%M")),
            ("ຊ່ອງທາງ / Channel", payment.provider),
            ("ເລກທຸລະກຳ / Transaction", payment.transaction_id),
        ]
    )
    document.heading("ເດືອນ / Months")
    document.rows([(month.period, format_money(month.amount, "lo")) for month in receipt.months])
    document.note("ເດືອນທີ່ຈ່າຍແລ້ວລໍຖ້າການຢືນຢັນຈາກລະບົບ ປກສ. The months paid await confirmation by the LSSO core system.")
    return document.output()


# -- the SMS look-up "BILL" --------------------------------------------------------------------------------


def open_bill_answer(lookup: Lookup) -> str:
    """``BILL`` by SMS (Lao): the oldest open bill's number, amount and expiry (its months come first), and how
    many more are open; a member with none is told how to make one."""
    person = lookup.person
    if person.scheme is not Scheme.VOLUNTARY:
        return lookup_text("bill_employer_pays", {"member_number": person.member_number})
    bills = list(
        lookup.session.scalars(
            select(Bill)
            .where(Bill.insured_person_id == person.id, Bill.status == BillStatus.OPEN, Bill.expires_at > lookup.now)
            .order_by(Bill.id)
            .limit(20)
        )
    )
    if not bills:
        return lookup_text("no_open_bill", {"member_number": person.member_number})
    first = bills[0]
    answer = lookup_text(
        "open_bill",
        {
            "member_number": person.member_number,
            "bill_number": first.number,
            "amount": Money(first.amount),
            "expires": first.expires_at.astimezone(VIENTIANE).strftime("%d/%m/%Y %H:%M"),
        },
    )
    if len(bills) > 1:
        answer += " " + lookup_text("more_open_bills", {"count": len(bills) - 1})
    return answer


register_keyword(("bill", "ບິນ", "ໃບເກັບເງິນ"), "bill", open_bill_answer)
