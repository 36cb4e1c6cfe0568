"""Console pages for money at the office: cash taken with the member present and confirmed by a second officer
(four eyes, the same day), the office's daily cash report with a CSV, and the payment review queue.

The rules are the services' (``services/payments.py``: ``record_cash``, ``confirm_cash``, ``cash_report``,
``reviews_for_staff``, ``resolve_review``), the same the staff API calls; a page shows their refusals in the
officer's language.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from flask import Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, ValidationError

from lsso_mobile.api.access import client_ip, now
from lsso_mobile.api.context import commit, db_session, settings
from lsso_mobile.api.schemas import decode_cursor, page
from lsso_mobile.console.auth import officer_page, role_page
from lsso_mobile.console.forms import REQUIRED, TOO_LONG
from lsso_mobile.console.messages import translate as translate_error
from lsso_mobile.console.views import PAGE_SIZE, _enum_arg, bp, show_refusal
from lsso_mobile.errors import DomainError
from lsso_mobile.models import PaymentReview, ReviewStatus
from lsso_mobile.notify.preferences import VIENTIANE
from lsso_mobile.services import payments as payment_service
from lsso_mobile.services.spreadsheet import spreadsheet_csv
from lsso_mobile.services.staff import staff_names

MAX_KIP = 2_147_483_647

PAYMENT_LABELS: dict[str, Any] = {
    # payment states
    "unconfirmed": _l("Waiting for the bank"),
    "awaiting_second_officer": _l("Awaiting a second officer"),
    "credited": _l("Credited"),
    "review": _l("In review"),
    "failed": _l("Failed"),
    "refunded": _l("Refunded"),
    # bill states
    "open": _l("Open"),
    "paid": _l("Paid"),
    "expired": _l("Expired"),
    "cancelled": _l("Cancelled"),
    # why a payment needs an officer
    "amount_mismatch": _l("Amount is not the bill's"),
    "bill_expired": _l("Paid after the bill expired"),
    "bill_cancelled": _l("Paid for a cancelled bill"),
    "already_paid": _l("Bill paid twice"),
    "unknown_bill": _l("Unknown bill number"),
    "no_credit": _l("Bank paid, nothing credited"),
    "no_transaction": _l("Credited, bank does not list it"),
    # review states and actions
    "applied": _l("Applied to the bill"),
    "dismissed": _l("Dismissed"),
    "apply": _l("Apply to the bill (credit it)"),
    "refund": _l("Refund (money goes back outside the app)"),
    "dismiss": _l("Dismiss (nothing to do)"),
}


@bp.app_template_filter("payment_label")
def payment_label(value: Any) -> str:
    key = getattr(value, "value", value)
    return str(PAYMENT_LABELS.get(key, key))


@bp.context_processor
def _cash_badge() -> dict[str, Any]:
    # called by the menu only (the officer's cash taken today by colleagues, waiting for a second officer)
    def count() -> int:
        principal = g.get("principal")
        if principal is None or principal.role != "officer" or principal.office_id is None:
            return 0
        return payment_service.cash_to_confirm_count(db_session(), principal, now())

    return {"cash_to_confirm": count}


def _bill_number_check(_form: FlaskForm, field: StringField) -> None:
    if not payment_service.valid_bill_number(field.data or ""):
        raise ValidationError(_l("This is not a bill number: check the 10 digits."))


def _digits(text: Any) -> Any:
    """A bill number as read out or printed ("482 910-5736") is its digits."""
    return "".join(ch for ch in text if ch.isdigit()) if isinstance(text, str) else text


class BillLookupForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search: it reads, never writes

    bill = StringField(
        _l("Bill number"),
        filters=[_digits],
        validators=[DataRequired(REQUIRED), Length(max=12, message=TOO_LONG), _bill_number_check],
    )


class CashForm(FlaskForm):
    bill_number = HiddenField(filters=[_digits], validators=[DataRequired(REQUIRED), _bill_number_check])
    amount = IntegerField(
        _l("Cash received (kip)"),
        validators=[
            DataRequired(_l("Count the cash and enter the amount.")),
            NumberRange(min=1, max=MAX_KIP, message=_l("Enter a whole number of kip.")),
        ],
    )
    key = HiddenField(default=lambda: str(uuid.uuid4()))  # one click, one payment, even if sent twice


class ButtonForm(FlaskForm):
    """A button that changes something (confirm): the CSRF token only."""


class ResolveForm(FlaskForm):
    action = SelectField(
        _l("Decision"),
        choices=[SelectChoice(a, PAYMENT_LABELS[a]) for a in ("apply", "refund", "dismiss")],
        validators=[DataRequired(REQUIRED)],
    )
    note = TextAreaField(
        _l("Note (kept in the audit trail)"),
        validators=[DataRequired(_l("Say why, for the audit trail.")), Length(max=2000, message=TOO_LONG)],
    )


# -- the cash desk ---------------------------------------------------------------------------------------


def _cash_context(
    lookup: BillLookupForm,
    bill_number: str | None,
    cash_form: CashForm | None = None,
    confirm_errors: dict[int, str] | None = None,
) -> dict[str, Any]:
    """The cash desk: the bill looked up (if any) with the form to record its cash, and the office's cash awaiting
    a second officer."""
    session, principal, moment = db_session(), g.principal, now()
    found = None
    if bill_number:
        try:
            found = payment_service.cash_bill(session, principal, bill_number, moment)
        except DomainError as exc:
            lookup.bill.errors = [*lookup.bill.errors, translate_error(exc)]
    if cash_form is None and found is not None:
        cash_form = CashForm(formdata=None, bill_number=found.bill.number)
    awaiting = payment_service.cash_awaiting(session, principal, moment)
    return {
        "lookup": lookup,
        "found": found,
        "cash_form": cash_form,
        "awaiting": awaiting,
        "confirmable": {p.id for p in awaiting if payment_service.taken_on(p, moment)},
        "bills": payment_service.bills_with_persons(session, {p.bill_id for p in awaiting}),
        "names": staff_names(session, {p.recorded_by_id for p in awaiting}),
        "button": ButtonForm(formdata=None),
        "confirm_errors": confirm_errors or {},
    }


@bp.route("/cash", methods=["GET"])
@officer_page
def cash_desk() -> Any:
    """Look a bill up by its number (``?bill=``), record its cash; confirm colleagues' cash."""
    asked = "bill" in request.args
    lookup = BillLookupForm(request.args if asked else None)
    valid = asked and lookup.validate()
    context = _cash_context(lookup, lookup.bill.data if valid else None)
    status = 200 if not asked else 422 if not valid else 404 if context["found"] is None else 200
    return render_template("console/cash.html", **context), status


@bp.route("/cash/record", methods=["POST"])
@officer_page
def cash_record() -> Any:
    form = CashForm()
    number = _digits(request.form.get("bill_number", ""))
    if form.validate():
        try:
            payment, _replayed = payment_service.record_cash(
                db_session(),
                g.principal,
                form.bill_number.data or "",
                form.amount.data or 0,
                form.key.data or None,
                now(),
                client_ip(),
            )
        except DomainError as exc:
            show_refusal(form, exc, not_found_page=False)
        else:
            commit()
            flash(
                _(
                    "Cash for bill %(number)s is recorded. A second officer of the office must confirm it today.",
                    number=payment.bill_number,
                )
            )
            return redirect(url_for("console.cash_desk", _anchor=f"cash-{payment.id}"))
    g.here = url_for("console.cash_desk")
    lookup = BillLookupForm(formdata=None, bill=number)
    context = _cash_context(lookup, number if payment_service.valid_bill_number(number) else None, form)
    return render_template("console/cash.html", **context), 422


@bp.route("/cash/<int:payment_id>/confirm", methods=["POST"])
@officer_page
def cash_confirm(payment_id: int) -> Any:
    try:
        payment = payment_service.confirm_cash(db_session(), settings(), g.principal, payment_id, now(), client_ip())
    except DomainError as exc:
        if exc.status == 404:
            raise
        db_session().rollback()
        g.here = url_for("console.cash_desk")
        errors = {payment_id: translate_error(exc)}
        context = _cash_context(BillLookupForm(formdata=None), None, confirm_errors=errors)
        return render_template("console/cash.html", **context), exc.status
    commit()
    if payment.status.value == "credited":
        flash(_("Confirmed. Bill %(number)s is paid and the member is told.", number=payment.bill_number))
    else:
        flash(_("Confirmed, but the bill could not be credited as it stands: see the payment reviews."))
    return redirect(url_for("console.cash_desk"))


# -- the daily cash report --------------------------------------------------------------------------------


def _report_day() -> tuple[date, str | None]:
    today = now().astimezone(VIENTIANE).date()
    asked = request.args.get("day", "").strip()
    if not asked:
        return today, None
    try:
        day = date.fromisoformat(asked)
    except ValueError:
        return today, _("Give the day as a date.")
    if not date(2000, 1, 1) <= day <= date(2200, 1, 1):
        return today, _("Give the day as a date.")
    return day, None


def _report_rows(report: payment_service.CashReport) -> list[dict[str, Any]]:
    session = db_session()
    bills = payment_service.bills_with_persons(session, {p.bill_id for p in report.payments})
    names = staff_names(
        session, {p.recorded_by_id for p in report.payments} | {p.confirmed_by_id for p in report.payments}
    )
    rows = []
    for payment in report.payments:
        pair = bills.get(payment.bill_id or 0)
        bill, person = pair if pair else (None, None)
        rows.append(
            {
                "payment": payment,
                "taken_at": payment.received_at.astimezone(VIENTIANE),
                "person": person,
                "bill": bill,
                "recorded_by": names.get(payment.recorded_by_id or 0, ""),
                "confirmed_by": names.get(payment.confirmed_by_id or 0, ""),
            }
        )
    return rows


@bp.route("/cash/report", methods=["GET"])
@officer_page
def cash_report_page() -> Any:
    day, error = _report_day()
    report = payment_service.cash_report(db_session(), g.principal, day)
    return render_template(
        "console/cash_report.html", report=report, rows=_report_rows(report), day=day, error=error
    ), (200 if error is None else 422)


CSV_COLUMNS = (
    "payment_id",
    "taken_at",
    "bill_number",
    "member_number",
    "name_lo",
    "name_latin",
    "amount",
    "status",
    "recorded_by",
    "confirmed_by",
)


@bp.route("/cash/report.csv", methods=["GET"])
@officer_page
def cash_report_csv() -> Any:
    day, error = _report_day()
    if error is not None:
        return Response(error, status=422, mimetype="text/plain")
    report = payment_service.cash_report(db_session(), g.principal, day)
    rows = []
    for row in _report_rows(report):
        payment, person = row["payment"], row["person"]
        taken_at: datetime = row["taken_at"]
        rows.append(
            [
                payment.id,
                taken_at.isoformat(timespec="seconds"),
                payment.bill_number,
                person.member_number if person else "",
                person.name_lo if person else "",
                person.name_latin if person else "",
                payment.amount,
                payment.status.value,
                row["recorded_by"],
                row["confirmed_by"],
            ]
        )
    filename = f"lsso-cash-{day.isoformat()}.csv"
    return Response(
        spreadsheet_csv(CSV_COLUMNS, rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "private, no-store"},
    )


# -- the payment review queue -------------------------------------------------------------------------------


def _reviews_context(form: ResolveForm | None = None, errors_for: int | None = None) -> dict[str, Any]:
    session = db_session()
    status = _enum_arg(ReviewStatus, "status", "open")
    items: list[PaymentReview] = payment_service.reviews_for_staff(
        session, g.principal, status, decode_cursor(request.args.get("cursor")), PAGE_SIZE + 1
    )
    result = page(items, PAGE_SIZE)
    reviews: list[PaymentReview] = result["items"]
    return {
        "reviews": reviews,
        "next_cursor": result["next_cursor"],
        "status": status.value if status else "all",
        "statuses": list(ReviewStatus),
        "bills": payment_service.bills_with_persons(session, {r.bill_id for r in reviews}),
        "names": staff_names(session, {r.resolved_by_id for r in reviews}),
        "form": form,
        "errors_for": errors_for,
    }


@bp.route("/payment-reviews", methods=["GET"])
@role_page("officer", "admin")
def payment_reviews() -> Any:
    return render_template("console/payment_reviews.html", **_reviews_context())


@bp.route("/payment-reviews/<int:review_id>/resolve", methods=["POST"])
@role_page("officer", "admin")
def payment_review_resolve(review_id: int) -> Any:
    form = ResolveForm()
    if form.validate():
        try:
            review = payment_service.resolve_review(
                db_session(),
                settings(),
                g.principal,
                review_id,
                form.action.data or "",
                form.note.data or "",
                now(),
                client_ip(),
            )
        except DomainError as exc:
            show_refusal(form, exc)
        else:
            commit()
            flash(_("Review item #%(id)s is settled: %(outcome)s.", id=review.id, outcome=payment_label(review.status)))
            return redirect(url_for("console.payment_reviews", status=request.args.get("status", "open")))
    g.here = url_for("console.payment_reviews")
    return render_template("console/payment_reviews.html", **_reviews_context(form, review_id)), 422
