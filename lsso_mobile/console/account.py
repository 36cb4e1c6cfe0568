"""The signed-in staff user's own account: change the password, set up the TOTP second factor.

A sign-in whose password was reset by an admin, or that must have a second factor and has none, is sent here
from every other console page until that is done (the API refuses it the same way)."""

from __future__ import annotations

from typing import Any

import segno
from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from lsso_mobile.api.access import client_ip, now
from lsso_mobile.api.context import commit, db_session, settings
from lsso_mobile.console.admin_forms import ROLE_LABELS, PasswordChangeForm, TotpConfirmForm
from lsso_mobile.console.auth import signed_in_principal, staff_page
from lsso_mobile.console.forms import ActionForm
from lsso_mobile.console.views import _field_errors, bp, show_refusal
from lsso_mobile.errors import DomainError
from lsso_mobile.services import staff_accounts
from lsso_mobile.services.accounts import RESTRICT_PASSWORD, RESTRICT_SECOND_FACTOR

# What a restricted sign-in may still open: these pages, signing in and out, the language switch, static files.
OPEN_WHEN_RESTRICTED = {
    "console.login",
    "console.logout",
    "console.language",
    "console.static",
    "console.account",
    "console.account_password",
    "console.account_second_factor",
    "console.account_second_factor_confirm",
}


@bp.before_request
def _send_restricted_sign_ins_to_their_account() -> Any:
    if request.endpoint in OPEN_WHEN_RESTRICTED:
        return None
    principal = signed_in_principal()
    if principal is None or principal.restriction is None:
        return None
    if request.headers.get("HX-Request"):
        return "", 403, {"HX-Redirect": url_for("console.account")}
    return redirect(url_for("console.account"))


def qr_svg(uri: str) -> Markup:
    """The otpauth URI as an inline SVG QR code (no image request, no script: the CSP stays strict)."""
    svg = segno.make(uri, error="m", micro=False).svg_inline(scale=4, dark="#1d2530", light="#ffffff")
    return Markup(svg)  # noqa: S704  (segno's own markup: the URI is encoded as modules, never as text)


def _actor() -> staff_accounts.Actor:
    return staff_accounts.Actor(g.principal, client_ip(), now())


def _page(password_form: PasswordChangeForm | None = None, confirm_form: TotpConfirmForm | None = None) -> Any:
    staff = staff_accounts.staff_account(db_session(), g.principal.id)
    enrolment = staff_accounts.pending_enrolment(settings(), staff)
    return render_template(
        "console/account.html",
        staff=staff,
        role_label=ROLE_LABELS.get(staff.role.value, staff.role.value),
        restriction=g.principal.restriction,
        must_change=g.principal.restriction == RESTRICT_PASSWORD,
        must_enrol=g.principal.restriction == RESTRICT_SECOND_FACTOR,
        password_form=password_form or PasswordChangeForm(formdata=None),
        confirm_form=confirm_form or TotpConfirmForm(formdata=None),
        action_form=ActionForm(formdata=None),
        enrolment=enrolment,
        qr=qr_svg(enrolment.uri) if enrolment else None,
    )


@bp.route("/account", methods=["GET"])
@staff_page
def account() -> Any:
    return _page()


@bp.route("/account/password", methods=["POST"])
@staff_page
def account_password() -> Any:
    form = PasswordChangeForm()
    if form.validate():
        try:
            staff_accounts.change_own_password(
                db_session(), settings(), _actor(), form.current_password.data or "", form.new_password.data or ""
            )
        except DomainError as exc:
            if exc.keep_changes:
                commit()  # a wrong current password counts like a failed sign-in
            else:
                db_session().rollback()
            _field_errors(form, exc)
        else:
            commit()
            flash(_("Your password is changed."))
            return redirect(url_for("console.home"))
    g.here = url_for("console.account")
    return _page(password_form=form), 422


@bp.route("/account/second-factor", methods=["POST"])
@staff_page
def account_second_factor() -> Any:
    staff_accounts.begin_totp_enrolment(db_session(), settings(), _actor())
    commit()
    return redirect(url_for("console.account") + "#second-factor")


@bp.route("/account/second-factor/confirm", methods=["POST"])
@staff_page
def account_second_factor_confirm() -> Any:
    form = TotpConfirmForm()
    if form.validate():
        try:
            staff_accounts.confirm_totp_enrolment(db_session(), settings(), _actor(), form.code.data or "")
        except DomainError as exc:
            if exc.status == 409:
                raise
            show_refusal(form, exc, not_found_page=False)
        else:
            commit()
            flash(_("The second factor is on: from now on, sign in with a code from the app."))
            return redirect(url_for("console.home"))
    g.here = url_for("console.account")
    return _page(confirm_form=form), 422
