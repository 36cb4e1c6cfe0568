"""keyset_page walks a list in pages of any size, both ways, with no row missed or shown twice."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from lsso_mobile.models import Holiday, Office
from lsso_mobile.services.calendars import add_holiday, list_holidays
from lsso_mobile.services.paging import keyset_page


def _walk(db, limit: int, newest_first: bool) -> list[int]:
    seen: list[int] = []
    after = None
    while True:
        rows = list(db.scalars(keyset_page(select(Holiday), Holiday.id, after, limit + 1, newest_first=newest_first)))
        seen += [row.id for row in rows[:limit]]
        if len(rows) <= limit:
            return seen
        after = rows[limit - 1].id


def test_pages_cover_the_list_once_in_order_both_ways(app, db):
    ids = [add_holiday(db, None, date(2027, 1, day), f"ວັນ {day}", f"Day {day}").id for day in range(1, 8)]
    db.commit()
    for limit in (1, 2, 3, 7, 10):
        assert _walk(db, limit, newest_first=False) == sorted(ids)
        assert _walk(db, limit, newest_first=True) == sorted(ids, reverse=True)
    first = list_holidays(db, 2027, None, 3)
    assert [h.id for h in first] == sorted(ids)[:3]
    assert [h.id for h in list_holidays(db, 2027, first[-1].id, 3)] == sorted(ids)[3:6]


def test_pages_by_a_key_and_its_tie_breaker_cover_equal_keys_once(app, db):
    """Rows sharing a key value (holidays on one day in different offices) split across pages, both ways."""
    from lsso_mobile.services.paging import keyset_page_by

    offices = [None, *db.scalars(select(Office.id).order_by(Office.id).limit(3))]
    for office_id in offices:
        for day in (3, 4):
            add_holiday(db, office_id, date(2027, 2, day), f"ວັນ {day}", f"Day {day}")
    db.commit()
    everything = [(h.day, h.id) for h in db.scalars(select(Holiday).where(Holiday.day >= date(2027, 2, 1)))]
    for newest_first in (False, True):
        expected = sorted(everything, reverse=newest_first)
        for limit in (1, 2, 3, 5):
            seen: list[tuple[date, int]] = []
            after = None
            while True:
                query = select(Holiday).where(Holiday.day >= date(2027, 2, 1))
                page = keyset_page_by(query, Holiday.day, Holiday.id, after, limit + 1, newest_first=newest_first)
                rows = list(db.scalars(page))
                seen += [(h.day, h.id) for h in rows[:limit]]
                if len(rows) <= limit:
                    break
                after = (rows[limit - 1].day, rows[limit - 1].id)
            assert seen == expected, (newest_first, limit)
