"""Office calendars in the console (admins): the national week and each office's own week of working hours,
and the holidays (national and per office; lunar holidays are entered each year). Answer-due times of the
inbox are counted in this calendar. The same services as /api/v1/admin/working-hours and /holidays."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from lsso_mobile.api.access import client_ip
from lsso_mobile.api.context import commit, db_session
from lsso_mobile.console.auth import admin_page
from lsso_mobile.console.messages import translate
from lsso_mobile.console.views import bp
from lsso_mobile.errors import DomainError
from lsso_mobile.models import Office
from lsso_mobile.services import calendars
from lsso_mobile.services.reference import list_offices

WEEKDAYS = [_l("Monday"), _l("Tuesday"), _l("Wednesday"), _l("Thursday"), _l("Friday"), _l("Saturday"), _l("Sunday")]
KNOWN = [
    _l("Each weekday at most once."),
    _l("Closing time must be after opening time."),
    _l("The national default needs at least one open day."),
    _l("This day is already a holiday here."),
    _l("No such holiday."),
    _l("No office with this code."),
    _l("Enter a time like 08:00 for each open day."),
    _l("Enter the day and both names."),
]
VIENTIANE = ZoneInfo("Asia/Vientiane")
MAX_NAME = 200


def _office() -> Office | None:
    code = request.values.get("office", "").strip()[:16]
    return calendars.office_by_code(db_session(), code) if code else None


def _page(office: Office | None, errors: list[str] | None = None, status: int = 200) -> Any:
    session = db_session()
    office_id = office.id if office else None
    rows = {r.weekday: r for r in calendars.working_hours(session, office_id)}
    national = {r.weekday: r for r in calendars.working_hours(session, None)}
    year = datetime.now(VIENTIANE).year
    holidays = [
        h
        for h in calendars.list_holidays(session, year, None, 500)
        if h.office_id is None or (office_id is not None and h.office_id == office_id)
    ]
    page = render_template(
        "console/calendar.html",
        office=office,
        offices=list_offices(session),
        weekdays=WEEKDAYS,
        rows=rows,
        uses_national=office is not None and not rows,
        national=national,
        holidays=sorted(holidays, key=lambda h: h.day),
        year=year,
        errors=errors or [],
    )
    return page, status


def _here(office: Office | None) -> str:
    return url_for("console.calendar_page", office=office.code) if office else url_for("console.calendar_page")


@bp.route("/admin/calendar", methods=["GET"])
@admin_page
def calendar_page() -> Any:
    return _page(_office())


def _time(text: str) -> time | None:
    try:
        return time.fromisoformat(text.strip()[:8])
    except ValueError:
        return None


@bp.route("/admin/calendar/hours", methods=["POST"])
@admin_page
def calendar_hours() -> Any:
    office = _office()
    days: list[tuple[int, time, time]] = []
    if request.form.get("national") != "1":
        for weekday in range(7):
            if request.form.get(f"open_{weekday}") != "y":
                continue
            opens, closes = (
                _time(request.form.get(f"opens_{weekday}", "")),
                _time(request.form.get(f"closes_{weekday}", "")),
            )
            if opens is None or closes is None:
                g.here = _here(office)
                return _page(office, [_("Enter a time like 08:00 for each open day.")], 422)
            days.append((weekday, opens, closes))
    try:
        calendars.replace_working_hours(
            db_session(), office.id if office else None, days, actor=g.principal, address=client_ip()
        )
    except DomainError as exc:
        db_session().rollback()
        g.here = _here(office)
        return _page(office, [translate(exc)], 422)
    commit()
    flash(_("The working hours are saved."))
    return redirect(_here(office))


@bp.route("/admin/calendar/holidays", methods=["POST"])
@admin_page
def calendar_holiday_add() -> Any:
    office = _office()
    try:
        day = date.fromisoformat(request.form.get("day", "").strip())
    except ValueError:
        day = None
    name_lo, name_en = (request.form.get(k, "").strip()[:MAX_NAME] for k in ("name_lo", "name_en"))
    if day is None or not name_lo or not name_en:
        g.here = _here(office)
        return _page(office, [_("Enter the day and both names.")], 422)
    try:
        calendars.add_holiday(
            db_session(), office.id if office else None, day, name_lo, name_en, actor=g.principal, address=client_ip()
        )
    except DomainError as exc:
        db_session().rollback()
        g.here = _here(office)
        return _page(office, [translate(exc)], exc.status if exc.status != 409 else 422)
    commit()
    flash(_("The holiday is added."))
    return redirect(_here(office))


@bp.route("/admin/calendar/holidays/<int:holiday_id>/delete", methods=["POST"])
@admin_page
def calendar_holiday_delete(holiday_id: int) -> Any:
    office = _office()
    calendars.delete_holiday(db_session(), holiday_id, actor=g.principal, address=client_ip())
    commit()
    flash(_("The holiday is removed."))
    return redirect(_here(office))
