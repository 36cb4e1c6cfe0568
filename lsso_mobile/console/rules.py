"""Scheme and eligibility rules in the console (admins): the current values, a form for each rule (the
service checks the bounds and the rules between values, as for the API) and the history of who changed what."""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import gettext as _

from lsso_mobile.api.access import client_ip, now
from lsso_mobile.api.context import commit, db_session
from lsso_mobile.api.schemas import decode_cursor, page
from lsso_mobile.console.admin_forms import EligibilityRuleForm, SchemeRuleForm
from lsso_mobile.console.auth import admin_page
from lsso_mobile.console.views import PAGE_SIZE, _field_errors, bp
from lsso_mobile.errors import InvalidInput
from lsso_mobile.models import BenefitType, Scheme
from lsso_mobile.services import rules
from lsso_mobile.services.contributions import forget_cached_rules
from lsso_mobile.services.staff import staff_names


@bp.route("/admin/rules", methods=["GET"])
@admin_page
def rules_page() -> Any:
    session = db_session()
    changes = rules.rule_history(session, None, None, None, decode_cursor(request.args.get("cursor")), PAGE_SIZE + 1)
    result = page(changes, PAGE_SIZE)
    return render_template(
        "console/rules.html",
        scheme_rules=rules.list_scheme_rules(session),
        eligibility_rules=rules.list_eligibility_rules(session),
        changes=result["items"],
        authors=staff_names(session, {c.actor_staff_id for c in result["items"]}),
        next_cursor=result["next_cursor"],
        schemes=list(Scheme),
        benefits=list(BenefitType),
    )


def _save(form: Any, fields: tuple[str, ...], write: Any, template: str, context: dict[str, Any]) -> Any:
    if form.validate():
        values = {name: getattr(form, name).data for name in fields}
        try:
            write(values)
        except InvalidInput as exc:
            db_session().rollback()
            for name, messages in (exc.errors or {}).items():
                field = getattr(form, name, None)
                if field is not None:  # the service's own sentence for each field it refuses
                    field.errors = [*field.errors, *(gettext(m) for m in messages)]
            if not exc.errors:
                _field_errors(form, exc)
        else:
            commit()
            forget_cached_rules()
            flash(_("The rule is saved. Every server uses it within a minute."))
            return redirect(url_for("console.rules_page"))
    g.here = request.path
    return render_template(template, form=form, **context), 422


@bp.route("/admin/rules/scheme/<string(maxlength=32):scheme>", methods=["GET", "POST"])
@admin_page
def scheme_rule_edit(scheme: str) -> Any:
    rule = rules.scheme_rule(db_session(), scheme)
    context = {"scheme": scheme}
    if request.method == "GET":
        return render_template("console/rule_scheme.html", form=SchemeRuleForm(obj=rule), **context)

    def write(values: dict[str, Any]) -> None:
        rules.put_scheme_rule(db_session(), scheme, values, now(), actor=g.principal, address=client_ip())

    return _save(SchemeRuleForm(), rules.SCHEME_FIELDS, write, "console/rule_scheme.html", context)


@bp.route(
    "/admin/rules/eligibility/<string(maxlength=32):scheme>/<string(maxlength=32):benefit_type>",
    methods=["GET", "POST"],
)
@admin_page
def eligibility_rule_edit(scheme: str, benefit_type: str) -> Any:
    rule = rules.eligibility_rule(db_session(), scheme, benefit_type)
    context = {"scheme": scheme, "benefit_type": benefit_type}
    if request.method == "GET":
        return render_template("console/rule_eligibility.html", form=EligibilityRuleForm(obj=rule), **context)

    def write(values: dict[str, Any]) -> None:
        rules.put_eligibility_rule(
            db_session(), scheme, benefit_type, values, now(), actor=g.principal, address=client_ip()
        )

    return _save(EligibilityRuleForm(), rules.ELIGIBILITY_FIELDS, write, "console/rule_eligibility.html", context)
