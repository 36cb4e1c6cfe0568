"""Offices and areas from CSV in the console (admins), with a dry run first.

The admin uploads a file: the preview (services.area_import.plan_area_import, the same one the CLI uses) shows
what would be created, changed or left alone and every bad row with its line number, and writes nothing. To
apply, the same file is sent again with the fingerprint of the plan that was shown: the import refuses unless it
finds that very plan again (same bytes, same areas in the database), and then writes it in one transaction,
audited (``areas.import``)."""

from __future__ import annotations

from typing import Any

from flask import Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from lsso_mobile import i18n
from lsso_mobile.api.access import client_ip
from lsso_mobile.api.context import commit, db_session
from lsso_mobile.console.admin_forms import AreaFileForm
from lsso_mobile.console.auth import admin_page
from lsso_mobile.console.messages import translate
from lsso_mobile.console.views import bp
from lsso_mobile.errors import DomainError, PayloadTooLarge
from lsso_mobile.models import District, Office, Village
from lsso_mobile.services import area_import
from lsso_mobile.services.reference import SAMPLE_AREAS_CSV

SHOWN_CHANGES = 300  # the preview lists at most this many creations and changes (all are counted)
SHOWN_PROBLEMS = 300
UPLOAD_OVERHEAD = 64 * 1024  # the multipart envelope and the form's other fields
TOO_LARGE = "The file is larger than {max_mb} MB; split it."
KNOWN = [
    _l("The file is empty."),
    _l("The file is larger than {max_mb} MB; split it."),
    _l("The file is not UTF-8 text; save it as CSV UTF-8."),
    _l("The file lacks the columns {columns}."),
    _l("The file has more than {max} rows; split it."),
    _l("Line {line} cannot be read as CSV: {reason}."),
    _l("The file has no rows."),
    _l("Nothing was imported: {count} rows are bad (the first on line {line})."),
    _l("This is not what was previewed: the file or the areas have changed since. Preview it again."),
    _l("This is not the file you previewed: choose the same file again, or preview this one."),
    # the reasons of bad rows
    _l("The row has more cells than the header."),
    _l("The kind must be district or village, not {kind}."),
    _l("The code, parent code, Lao name and English name are all required."),
    _l("A name is longer than {max} characters."),
    _l("has_office must be yes or no, not {value}."),
    _l("District {code} does not fit province {parent}: 4 digits starting with the province's code."),
    _l("Village {code} does not fit district {parent}: 8 digits starting with the district's code."),
    _l("Only a district can have an office."),
    _l("{code} is already on line {first}."),
    _l("Office code {code} is already used by another office."),
    _l("Village {code} names unknown district {parent}."),
]
KIND_LABELS = {"district": _l("Districts"), "village": _l("Villages"), "office": _l("District offices")}


def _totals() -> dict[str, int]:
    session = db_session()
    return {
        "district": session.scalar(select(func.count()).select_from(District)) or 0,
        "village": session.scalar(select(func.count()).select_from(Village)) or 0,
        "office": session.scalar(select(func.count()).select_from(Office).where(Office.district_code.is_not(None)))
        or 0,
    }


def _page(
    form: AreaFileForm,
    plan: area_import.AreaImportPlan | None = None,
    filename: str = "",
    errors: list[str] | None = None,
    status: int = 200,
) -> Any:
    if plan is not None:
        form.digest.data, form.fingerprint.data = plan.digest, plan.fingerprint
    problems = [(p.line, i18n.fill(_(p.message), p.params)) for p in plan.problems[:SHOWN_PROBLEMS]] if plan else []
    changes = [c for c in plan.changes if c.action != "same"][:SHOWN_CHANGES] if plan else []
    g.here = url_for("console.areas_page")
    return (
        render_template(
            "console/areas.html",
            form=form,
            plan=plan,
            filename=filename,
            problems=problems,
            changes=changes,
            errors=errors or [],
            totals=_totals(),
            kind_labels=KIND_LABELS,
            max_rows=area_import.MAX_ROWS,
            max_mb=area_import.MAX_FILE_BYTES // (1024 * 1024),
            shown_changes=SHOWN_CHANGES,
        ),
        status,
    )


@bp.before_app_request
def _larger_uploads() -> Any:
    # Runs before the console reads the form (for its CSRF token): an areas file may exceed LSSO_MAX_BODY_BYTES.
    # A body over the limit is never read: back to the page, which says why (a rendered page would read the form).
    if request.endpoint in ("console.areas_preview", "console.areas_apply"):
        limit = area_import.MAX_FILE_BYTES + UPLOAD_OVERHEAD
        if request.content_length is not None and request.content_length > limit:
            flash(
                translate(
                    PayloadTooLarge(
                        TOO_LARGE, error="area_file_too_large", params={"max_mb": area_import.MAX_FILE_BYTES // 1024**2}
                    )
                )
            )
            return redirect(url_for("console.areas_page"))
        request.max_content_length = limit
    return None


def _upload(form: AreaFileForm) -> tuple[bytes, str] | None:
    if not form.validate():
        return None
    upload = form.file.data
    data = upload.read(area_import.MAX_FILE_BYTES + 1)
    return data, (upload.filename or "")[-120:]


@bp.route("/admin/areas", methods=["GET"])
@admin_page
def areas_page() -> Any:
    return _page(AreaFileForm(formdata=None))


@bp.route("/admin/areas/template.csv", methods=["GET"])
@admin_page
def areas_template() -> Any:
    response = Response(SAMPLE_AREAS_CSV.read_bytes(), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="areas-example.csv"'
    return response


@bp.route("/admin/areas/preview", methods=["POST"])
@admin_page
def areas_preview() -> Any:
    form = AreaFileForm()
    upload = _upload(form)
    if upload is None:
        return _page(form, status=422)
    data, filename = upload
    try:
        plan = area_import.plan_area_import(db_session(), data)
    except DomainError as exc:
        return _page(form, filename=filename, errors=[translate(exc)], status=exc.status)
    finally:
        db_session().rollback()  # a dry run: nothing of it is kept
    return _page(form, plan, filename)


@bp.route("/admin/areas/apply", methods=["POST"])
@admin_page
def areas_apply() -> Any:
    form = AreaFileForm()
    upload = _upload(form)
    if upload is None or not form.fingerprint.data:
        return _page(form, status=422)
    data, filename = upload
    session = db_session()
    try:
        if area_import.file_digest(data) != form.digest.data:
            return _page(
                form,
                filename=filename,
                errors=[_("This is not the file you previewed: choose the same file again, or preview this one.")],
                status=409,
            )
        plan = area_import.apply_area_import(
            session,
            data,
            expected_fingerprint=form.fingerprint.data,
            actor=g.principal,
            address=client_ip(),
            source="console",
        )
    except DomainError as exc:
        session.rollback()
        return _page(form, filename=filename, errors=[translate(exc)], status=exc.status)
    commit()
    counts = plan.counts
    flash(
        _(
            "Imported: %(districts)s districts and %(villages)s villages created or changed, %(offices)s district"
            " offices opened.",
            districts=counts["district"]["create"] + counts["district"]["update"],
            villages=counts["village"]["create"] + counts["village"]["update"],
            offices=counts["office"]["create"],
        )
    )
    return redirect(url_for("console.areas_page"))
