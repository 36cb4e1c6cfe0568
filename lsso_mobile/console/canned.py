"""Canned replies of every office in the console (admins): list by office and state, create, edit, retire and
restore, in Lao and English. The same table and rules (services.canned_replies) as the officers' own replies:
what an admin keeps active here is exactly what the office's officers pick by typing "/" in a reply."""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms.fields.choices import SelectChoice

from lsso_mobile.api.access import client_ip, now
from lsso_mobile.api.context import commit, db_session
from lsso_mobile.api.schemas import decode_cursor, page
from lsso_mobile.console.admin_forms import CannedReplyForm
from lsso_mobile.console.auth import admin_page
from lsso_mobile.console.forms import ActionForm
from lsso_mobile.console.staff_admin import refusal
from lsso_mobile.console.views import PAGE_SIZE, bp, show_refusal
from lsso_mobile.errors import DomainError
from lsso_mobile.models import CannedReply, Office
from lsso_mobile.services import canned_replies as canned_service
from lsso_mobile.services.audit_log import AuditFilter, audit_names, search_audit
from lsso_mobile.services.reference import list_offices

KNOWN = [
    _l("This office already has a canned reply with this title."),
    _l("This office already has {max} canned replies; retire one first."),
    _l("Choose the office this canned reply is for."),
    _l("Restore this canned reply before changing it."),
    _l("No such canned reply."),
]
STATE_LABELS = {"active": _l("In use"), "retired": _l("Retired"), "all": _l("All")}


def _offices() -> list[Office]:
    return list_offices(db_session())


def _office_choices(offices: list[Office]) -> list[SelectChoice]:
    return [
        SelectChoice("", _("Choose an office")),
        *(SelectChoice(o.code, f"{o.code} · {o.name_en}") for o in offices),
    ]


def _list_page(form: CannedReplyForm | None = None, status: int = 200) -> Any:
    session = db_session()
    offices = _offices()
    by_code = {o.code: o for o in offices}
    office_code = request.args.get("office", "").strip()[:16]
    office = by_code.get(office_code)
    state = request.args.get("state", "active")
    state = state if state in canned_service.STATES else "active"
    items = canned_service.office_canned_replies(
        session, office.id if office else None, state, decode_cursor(request.args.get("cursor")), PAGE_SIZE + 1
    )
    result = page(items, PAGE_SIZE)
    if form is None:
        form = CannedReplyForm(formdata=None)
        form.office_code.data = office.code if office else ""
    form.office_code.choices = _office_choices(offices)
    return (
        render_template(
            "console/canned_replies.html",
            replies=result["items"],
            next_cursor=result["next_cursor"],
            offices=offices,
            codes={o.id: o.code for o in offices},
            office=office,
            state=state,
            state_labels=STATE_LABELS,
            form=form,
            action_form=ActionForm(formdata=None),
            query={k: v for k, v in request.args.items() if k != "cursor"},
            most=canned_service.MAX_ACTIVE_PER_OFFICE,
        ),
        status,
    )


@bp.route("/admin/canned-replies", methods=["GET"])
@admin_page
def canned_replies_page() -> Any:
    return _list_page()


@bp.route("/admin/canned-replies", methods=["POST"])
@admin_page
def canned_reply_create() -> Any:
    form = CannedReplyForm()
    form.office_code.choices = _office_choices(_offices())
    if form.validate():
        session = db_session()
        office = next((o for o in _offices() if o.code == form.office_code.data), None)
        try:
            canned_service.admin_save_canned_reply(
                session,
                g.principal,
                office.id if office else None,
                None,
                (form.title.data or "", form.body_lo.data or "", form.body_en.data or ""),
                now(),
                address=client_ip(),
            )
        except DomainError as exc:
            show_refusal(form, exc, not_found_page=False)
        else:
            commit()
            flash(_("The canned reply is saved: the office's officers can use it now."))
            return redirect(url_for("console.canned_replies_page", office=office.code if office else None))
    g.here = url_for("console.canned_replies_page")
    return _list_page(form, 422)


def _detail(canned: CannedReply, form: CannedReplyForm | None = None) -> dict[str, Any]:
    session = db_session()
    if form is None:
        form = CannedReplyForm(formdata=None)
        form.title.data, form.body_lo.data, form.body_en.data = canned.title, canned.body_lo, canned.body_en
    office = session.get(Office, canned.office_id)
    events = search_audit(session, AuditFilter(object_type="canned_reply", object_id=canned.id), None, 20)
    return {
        "canned": canned,
        "office": office,
        "form": form,
        "action_form": ActionForm(formdata=None),
        "events": events,
        "names": audit_names(session, events),
    }


@bp.route("/admin/canned-replies/<int:canned_id>", methods=["GET"])
@admin_page
def canned_reply_detail(canned_id: int) -> Any:
    canned = canned_service.any_canned_reply(db_session(), canned_id)
    return render_template("console/canned_reply.html", **_detail(canned))


@bp.route("/admin/canned-replies/<int:canned_id>", methods=["POST"])
@admin_page
def canned_reply_edit(canned_id: int) -> Any:
    session = db_session()
    form = CannedReplyForm()
    if form.validate():
        try:
            canned_service.admin_save_canned_reply(
                session,
                g.principal,
                None,
                canned_id,
                (form.title.data or "", form.body_lo.data or "", form.body_en.data or ""),
                now(),
                address=client_ip(),
            )
        except DomainError as exc:
            show_refusal(form, exc)
        else:
            commit()
            flash(_("The canned reply is saved: the office's officers can use it now."))
            return redirect(url_for("console.canned_reply_detail", canned_id=canned_id))
    g.here = url_for("console.canned_reply_detail", canned_id=canned_id)
    canned = canned_service.any_canned_reply(session, canned_id)
    return render_template("console/canned_reply.html", **_detail(canned, form)), 422


def _set_active(canned_id: int, active: bool) -> Any:
    session = db_session()
    try:
        canned_service.set_canned_reply_active(session, g.principal, canned_id, active, now(), address=client_ip())
    except DomainError as exc:
        if exc.status == 404:
            raise
        session.rollback()
        flash(refusal(exc))
    else:
        commit()
        flash(
            _("The canned reply is back in use.")
            if active
            else _("The canned reply is retired: officers no longer see it.")
        )
    return redirect(url_for("console.canned_reply_detail", canned_id=canned_id))


@bp.route("/admin/canned-replies/<int:canned_id>/retire", methods=["POST"])
@admin_page
def canned_reply_retire(canned_id: int) -> Any:
    return _set_active(canned_id, False)


@bp.route("/admin/canned-replies/<int:canned_id>/restore", methods=["POST"])
@admin_page
def canned_reply_restore(canned_id: int) -> Any:
    return _set_active(canned_id, True)
