"""Admins manage staff accounts in the console: list and search, create, change role and office, disable and
enable, unlock, reset a password, require or remove a second factor. Same services as the API and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms.fields.choices import SelectChoice

from lsso_mobile.api.access import client_ip, now
from lsso_mobile.api.context import commit, db_session, settings
from lsso_mobile.api.schemas import decode_cursor, page
from lsso_mobile.console.admin_forms import ROLE_LABELS, SecondFactorRequirementForm, StaffCreateForm, StaffEditForm
from lsso_mobile.console.auth import admin_page
from lsso_mobile.console.forms import ActionForm
from lsso_mobile.console.messages import translate
from lsso_mobile.console.views import PAGE_SIZE, bp, show_refusal
from lsso_mobile.errors import DomainError
from lsso_mobile.models import StaffRole, StaffUser
from lsso_mobile.services import staff_accounts
from lsso_mobile.services.audit_log import AuditFilter, audit_names, search_audit
from lsso_mobile.services.reference import list_offices

# The services' refusals an admin can meet here, for the catalogue.
KNOWN = [
    _l("No such staff user."),
    _l("This username is taken."),
    _l("An officer must belong to an office."),
    _l("No office has this code."),
    _l("You cannot do this to your own account; ask another admin."),
    _l("Staff passwords need at least 10 characters."),
    _l("The current password is wrong."),
    _l("The new password must differ from the current one."),
    _l("A second factor is already set up for this account."),
    _l("Start the set-up first."),
    _l("The code from the authenticator app is wrong."),
    _l("Enter the code from your authenticator app."),
    _l("Too many failed sign-ins for this account; wait a moment and try again."),
    _l("Some values are not valid."),
    _l("Enter a whole number within the allowed range."),
    _l("The floor must not exceed the ceiling."),
    _l("The recent months must fit in the window."),
]


def refusal(exc: DomainError) -> str:
    """A service's refusal in the admin's language, its parameters filled in."""
    text = translate(exc)
    return text.format(**exc.params) if exc.params else text


def _office_choices() -> list[SelectChoice]:
    offices = list_offices(db_session())
    return [SelectChoice("", _("No office")), *(SelectChoice(o.code, f"{o.code} · {o.name_en}") for o in offices)]


def _actor() -> staff_accounts.Actor:
    return staff_accounts.Actor(g.principal, client_ip(), now())


def _text_arg(name: str, size: int = 64) -> str:
    return request.args.get(name, "").strip()[:size]


@bp.route("/admin/staff", methods=["GET"])
@admin_page
def staff_list() -> Any:
    session = db_session()
    q, role_text, office_code, state = _text_arg("q"), _text_arg("role"), _text_arg("office", 16), _text_arg("state")
    role = StaffRole(role_text) if role_text in StaffRole._value2member_map_ else None
    try:
        office_id = staff_accounts.office_by_code(session, office_code or None)
    except DomainError:
        office_id, office_code = None, ""
    active = {"active": True, "disabled": False}.get(state)
    items = staff_accounts.list_staff(
        session, q or None, role, office_id, active, decode_cursor(request.args.get("cursor")), PAGE_SIZE + 1
    )
    result = page(items, PAGE_SIZE)
    return render_template(
        "console/staff_list.html",
        accounts=result["items"],
        next_cursor=result["next_cursor"],
        codes=staff_accounts.office_codes(session, {s.office_id for s in result["items"]}),
        offices=list_offices(session),
        q=q,
        role=role.value if role else "",
        office=office_code,
        state=state if active is not None else "",
        query={k: v for k, v in request.args.items() if k != "cursor"},
        role_labels=ROLE_LABELS,
    )


@bp.route("/admin/staff/new", methods=["GET", "POST"])
@admin_page
def staff_new() -> Any:
    form = StaffCreateForm()
    form.office_code.choices = _office_choices()
    if request.method == "POST":
        if form.validate():
            session = db_session()
            try:
                office_id = staff_accounts.office_by_code(session, form.office_code.data or None)
                staff, temporary = staff_accounts.create_account(
                    session,
                    settings(),
                    _actor(),
                    form.username.data or "",
                    StaffRole(form.role.data),
                    form.display_name.data or "",
                    office_id,
                )
            except DomainError as exc:
                show_refusal(form, exc, not_found_page=False)
            else:
                commit()
                return _with_password(staff, temporary or "", _("The account is created."))
        return render_template("console/staff_new.html", form=form), 422
    return render_template("console/staff_new.html", form=form)


def _with_password(staff: StaffUser, temporary: str, done: str) -> Any:
    """The page that shows a temporary password, once (never stored readable, never in a URL or a flash)."""
    return render_template("console/staff_password.html", staff=staff, temporary=temporary, done=done)


def _detail(staff_id: int, form: StaffEditForm | None = None) -> dict[str, Any]:
    session = db_session()
    staff = staff_accounts.staff_account(session, staff_id)
    codes = staff_accounts.office_codes(session, {staff.office_id})
    if form is None:
        form = StaffEditForm(formdata=None)
        form.display_name.data, form.role.data = staff.display_name, staff.role.value
        form.office_code.data = codes.get(staff.office_id or 0, "")
    form.office_code.choices = _office_choices()
    events = search_audit(session, AuditFilter(object_type="staff_user", object_id=staff.id), None, 20)
    return {
        "staff": staff,
        "office_code": codes.get(staff.office_id or 0),
        "form": form,
        "action_form": ActionForm(formdata=None),
        "requirement_form": SecondFactorRequirementForm(formdata=None),
        "events": events,
        "names": audit_names(session, events),
        "role_labels": ROLE_LABELS,
        "is_me": staff.id == g.principal.id,
    }


@bp.route("/admin/staff/<int:staff_id>", methods=["GET"])
@admin_page
def staff_detail(staff_id: int) -> Any:
    return render_template("console/staff_detail.html", **_detail(staff_id))


@bp.route("/admin/staff/<int:staff_id>/edit", methods=["POST"])
@admin_page
def staff_edit(staff_id: int) -> Any:
    form = StaffEditForm()
    form.office_code.choices = _office_choices()
    if form.validate():
        session = db_session()
        try:
            office_id = staff_accounts.office_by_code(session, form.office_code.data or None)
            staff_accounts.update_account(
                session, _actor(), staff_id, StaffRole(form.role.data), office_id, form.display_name.data or ""
            )
        except DomainError as exc:
            show_refusal(form, exc)
        else:
            commit()
            flash(_("The account is saved."))
            return redirect(url_for("console.staff_detail", staff_id=staff_id))
    g.here = url_for("console.staff_detail", staff_id=staff_id)
    return render_template("console/staff_detail.html", **_detail(staff_id, form)), 422


def _act(staff_id: int, operation: Callable[..., Any], done: str) -> Any:
    try:
        operation(db_session(), _actor(), staff_id)
    except DomainError as exc:
        if exc.status == 404:
            raise
        db_session().rollback()
        flash(refusal(exc))
        return redirect(url_for("console.staff_detail", staff_id=staff_id))
    commit()
    flash(done)
    return redirect(url_for("console.staff_detail", staff_id=staff_id))


@bp.route("/admin/staff/<int:staff_id>/disable", methods=["POST"])
@admin_page
def staff_disable(staff_id: int) -> Any:
    return _act(staff_id, staff_accounts.disable_account, _("The account is disabled and signed out everywhere."))


@bp.route("/admin/staff/<int:staff_id>/enable", methods=["POST"])
@admin_page
def staff_enable(staff_id: int) -> Any:
    return _act(staff_id, staff_accounts.enable_account, _("The account is enabled again."))


@bp.route("/admin/staff/<int:staff_id>/unlock", methods=["POST"])
@admin_page
def staff_unlock(staff_id: int) -> Any:
    return _act(staff_id, staff_accounts.unlock_account, _("The failed sign-ins are cleared."))


@bp.route("/admin/staff/<int:staff_id>/remove-second-factor", methods=["POST"])
@admin_page
def staff_remove_second_factor(staff_id: int) -> Any:
    return _act(staff_id, staff_accounts.remove_second_factor, _("The second factor is removed."))


@bp.route("/admin/staff/<int:staff_id>/second-factor-requirement", methods=["POST"])
@admin_page
def staff_second_factor_requirement(staff_id: int) -> Any:
    form = SecondFactorRequirementForm()
    staff_accounts.require_second_factor(db_session(), _actor(), staff_id, bool(form.required.data))
    commit()
    flash(_("A second factor is now required.") if form.required.data else _("A second factor is no longer required."))
    return redirect(url_for("console.staff_detail", staff_id=staff_id))


@bp.route("/admin/staff/<int:staff_id>/reset-password", methods=["POST"])
@admin_page
def staff_reset_password(staff_id: int) -> Any:
    staff, temporary = staff_accounts.reset_password(db_session(), settings(), _actor(), staff_id)
    commit()
    return _with_password(staff, temporary, _("The password is reset and the account is signed out everywhere."))
