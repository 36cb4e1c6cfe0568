"""Ops pages for broadcast notices: the composer (Lao and English side by side, a phone preview in each
language, an audience builder whose counts follow it), the approvals queue, progress while sending, results
by province, and the history of every broadcast. Each view calls ``services.broadcasts``, as the staff API
does, so the four-eyes rule, the timing limits and the audience checks are the API's own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from marshmallow import ValidationError as SchemaValidationError
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from lsso_mobile.api.access import now
from lsso_mobile.api.context import commit, db_session
from lsso_mobile.api.schemas import decode_cursor, page
from lsso_mobile.console.auth import role_page
from lsso_mobile.console.charts import Series, stacked_bars
from lsso_mobile.console.messages import translate as translate_error
from lsso_mobile.console.views import _enum_arg, bp, label
from lsso_mobile.errors import DomainError
from lsso_mobile.models import Broadcast, BroadcastStatus, Scheme
from lsso_mobile.notify.templates import CATEGORIES
from lsso_mobile.services import broadcasts as broadcast_service
from lsso_mobile.services import reference
from lsso_mobile.services.audience import Audience
from lsso_mobile.validation import MULTI_LINE, SINGLE_LINE, clean_text

VIENTIANE = ZoneInfo("Asia/Vientiane")
PAGE_SIZE = 25
PROGRESS_REFRESH_SECONDS = 3  # app.config["CONSOLE_PROGRESS_REFRESH_SECONDS"] overrides it (tests)
OPS, ADMIN = "ops", "admin"
LIVE = (BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING)

CATEGORY_LABELS = {
    "news": _l("News"),
    "contributions": _l("Contributions"),
    "benefits": _l("Benefits"),
    "registration": _l("Registration"),
    "messages": _l("Messages"),
}
STATUS_LABELS = {
    "draft": _l("Draft"),
    "awaiting_approval": _l("Awaiting approval"),
    "scheduled": _l("Scheduled"),
    "sending": _l("Sending"),
    "sent": _l("Sent"),
    "cancelled": _l("Cancelled"),
    "withdrawn": _l("Withdrawn"),
}
ACTION_LABELS = {
    "created": _l("Written"),
    "edited": _l("Changed"),
    "submitted": _l("Submitted for approval"),
    "approved": _l("Approved"),
    "rejected": _l("Sent back"),
    "cancelled": _l("Cancelled"),
    "withdrawn": _l("Withdrawn"),
    "sending": _l("Sending began"),
    "sent": _l("All pushes sent"),
}
OUTCOME_LABELS = {
    "sent": _l("Sent"),
    "failed": _l("Failed"),
    "unregistered": _l("Dead tokens"),
    "muted": _l("Muted"),
    "waiting": _l("Deferred"),
    "dropped": _l("Dropped"),
}
# The services' refusals an ops user can meet here, in the catalogue.
KNOWN = [
    _l("A broadcast must be approved by a different ops user than its author."),
    _l("The author withdraws a submission by cancelling it, not by rejecting it."),
    _l("Only the author edits a draft; approvers review it unchanged."),
    _l("Only the author submits a draft for approval."),
    _l("send_at must be in the future, at most 90 days ahead."),
    _l("expires_at must be between 1 hour and 90 days after sending."),
    _l("send_at has passed; set a new time or send it at once."),
    _l("It would expire within an hour of going out; the author must set a later expiry."),
    _l("The audience names places that do not exist."),
    _l("No such broadcast."),
    _l("This broadcast can no longer do that; reload the page to see its status."),
]
FIELD_OF_ERROR = {"send_at": "send_at", "expires_at": "expires_at", "audience": "provinces"}


@bp.app_template_filter("broadcast_label")
def _broadcast_label(value: Any) -> str:
    key = getattr(value, "value", value)
    for table in (STATUS_LABELS, CATEGORY_LABELS, ACTION_LABELS, OUTCOME_LABELS):
        if key in table:
            return str(table[key])
    return label(value)


@bp.app_context_processor
def _approvals_badge() -> dict[str, Any]:
    def count() -> int:  # called by the ops menu only
        principal = g.get("principal")
        if principal is None or principal.role != OPS:
            return 0
        return broadcast_service.count_awaiting_approval(db_session(), principal.id)

    return {"broadcasts_awaiting_approval": count}


@bp.app_template_filter("broadcast_action")
def _broadcast_action(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


def _translate(exc: DomainError) -> str:
    if exc.message.startswith("A broadcast that is ") and " cannot be " in exc.message:
        return _("This broadcast can no longer do that; reload the page to see its status.")
    return translate_error(exc)


# -- forms ---------------------------------------------------------------------------------------------


class Checkboxes(SelectMultipleField):
    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()

    def pre_validate(self, form: Any) -> None:
        # Unknown codes are refused by the service (with the API's message), not silently dropped here.
        pass


def _text(kind: str) -> Any:
    def check(form: Any, field: Any) -> None:
        if field.data:
            try:
                field.data = clean_text(field.data, kind).strip()
            except SchemaValidationError as exc:
                raise ValidationError(_("This text holds a character that cannot be sent.")) from exc

    return check


REQUIRED = _l("Fill in this field.")
TOO_LONG = _l("This is too long.")


class BroadcastForm(FlaskForm):
    title_lo = StringField(
        _l("Title (Lao)"), validators=[DataRequired(REQUIRED), Length(max=200, message=TOO_LONG), _text(SINGLE_LINE)]
    )
    body_lo = TextAreaField(
        _l("Text (Lao)"), validators=[DataRequired(REQUIRED), Length(max=2000, message=TOO_LONG), _text(MULTI_LINE)]
    )
    title_en = StringField(
        _l("Title (English)"),
        validators=[DataRequired(REQUIRED), Length(max=200, message=TOO_LONG), _text(SINGLE_LINE)],
    )
    body_en = TextAreaField(
        _l("Text (English)"),
        validators=[DataRequired(REQUIRED), Length(max=2000, message=TOO_LONG), _text(MULTI_LINE)],
    )
    category = SelectField(
        _l("Category"), choices=[SelectChoice(c, CATEGORY_LABELS[c]) for c in CATEGORIES], default="news"
    )
    critical = BooleanField(_l("Critical: comes through muting and quiet hours"))
    provinces = Checkboxes(_l("Provinces"), choices=[])
    districts = Checkboxes(_l("Districts"), choices=[])
    schemes = Checkboxes(
        _l("Schemes"),
        choices=[
            SelectChoice(Scheme.COMPULSORY.value, _l("Compulsory")),
            SelectChoice(Scheme.VOLUNTARY.value, _l("Voluntary")),
        ],
    )
    in_arrears = BooleanField(_l("Only members in arrears"))
    pending_application = BooleanField(_l("Only members whose registration awaits a decision"))
    timing = RadioField(
        _l("When"),
        choices=[SelectChoice("now", _l("As soon as it is approved")), SelectChoice("at", _l("At a set time"))],
        default="now",
    )
    send_at = DateTimeLocalField(_l("Send at (Vientiane time)"), format="%Y-%m-%dT%H:%M", validators=[Optional()])
    expires_at = DateTimeLocalField(
        _l("Leaves inboxes at (Vientiane time)"), format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        if self.timing.data == "at" and self.send_at.data is None and not self.send_at.errors:
            self.send_at.errors = [_("Give the time to send it, or choose to send it once approved.")]
            return False
        return valid


class ReviewForm(FlaskForm):
    note = TextAreaField(
        _l("Note to the author"), validators=[Optional(), Length(max=2000, message=TOO_LONG), _text(MULTI_LINE)]
    )


class WithdrawForm(FlaskForm):
    confirm = BooleanField(
        _l("Yes: take it out of every member's inbox and stop the pushes not yet sent"),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )


class ButtonForm(FlaskForm):
    """A button that changes something (submit, approve, cancel): the CSRF token only."""


def _choose_areas(form: BroadcastForm) -> dict[str, Any]:
    session = db_session()
    provinces = reference.list_provinces(session)
    districts = reference.list_districts(session)
    form.provinces.choices = [SelectChoice(p.code, f"{p.code} {p.name_lo} · {p.name_en}") for p in provinces]
    form.districts.choices = [SelectChoice(d.code, f"{d.code} {d.name_lo} · {d.name_en}") for d in districts]
    by_province: dict[str, list[Any]] = {p.code: [] for p in provinces}
    for d in districts:
        by_province.setdefault(d.province_code, []).append(d)
    return {"provinces": provinces, "districts_by_province": by_province}


def _local(moment: datetime | None) -> datetime | None:
    return moment.astimezone(VIENTIANE).replace(tzinfo=None, second=0, microsecond=0) if moment else None


def _utc(local: datetime | None) -> datetime | None:
    return local.replace(tzinfo=VIENTIANE).astimezone(UTC) if local else None


def _audience(form: BroadcastForm) -> Audience:
    return Audience.from_json(
        {
            "provinces": form.provinces.data or [],
            "districts": form.districts.data or [],
            "schemes": [s for s in form.schemes.data or [] if s in Scheme._value2member_map_],
            "in_arrears": form.in_arrears.data,
            "pending_application": form.pending_application.data,
        }
    )


def _draft(form: BroadcastForm) -> broadcast_service.BroadcastDraft:
    return broadcast_service.BroadcastDraft(
        title_lo=form.title_lo.data or "",
        body_lo=form.body_lo.data or "",
        title_en=form.title_en.data or "",
        body_en=form.body_en.data or "",
        category=form.category.data or "news",
        critical=bool(form.critical.data),
        audience=_audience(form),
        send_at=_utc(form.send_at.data) if form.timing.data == "at" else None,
        expires_at=_utc(form.expires_at.data),
    )


def _fill(form: BroadcastForm, broadcast: Broadcast) -> None:
    audience = Audience.from_json(broadcast.audience)
    form.title_lo.data, form.body_lo.data = broadcast.title_lo, broadcast.body_lo
    form.title_en.data, form.body_en.data = broadcast.title_en, broadcast.body_en
    form.category.data, form.critical.data = broadcast.category, broadcast.critical
    form.provinces.data, form.districts.data = list(audience.provinces), list(audience.districts)
    form.schemes.data = list(audience.schemes)
    form.in_arrears.data, form.pending_application.data = audience.in_arrears, audience.pending_application
    form.timing.data = "at" if broadcast.send_at else "now"
    form.send_at.data, form.expires_at.data = _local(broadcast.send_at), _local(broadcast.expires_at)


# -- what pages show -----------------------------------------------------------------------------------


def audience_summary(audience: Audience) -> list[str]:
    """The audience in words: what the composer, the queue and the history show."""
    session = db_session()
    if audience.everyone:
        return [_("Every member")]
    lines = []
    if audience.provinces or audience.districts:
        provinces = {p.code: p for p in reference.list_provinces(session)}
        districts = {d.code: d for d in reference.list_districts(session)} if audience.districts else {}
        places = [f"{c} {provinces[c].name_lo}" if c in provinces else c for c in audience.provinces]
        places += [f"{c} {districts[c].name_lo}" if c in districts else c for c in audience.districts]
        lines.append(_("In: %(places)s", places=", ".join(places)))
    if audience.schemes:
        lines.append(_("Schemes: %(schemes)s", schemes=", ".join(label(s) for s in audience.schemes)))
    if audience.in_arrears:
        lines.append(_("Only members in arrears"))
    if audience.pending_application:
        lines.append(_("Only members whose registration awaits a decision"))
    return lines


def _size_context(audience: Audience) -> dict[str, Any]:
    try:
        size = broadcast_service.preview(db_session(), audience, now())
    except DomainError as exc:
        return {"size": None, "size_error": _translate(exc)}
    return {"size": size, "size_error": None}


def _composer(form: BroadcastForm, broadcast: Broadcast | None = None) -> dict[str, Any]:
    return {
        "form": form,
        "broadcast": broadcast,
        "previews": broadcast_service.phone_previews(
            form.title_lo.data or "", form.body_lo.data or "", form.title_en.data or "", form.body_en.data or ""
        ),
        **_choose_areas(form),
        **_size_context(_audience(form)),
    }


def _province_names() -> dict[str, Any]:
    return {p.code: p for p in reference.list_provinces(db_session())}


def _results_context(broadcast: Broadcast) -> dict[str, Any]:
    results = broadcast_service.broadcast_results(db_session(), broadcast, now())
    chart = None
    if results.by_province:
        codes = list(results.by_province)
        chart = stacked_bars(
            [code or "?" for code in codes],
            [
                Series(str(OUTCOME_LABELS[o]), [results.by_province[c][o] for c in codes], o)
                for o in broadcast_service.OUTCOMES
            ],
            _("Devices by province and outcome"),
        )
    live = broadcast.status in LIVE
    return {
        "broadcast": broadcast,
        "results": results,
        "chart": chart,
        "provinces": _province_names(),
        "live": live,
        "refresh_seconds": current_app.config.get("CONSOLE_PROGRESS_REFRESH_SECONDS", PROGRESS_REFRESH_SECONDS),
    }


def _detail_context(broadcast_id: int, **forms: Any) -> dict[str, Any]:
    session = db_session()
    broadcast = broadcast_service.get_broadcast(session, broadcast_id)
    audience = Audience.from_json(broadcast.audience)
    awaiting = broadcast.status is BroadcastStatus.AWAITING_APPROVAL
    return {
        **_results_context(broadcast),
        "audience": audience_summary(audience),
        "previews": broadcast_service.phone_previews(
            broadcast.title_lo, broadcast.body_lo, broadcast.title_en, broadcast.body_en
        ),
        "history": broadcast_service.history_of(session, broadcast.id),
        "names": broadcast_service.author_names(session, [broadcast]),
        # Counts now, for the approver (sending takes its own snapshot when it starts).
        **(_size_context(audience) if awaiting or broadcast.status is BroadcastStatus.DRAFT else {"size": None}),
        "mine": broadcast.created_by == g.principal.id,
        "can_act": g.principal.role == OPS,
        "button_form": ButtonForm(formdata=None),
        "review_form": forms.get("review_form") or ReviewForm(formdata=None),
        "withdraw_form": forms.get("withdraw_form") or WithdrawForm(formdata=None),
        "cancellable": broadcast.status in broadcast_service.CANCELLABLE,
        "withdrawable": broadcast.status in broadcast_service.WITHDRAWABLE,
    }


# -- pages ---------------------------------------------------------------------------------------------


@bp.route("/broadcasts", methods=["GET"])
@role_page(OPS, ADMIN)
def broadcasts_list() -> Any:
    status = _enum_arg(BroadcastStatus, "status")
    session = db_session()
    items = broadcast_service.list_broadcasts(session, status, decode_cursor(request.args.get("cursor")), PAGE_SIZE + 1)
    result = page(items, PAGE_SIZE)
    return render_template(
        "console/broadcasts.html",
        broadcasts=result["items"],
        names=broadcast_service.author_names(session, result["items"]),
        next_cursor=result["next_cursor"],
        status=status.value if status else "",
        statuses=list(BroadcastStatus),
        query={k: v for k, v in request.args.items() if k != "cursor"},
    )


@bp.route("/broadcasts/approvals", methods=["GET"])
@role_page(OPS)
def broadcast_approvals() -> Any:
    session = db_session()
    waiting = broadcast_service.list_broadcasts(session, BroadcastStatus.AWAITING_APPROVAL, None, 50)
    return render_template(
        "console/broadcast_approvals.html",
        items=[
            (
                b,
                audience_summary(Audience.from_json(b.audience)),
                broadcast_service.phone_previews(b.title_lo, b.body_lo, b.title_en, b.body_en),
            )
            for b in waiting
        ],
        names=broadcast_service.author_names(session, waiting),
        review_form=ReviewForm(formdata=None),
        button_form=ButtonForm(formdata=None),
    )


@bp.route("/broadcasts/<int:broadcast_id>/audience-size", methods=["GET"])
@role_page(OPS)
def broadcast_audience_size(broadcast_id: int) -> Any:
    """The audience's members and devices now (loaded by the queue after the page, one card at a time)."""
    broadcast = broadcast_service.get_broadcast(db_session(), broadcast_id)
    return render_template("console/_audience_size.html", **_size_context(Audience.from_json(broadcast.audience)))


@bp.route("/broadcasts/new", methods=["GET", "POST"])
@role_page(OPS)
def broadcast_new() -> Any:
    form = BroadcastForm() if request.method == "POST" else BroadcastForm(formdata=None)
    _choose_areas(form)
    if request.method == "POST":
        if form.validate():
            session = db_session()
            try:
                created = broadcast_service.create_broadcast(session, g.principal, _draft(form), now())
                if request.form.get("action") == "submit":
                    broadcast_service.submit_for_approval(session, g.principal, created.id, now())
            except DomainError as exc:
                session.rollback()
                _place(form, exc)
            else:
                commit()
                flash(_submitted_or_saved())
                return redirect(url_for("console.broadcast_detail", broadcast_id=created.id))
        g.here = url_for("console.broadcast_new")
        return render_template("console/broadcast_compose.html", **_composer(form)), 422
    return render_template("console/broadcast_compose.html", **_composer(form))


@bp.route("/broadcasts/<int:broadcast_id>/edit", methods=["GET", "POST"])
@role_page(OPS)
def broadcast_edit(broadcast_id: int) -> Any:
    session = db_session()
    broadcast = broadcast_service.get_broadcast(session, broadcast_id)
    form = BroadcastForm() if request.method == "POST" else BroadcastForm(formdata=None)
    _choose_areas(form)
    if request.method == "GET":
        _fill(form, broadcast)
        return render_template("console/broadcast_compose.html", **_composer(form, broadcast))
    if form.validate():
        try:
            broadcast_service.update_draft(session, g.principal, broadcast_id, _draft(form), now())
            if request.form.get("action") == "submit":
                broadcast_service.submit_for_approval(session, g.principal, broadcast_id, now())
        except DomainError as exc:
            session.rollback()
            if exc.status == 404:
                raise
            _place(form, exc)
        else:
            commit()
            flash(_submitted_or_saved())
            return redirect(url_for("console.broadcast_detail", broadcast_id=broadcast_id))
    broadcast = broadcast_service.get_broadcast(session, broadcast_id)
    g.here = url_for("console.broadcast_edit", broadcast_id=broadcast_id)
    return render_template("console/broadcast_compose.html", **_composer(form, broadcast)), 422


def _submitted_or_saved() -> str:
    if request.form.get("action") == "submit":
        return _("Submitted. Another ops user must approve it before it goes out.")
    return _("The draft is saved.")


def _place(form: BroadcastForm, exc: DomainError) -> None:
    """A refusal next to the field it is about (the service names send_at, expires_at or the audience)."""
    placed = False
    for name in exc.errors or {}:
        field = getattr(form, FIELD_OF_ERROR.get(name, name), None)
        if field is not None:
            field.errors = [*field.errors, _translate(exc)]
            placed = True
    if not placed:
        form.form_errors.append(_translate(exc))


@bp.route("/broadcasts/compose/audience", methods=["POST"])
@role_page(OPS)
def broadcast_compose_audience() -> Any:
    """htmx: the members and devices the audience being built reaches now."""
    return render_template("console/_audience_size.html", **_size_context(_audience(BroadcastForm())))


@bp.route("/broadcasts/compose/phone", methods=["POST"])
@role_page(OPS)
def broadcast_compose_phone() -> Any:
    """htmx: the push on a phone in each language, clipped as it will be sent."""
    form = BroadcastForm()
    previews = broadcast_service.phone_previews(
        form.title_lo.data or "", form.body_lo.data or "", form.title_en.data or "", form.body_en.data or ""
    )
    return render_template("console/_phone_preview.html", previews=previews)


@bp.route("/broadcasts/<int:broadcast_id>", methods=["GET"])
@role_page(OPS, ADMIN)
def broadcast_detail(broadcast_id: int) -> Any:
    return render_template("console/broadcast.html", **_detail_context(broadcast_id))


@bp.route("/broadcasts/<int:broadcast_id>/progress", methods=["GET"])
@role_page(OPS, ADMIN)
def broadcast_progress(broadcast_id: int) -> Any:
    """htmx: slices done, push rate and outcomes; polled while it is scheduled or sending."""
    broadcast = broadcast_service.get_broadcast(db_session(), broadcast_id)
    page = render_template("console/_broadcast_progress.html", **_results_context(broadcast))
    # Its status changed since the page was drawn (sending began, or it is sent): htmx reloads the whole page,
    # so the status, the buttons offered and the history are those of now.
    changed = request.args.get("shown", broadcast.status.value) != broadcast.status.value
    return page, 200, {"HX-Refresh": "true"} if changed else {}


def _step(broadcast_id: int, action: Any, done: str) -> Any:
    try:
        action()
    except DomainError as exc:
        db_session().rollback()
        if exc.status == 404:
            raise
        flash(_translate(exc))
        return redirect(url_for("console.broadcast_detail", broadcast_id=broadcast_id))
    commit()
    flash(done)
    return redirect(url_for("console.broadcast_detail", broadcast_id=broadcast_id))


@bp.route("/broadcasts/<int:broadcast_id>/submit", methods=["POST"])
@role_page(OPS)
def broadcast_submit(broadcast_id: int) -> Any:
    return _step(
        broadcast_id,
        lambda: broadcast_service.submit_for_approval(db_session(), g.principal, broadcast_id, now()),
        _("Submitted. Another ops user must approve it before it goes out."),
    )


@bp.route("/broadcasts/<int:broadcast_id>/approve", methods=["POST"])
@role_page(OPS)
def broadcast_approve(broadcast_id: int) -> Any:
    return _step(
        broadcast_id,
        lambda: broadcast_service.approve(db_session(), g.principal, broadcast_id, now()),
        _("Approved. It goes out at its time; its progress shows here."),
    )


@bp.route("/broadcasts/<int:broadcast_id>/reject", methods=["POST"])
@role_page(OPS)
def broadcast_reject(broadcast_id: int) -> Any:
    form = ReviewForm()
    if form.validate() and (form.note.data or "").strip():
        return _step(
            broadcast_id,
            lambda: broadcast_service.reject(db_session(), g.principal, broadcast_id, form.note.data or "", now()),
            _("Sent back to its author with your note."),
        )
    if not form.note.errors:
        form.note.errors = [_("Say what the author should change.")]
    g.here = url_for("console.broadcast_detail", broadcast_id=broadcast_id)
    return render_template("console/broadcast.html", **_detail_context(broadcast_id, review_form=form)), 422


@bp.route("/broadcasts/<int:broadcast_id>/cancel", methods=["POST"])
@role_page(OPS)
def broadcast_cancel(broadcast_id: int) -> Any:
    return _step(
        broadcast_id,
        lambda: broadcast_service.cancel(db_session(), g.principal, broadcast_id, now()),
        _("The broadcast is cancelled."),
    )


@bp.route("/broadcasts/<int:broadcast_id>/withdraw", methods=["POST"])
@role_page(OPS)
def broadcast_withdraw(broadcast_id: int) -> Any:
    form = WithdrawForm()
    if form.validate():
        return _step(
            broadcast_id,
            lambda: broadcast_service.withdraw(db_session(), g.principal, broadcast_id, now()),
            _("Withdrawn: it has left every inbox and no more pushes go out."),
        )
    g.here = url_for("console.broadcast_detail", broadcast_id=broadcast_id)
    return render_template("console/broadcast.html", **_detail_context(broadcast_id, withdraw_form=form)), 422
