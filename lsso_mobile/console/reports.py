"""Report pages for ops and admin staff: a chart (server-side SVG), a table and a CSV download of the same
rows, over a range of days. The queries are in ``services.reports``; a page only lays out their rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import Response, abort, render_template, request
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from lsso_mobile.api.access import now
from lsso_mobile.api.context import db_session
from lsso_mobile.console.auth import role_page
from lsso_mobile.console.charts import Series, stacked_bars
from lsso_mobile.console.messages import translate as translate_error
from lsso_mobile.console.views import bp
from lsso_mobile.errors import InvalidInput
from lsso_mobile.services import reference
from lsso_mobile.services import reports as report_service
from lsso_mobile.services.spreadsheet import spreadsheet_csv

KNOWN = [
    _l("The first day must not be after the last day."),
    _l("A report covers at most {days} days."),
]


@dataclass(frozen=True)
class Column:
    key: str  # the CSV header
    label: Any  # the table header, in the reader's language


@dataclass(frozen=True)
class Table:
    columns: list[Column]
    rows: list[list[Any]]
    chart: Markup | None


def _share(value: float | None) -> str:
    return f"{value * 100:.0f}%" if value is not None else "–"


def _minutes(value: float | None) -> str:
    if value is None:
        return "–"
    hours, minutes = divmod(round(value), 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _office(code: str, name_lo: str) -> str:
    return f"{code} {name_lo}"


def _registrations(period: report_service.DateRange, moment: datetime) -> Table:
    rows = report_service.registrations_by_week(db_session(), period)
    provinces = {p.code: p for p in reference.list_provinces(db_session())}
    weeks = period.weeks()
    present = sorted({r.province_code for r in rows})
    by = {(r.week, r.province_code): r.submitted for r in rows}
    series = [
        Series(
            f"{code} {provinces[code].name_en if code in provinces else ''}",
            [by.get((w, code), 0) for w in weeks],
            f"s{i % 10}",
        )
        for i, code in enumerate(present)
    ]
    chart = stacked_bars([w.strftime("%d/%m") for w in weeks], series, _("Applications per week, by province"))
    return Table(
        [
            Column("week", _l("Week from")),
            Column("province_code", _l("Province")),
            Column("province", _l("Name")),
            Column("submitted", _l("Applications")),
            Column("approved", _l("Approved since")),
        ],
        [
            [
                r.week.isoformat(),
                r.province_code,
                provinces[r.province_code].name_lo if r.province_code in provinces else "",
                r.submitted,
                r.approved,
            ]
            for r in rows
        ],
        chart,
    )


def _first_responses(period: report_service.DateRange, moment: datetime) -> Table:
    rows = report_service.first_responses_by_office(db_session(), period, moment)
    codes = [r.office_code for r in rows]
    chart = stacked_bars(
        codes,
        [
            Series(str(_l("In time")), [r.in_time for r in rows], "sent"),
            Series(str(_l("Late")), [r.late for r in rows], "waiting"),
            Series(str(_l("Overdue, no answer yet")), [r.overdue for r in rows], "failed"),
            Series(str(_l("Not yet due")), [r.waiting for r in rows], "muted"),
        ],
        _("Conversations by office: first answer in time or not"),
    )
    return Table(
        [
            Column("office_code", _l("Office")),
            Column("office", _l("Name")),
            Column("conversations", _l("Conversations")),
            Column("in_time", _l("In time")),
            Column("late", _l("Late")),
            Column("overdue", _l("Overdue, no answer yet")),
            Column("not_yet_due", _l("Not yet due")),
            Column("in_time_share", _l("Share in time")),
        ],
        [
            [
                r.office_code,
                r.office_name_lo,
                r.conversations,
                r.in_time,
                r.late,
                r.overdue,
                r.waiting,
                _share(r.in_time_share),
            ]
            for r in rows
        ],
        chart,
    )


def _median_first_response(period: report_service.DateRange, moment: datetime) -> Table:
    rows = [r for r in report_service.first_responses_by_office(db_session(), period, moment)]
    answered = [r for r in rows if r.median_minutes is not None]
    chart = stacked_bars(
        [r.office_code for r in answered],
        [Series(str(_l("Median minutes to the first answer")), [round(r.median_minutes or 0) for r in answered], "s0")],
        _("Median time to the first answer, by office (minutes)"),
    )
    return Table(
        [
            Column("office_code", _l("Office")),
            Column("office", _l("Name")),
            Column("answered", _l("Answered")),
            Column("median_minutes", _l("Median minutes")),
            Column("median", _l("Median time")),
        ],
        [
            [
                r.office_code,
                r.office_name_lo,
                r.in_time + r.late,
                None if r.median_minutes is None else round(r.median_minutes, 1),
                _minutes(r.median_minutes),
            ]
            for r in rows
        ],
        chart,
    )


def _overdue(period: report_service.DateRange, moment: datetime) -> Table:
    rows = report_service.overdue_by_office(db_session(), period, moment)
    chart = stacked_bars(
        [r.office_code for r in rows],
        [Series(str(_l("Overdue")), [r.overdue for r in rows], "failed")],
        _("Conversations waiting past their due time, by office"),
    )
    return Table(
        [
            Column("office_code", _l("Office")),
            Column("office", _l("Name")),
            Column("overdue", _l("Overdue")),
            Column("oldest_due_at", _l("Due since")),
        ],
        [
            [
                r.office_code,
                r.office_name_lo,
                r.overdue,
                format_datetime(r.oldest_due_at, "short") if r.oldest_due_at else "",
            ]
            for r in rows
        ],
        chart,
    )


PUSH_LABELS = {
    "sent": _l("Sent"),
    "failed": _l("Failed"),
    "unregistered": _l("Dead tokens"),
    "retry": _l("Retrying"),
    "sending": _l("In flight"),
}


def _pushes(period: report_service.DateRange, moment: datetime) -> Table:
    rows = report_service.push_outcomes_by_day(db_session(), period)
    css = {"sent": "sent", "failed": "failed", "unregistered": "unregistered", "retry": "waiting", "sending": "muted"}
    chart = stacked_bars(
        [r.day.strftime("%d/%m") for r in rows],
        [Series(str(PUSH_LABELS[o]), [r.counts[o] for r in rows], css[o]) for o in report_service.PUSH_OUTCOMES],
        _("Pushes per day by outcome"),
    )
    return Table(
        [Column("day", _l("Day"))] + [Column(o, PUSH_LABELS[o]) for o in report_service.PUSH_OUTCOMES],
        [[r.day.isoformat()] + [r.counts[o] for o in report_service.PUSH_OUTCOMES] for r in rows],
        chart,
    )


def _reach(period: report_service.DateRange, moment: datetime) -> Table:
    rows = list(reversed(report_service.broadcast_reach(db_session(), period)))  # oldest first, as time goes
    outcomes = ("sent", "failed", "unregistered", "muted", "waiting", "dropped")
    labels = {
        "sent": _l("Sent"),
        "failed": _l("Failed"),
        "unregistered": _l("Dead tokens"),
        "muted": _l("Muted"),
        "waiting": _l("Deferred"),
        "dropped": _l("Dropped"),
    }
    chart = stacked_bars(
        [f"#{r.id}" for r in rows],
        [Series(str(labels[o]), [r.outcomes[o] for r in rows], o) for o in outcomes],
        _("Devices reached by each broadcast"),
    )
    return Table(
        [
            Column("broadcast_id", "#"),
            Column("title", _l("Title")),
            Column("published_at", _l("Went out")),
            Column("audience_members", _l("Members")),
            Column("audience_devices", _l("Devices")),
        ]
        + [Column(o, labels[o]) for o in outcomes]
        + [Column("reach", _l("Reach")), Column("read_by", _l("Opened in the app"))],
        [
            [r.id, r.title_lo, r.published_at.isoformat(timespec="minutes"), r.audience_members, r.audience_devices]
            + [r.outcomes[o] for o in outcomes]
            + [_share(r.reach), r.read_by]
            for r in reversed(rows)
        ],
        chart,
    )


@dataclass(frozen=True)
class Report:
    title: Any
    description: Any
    build: Callable[[report_service.DateRange, datetime], Table]


REPORTS: dict[str, Report] = {
    "registrations": Report(
        _l("Registrations per province per week"),
        _l("Applications to register, by the week they were sent and the province; how many are approved since."),
        _registrations,
    ),
    "first-responses": Report(
        _l("First answers in time, per office"),
        _l("Conversations started in the range: answered within the first-response target or not."),
        _first_responses,
    ),
    "response-times": Report(
        _l("Median time to the first answer"),
        _l("From the member's first message to the office's first answer (clock time), per office."),
        _median_first_response,
    ),
    "overdue": Report(
        _l("Overdue answers"),
        _l("Open conversations whose answer fell due in the range and has not come yet."),
        _overdue,
    ),
    "pushes": Report(
        _l("Push delivery outcomes over time"),
        _l("Pushes of personal notices by day and outcome, with broadcasts on the day they went out."),
        _pushes,
    ),
    "broadcast-reach": Report(
        _l("Broadcast reach"),
        _l("Each broadcast that went out in the range: its audience, what became of its pushes, who opened it."),
        _reach,
    ),
}


def _period() -> tuple[report_service.DateRange | None, str | None, dict[str, str]]:
    asked = {k: request.args.get(k, "") for k in ("first", "last")}
    try:
        first = date.fromisoformat(asked["first"]) if asked["first"] else None
        last = date.fromisoformat(asked["last"]) if asked["last"] else None
    except ValueError:
        return None, _("Give the days as dates."), asked
    try:
        period = report_service.date_range(first, last, now())
    except InvalidInput as exc:
        return None, translate_error(exc).format(**exc.params), asked
    return period, None, {"first": period.first.isoformat(), "last": period.last.isoformat()}


@bp.route("/reports", methods=["GET"])
@role_page("ops", "admin")
def reports_index() -> Any:
    period, error, asked = _period()
    return render_template("console/reports.html", reports=REPORTS, asked=asked, error=error)


@bp.route("/reports/<name>", methods=["GET"])
@role_page("ops", "admin")
def report(name: str) -> Any:
    chosen = REPORTS.get(name) or abort(404)
    period, error, asked = _period()
    table = chosen.build(period, now()) if period is not None else None
    return render_template(
        "console/report.html", name=name, report=chosen, reports=REPORTS, table=table, asked=asked, error=error
    ), (200 if error is None else 422)


@bp.route("/reports/<name>/export.csv", methods=["GET"])
@role_page("ops", "admin")
def report_csv(name: str) -> Any:
    chosen = REPORTS.get(name) or abort(404)
    period, error, asked = _period()
    if period is None:
        return Response(error or "", status=422, mimetype="text/plain")
    table = chosen.build(period, now())
    filename = f"lsso-{name}-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    return Response(
        spreadsheet_csv([c.key for c in table.columns], table.rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
