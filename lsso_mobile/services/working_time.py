"""Working-time arithmetic: "N working hours after this moment", skipping closed days and holidays.

Pure functions over plain values (no database), so the rules are easy to test. Office hours are
local wall-clock times in one zone (Asia/Vientiane for every LSSO office); Laos has no daylight
saving time, but the arithmetic goes through the zone anyway, so it stays right if that changes.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

VIENTIANE = ZoneInfo("Asia/Vientiane")
# A week with no open hours at all would loop forever; a year is far beyond any real due time.
MAX_DAYS_AHEAD = 366


@dataclass(frozen=True)
class OfficeCalendar:
    """Opening hours per weekday (0 = Monday; absent = closed) and closed dates."""

    hours: Mapping[int, tuple[time, time]]
    holidays: Collection[date] = frozenset()
    zone: ZoneInfo = VIENTIANE

    def open_interval(self, day: date) -> tuple[datetime, datetime] | None:
        if day in self.holidays or day.weekday() not in self.hours:
            return None
        opens, closes = self.hours[day.weekday()]
        if closes <= opens:
            return None
        return datetime.combine(day, opens, tzinfo=self.zone), datetime.combine(day, closes, tzinfo=self.zone)


DEFAULT_HOURS: dict[int, tuple[time, time]] = {weekday: (time(8, 0), time(16, 0)) for weekday in range(5)}


def add_working_time(start: datetime, amount: timedelta, calendar: OfficeCalendar) -> datetime | None:
    """The moment ``amount`` of open office time has passed after ``start`` (aware; returned in start's zone).

    Time before opening, after closing, on closed weekdays and on holidays does not count. A message
    that arrives while the office is closed starts counting when it next opens. None if the office
    has no open time within a year.
    """
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    remaining = amount
    local = start.astimezone(calendar.zone)
    day = local.date()
    for _ in range(MAX_DAYS_AHEAD):
        interval = calendar.open_interval(day)
        if interval is not None:
            opens, closes = interval
            begin = max(opens, local)
            if begin < closes:
                available = closes - begin
                if remaining <= available:
                    return (begin + remaining).astimezone(start.tzinfo)
                remaining -= available
        day += timedelta(days=1)
    return None
