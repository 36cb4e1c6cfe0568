"""Due times count only open office hours: closed evenings, weekends and holidays are skipped."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from lsso_mobile.services.working_time import DEFAULT_HOURS, VIENTIANE, OfficeCalendar, add_working_time

WEEK = OfficeCalendar(hours=DEFAULT_HOURS)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=VIENTIANE)


def test_within_one_working_day():
    assert add_working_time(local(2026, 11, 23, 9, 0), timedelta(hours=3), WEEK) == local(2026, 11, 23, 12, 0)


def test_runs_over_into_the_next_morning():
    # Monday 14:00 + 8h: 2h on Monday, 6h on Tuesday from 08:00
    assert add_working_time(local(2026, 11, 23, 14, 0), timedelta(hours=8), WEEK) == local(2026, 11, 24, 14, 0)


def test_a_message_at_night_starts_counting_at_opening():
    assert add_working_time(local(2026, 11, 23, 22, 30), timedelta(hours=1), WEEK) == local(2026, 11, 24, 9, 0)
    assert add_working_time(local(2026, 11, 24, 6, 0), timedelta(hours=8), WEEK) == local(2026, 11, 24, 16, 0)


def test_skips_the_weekend():
    # Friday 15:00 + 8h: 1h on Friday, nothing Saturday/Sunday, 7h on Monday
    assert add_working_time(local(2026, 11, 27, 15, 0), timedelta(hours=8), WEEK) == local(2026, 11, 30, 15, 0)
    # written on Saturday: Monday 16:00
    assert add_working_time(local(2026, 11, 28, 10, 0), timedelta(hours=8), WEEK) == local(2026, 11, 30, 16, 0)


def test_skips_a_weekend_and_a_holiday():
    calendar = OfficeCalendar(hours=DEFAULT_HOURS, holidays={date(2026, 11, 30)})
    assert add_working_time(local(2026, 11, 27, 15, 0), timedelta(hours=8), calendar) == local(2026, 12, 1, 15, 0)


def test_answers_in_the_zone_it_was_given_and_counts_in_vientiane():
    start = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 08:00 in Vientiane (UTC+7)
    due = add_working_time(start, timedelta(hours=8), WEEK)
    assert due == datetime(2026, 11, 23, 9, 0, tzinfo=UTC) and due.tzinfo is UTC


def test_office_hours_of_its_own():
    saturday_mornings = OfficeCalendar(hours={**DEFAULT_HOURS, 5: (time(8, 0), time(12, 0))})
    assert add_working_time(local(2026, 11, 27, 15, 0), timedelta(hours=8), saturday_mornings) == local(
        2026, 11, 30, 11, 0
    )


def test_never_open_gives_none_and_naive_times_are_refused():
    assert add_working_time(local(2026, 11, 23, 9, 0), timedelta(hours=1), OfficeCalendar(hours={})) is None
    with pytest.raises(ValueError):
        add_working_time(datetime(2026, 11, 23, 9, 0), timedelta(hours=1), WEEK)
