"""Districts, villages and district offices from a CSV file: one reader and checker for the CLI
(``lsso-mobile import-areas [--dry-run]``), the admin console and the seeding of demo and test databases.

``plan_area_import`` reads the whole file and compares it with the database without writing anything (the dry
run): what would be created, what would change, what is already so, and every bad row with its line number and
reason. ``write_area_import`` makes the same plan again and writes it in the caller's unit of work, all or
nothing: nothing while any row is bad, and nothing when the caller passes the fingerprint of a plan it showed
and the plan is no longer the same (the file differs, or the areas changed since). ``services.area_import`` adds
the audit (this module needs no accounts, so ``services.reference`` can seed with it without an import cycle).

Columns: kind (district|village), code, parent_code (the province's code for a district, the district's for a
village), name_lo, name_en, has_office (yes/no: a district office opens for the district; an import never closes
one). A district's code is 4 digits starting with its province's; a village's is 8 digits starting with its
district's, so a code never moves to another parent. The 18 provinces and their offices ship with the migrations.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from lsso_mobile.errors import Conflict, InvalidInput, PayloadTooLarge
from lsso_mobile.models import District, Office, OfficeLevel, Province, Village

AREA_CSV_COLUMNS = ("kind", "code", "parent_code", "name_lo", "name_en", "has_office")
MAX_FILE_BYTES = 4 * 1024 * 1024  # the whole country (about 150 districts, 8,500 villages) is about 1 MB
MAX_ROWS = 20_000
MAX_NAME_CHARS = 100  # the columns' size
YES, NO = ("yes", "true", "1", "y"), ("no", "false", "0", "n", "")
KINDS = ("district", "village", "office")
ACTIONS = ("create", "update", "same")


@dataclass(frozen=True)
class RowProblem:
    """A bad row: ``message`` is a constant English catalogue id, filled with ``params``."""

    line: int
    message: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return self.message.format(**self.params)


@dataclass(frozen=True)
class AreaChange:
    line: int
    kind: str  # district, village or office
    code: str
    action: str  # create, update or same
    parent: str
    name_lo: str
    name_en: str
    before_lo: str | None = None  # an update's names before it
    before_en: str | None = None


@dataclass(frozen=True)
class AreaImportPlan:
    digest: str  # SHA-256 of the file's bytes
    rows: int
    changes: tuple[AreaChange, ...]
    problems: tuple[RowProblem, ...]
    fingerprint: str  # of the file and every change: what an apply must find again

    def count(self, kind: str, action: str) -> int:
        return sum(1 for c in self.changes if c.kind == kind and c.action == action)

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        return {kind: {action: self.count(kind, action) for action in ACTIONS} for kind in KINDS}

    @property
    def applicable(self) -> bool:
        return not self.problems and self.rows > 0

    @property
    def writes(self) -> int:
        return sum(1 for c in self.changes if c.action != "same")


def file_digest(data: bytes) -> str:
    """The SHA-256 a plan names its file by."""
    return hashlib.sha256(data).hexdigest()


def _rows(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    if not data.strip():
        raise InvalidInput("The file is empty.", error="file_empty", errors={"file": ["empty"]})
    if len(data) > MAX_FILE_BYTES:
        raise PayloadTooLarge(
            "The file is larger than {max_mb} MB; split it.",
            error="area_file_too_large",
            params={"max_mb": MAX_FILE_BYTES // (1024 * 1024)},
        )
    try:
        text = data.decode("utf-8-sig")
        if "\x00" in text:  # UTF-16 without its byte-order mark decodes, with NULs (which no database column takes)
            raise UnicodeDecodeError("utf-8", data, 0, 1, "NUL")
    except UnicodeDecodeError:
        raise InvalidInput("The file is not UTF-8 text; save it as CSV UTF-8.", error="area_file_not_utf8") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return _read(reader)
    except csv.Error as exc:
        raise InvalidInput(
            "Line {line} cannot be read as CSV: {reason}.",
            error="area_file_not_csv",
            params={"line": reader.line_num, "reason": str(exc)[:100]},
        ) from None


def _read(reader: csv.DictReader[str]) -> list[tuple[int, dict[str, Any]]]:
    columns = [name.strip() for name in reader.fieldnames or ()]
    reader.fieldnames = columns
    missing = [name for name in AREA_CSV_COLUMNS if name not in columns]
    if missing:
        raise InvalidInput(
            "The file lacks the columns {columns}.",
            error="reference_columns_missing",
            params={"columns": ", ".join(missing)},
        )
    rows: list[tuple[int, dict[str, Any]]] = []
    for row in reader:  # each row with the file's line number where it ends (quoted cells may span lines)
        if len(rows) >= MAX_ROWS:
            raise PayloadTooLarge(
                "The file has more than {max} rows; split it.",
                error="area_file_too_many_rows",
                params={"max": MAX_ROWS},
            )
        rows.append((reader.line_num, row))
    return rows


def _cell(row: dict[str, Any], name: str) -> str:
    value = row.get(name)
    return value.strip() if isinstance(value, str) else ""


class _Planner:
    def __init__(self, session: Session) -> None:
        self.provinces = set(session.scalars(select(Province.code)))
        self.districts = {d.code: d for d in session.execute(select(District.code, District.name_lo, District.name_en))}
        self.villages = {
            v.code: v
            for v in session.execute(select(Village.code, Village.district_code, Village.name_lo, Village.name_en))
        }
        self.offices = set(session.scalars(select(Office.district_code).where(Office.district_code.is_not(None))))
        self.office_codes = set(session.scalars(select(Office.code)))
        self.changes: list[AreaChange] = []
        self.problems: list[RowProblem] = []
        self.seen: dict[tuple[str, str], int] = {}
        self.file_districts: set[str] = set()

    def problem(self, line: int, message: str, **params: Any) -> None:
        self.problems.append(RowProblem(line, message, params))

    def row(self, line: int, row: dict[str, Any]) -> tuple[str, str, str, str, str, bool] | None:
        kind, code, parent = _cell(row, "kind").lower(), _cell(row, "code"), _cell(row, "parent_code")
        name_lo, name_en, has_office = _cell(row, "name_lo"), _cell(row, "name_en"), _cell(row, "has_office").lower()
        if None in row:  # more cells than columns
            self.problem(line, "The row has more cells than the header.")
            return None
        if kind not in ("district", "village"):
            self.problem(line, "The kind must be district or village, not {kind}.", kind=kind[:20])
            return None
        if not (code and parent and name_lo and name_en):
            self.problem(line, "The code, parent code, Lao name and English name are all required.")
            return None
        if len(name_lo) > MAX_NAME_CHARS or len(name_en) > MAX_NAME_CHARS:
            self.problem(line, "A name is longer than {max} characters.", max=MAX_NAME_CHARS)
            return None
        if has_office not in YES + NO:
            self.problem(line, "has_office must be yes or no, not {value}.", value=has_office[:20])
            return None
        if kind == "district" and (parent not in self.provinces or not _fits(code, parent, 4)):
            self.problem(
                line,
                "District {code} does not fit province {parent}: 4 digits starting with the province's code.",
                code=code[:20],
                parent=parent[:20],
            )
            return None
        if kind == "village" and not _fits(code, parent, 8):
            self.problem(
                line,
                "Village {code} does not fit district {parent}: 8 digits starting with the district's code.",
                code=code[:20],
                parent=parent[:20],
            )
            return None
        if kind == "village" and has_office in YES:
            self.problem(line, "Only a district can have an office.")
            return None
        first = self.seen.setdefault((kind, code), line)
        if first != line:
            self.problem(line, "{code} is already on line {first}.", code=code, first=first)
            return None
        if kind == "district":
            self.file_districts.add(code)
        return kind, code, parent, name_lo, name_en, has_office in YES

    def district(self, line: int, code: str, parent: str, name_lo: str, name_en: str, office: bool) -> None:
        known = self.districts.get(code)
        self.changes.append(_change(line, "district", code, parent, name_lo, name_en, known))
        if office and code not in self.offices:
            office_lo, office_en = office_names(name_lo, name_en)
            if f"D{code}" in self.office_codes:
                self.problem(line, "Office code {code} is already used by another office.", code=f"D{code}")
                return
            self.changes.append(AreaChange(line, "office", f"D{code}", "create", code, office_lo, office_en))
        elif office:
            self.changes.append(AreaChange(line, "office", f"D{code}", "same", code, "", ""))

    def village(self, line: int, code: str, parent: str, name_lo: str, name_en: str) -> None:
        if parent not in self.districts and parent not in self.file_districts:
            self.problem(line, "Village {code} names unknown district {parent}.", code=code, parent=parent)
            return
        self.changes.append(_change(line, "village", code, parent, name_lo, name_en, self.villages.get(code)))


def _fits(code: str, parent: str, size: int) -> bool:
    return len(code) == size and code.isascii() and code.isdigit() and code.startswith(parent) and code != parent


def _change(line: int, kind: str, code: str, parent: str, name_lo: str, name_en: str, known: Any) -> AreaChange:
    if known is None:
        return AreaChange(line, kind, code, "create", parent, name_lo, name_en)
    if (known.name_lo, known.name_en) == (name_lo, name_en):
        return AreaChange(line, kind, code, "same", parent, name_lo, name_en)
    return AreaChange(line, kind, code, "update", parent, name_lo, name_en, known.name_lo, known.name_en)


def office_names(name_lo: str, name_en: str) -> tuple[str, str]:
    """A new district office's names, from its district's."""
    return f"ຫ້ອງການປະກັນສັງຄົມ {name_lo}", f"{name_en} District Social Security Office"


def plan_area_import(session: Session, data: bytes) -> AreaImportPlan:
    """The dry run: what importing ``data`` would do, and every bad row. Writes nothing.

    A file that cannot be read at all (empty, too large, not UTF-8, columns missing, too many rows) raises."""
    rows = _rows(data)
    planner = _Planner(session)
    checked = [(line, planner.row(line, row)) for line, row in rows]
    for line, fields in checked:  # districts first: a village may name a district further down the file
        if fields is not None and fields[0] == "district":
            planner.district(line, *fields[1:])
    for line, fields in checked:
        if fields is not None and fields[0] == "village":
            planner.village(line, *fields[1:5])
    changes = tuple(sorted(planner.changes, key=lambda c: (c.line, KINDS.index(c.kind))))
    problems = tuple(sorted(planner.problems, key=lambda p: p.line))
    digest = file_digest(data)
    summary = json.dumps(
        [
            digest,
            [[c.kind, c.code, c.action, c.parent, c.name_lo, c.name_en, c.before_lo, c.before_en] for c in changes],
        ],
        ensure_ascii=False,
    )
    fingerprint = hashlib.sha256(summary.encode()).hexdigest()
    return AreaImportPlan(digest, len(rows), changes, problems, fingerprint)


def write_area_import(session: Session, data: bytes, expected_fingerprint: str | None = None) -> AreaImportPlan:
    """Import ``data`` in the caller's unit of work (it commits): exactly the plan ``plan_area_import`` gives, and,
    with ``expected_fingerprint``, only if that plan is still the one shown. Nothing is written if a row is bad.
    Not audited: ``services.area_import.apply_area_import`` is what people's imports go through."""
    plan = plan_area_import(session, data)
    if plan.problems:
        first = plan.problems[0]
        raise InvalidInput(
            "Nothing was imported: {count} rows are bad (the first on line {line}).",
            error="area_import_bad_rows",
            params={"count": len(plan.problems), "line": first.line},
        )
    if plan.rows == 0:
        raise InvalidInput("The file has no rows.", error="area_file_no_rows")
    if expected_fingerprint is not None and plan.fingerprint != expected_fingerprint:
        raise Conflict(
            "This is not what was previewed: the file or the areas have changed since. Preview it again.",
            error="area_import_changed",
        )
    _write(session, plan)
    return plan


def _write(session: Session, plan: AreaImportPlan) -> None:
    def rows(kind: str, action: str) -> list[AreaChange]:
        return [c for c in plan.changes if c.kind == kind and c.action == action]

    # Bulk statements in parent-first order: districts, their offices, then villages.
    for model, kind, parent_column in ((District, "district", "province_code"), (Village, "village", "district_code")):
        created = [
            {"code": c.code, parent_column: c.parent, "name_lo": c.name_lo, "name_en": c.name_en}
            for c in rows(kind, "create")
        ]
        if created:
            session.execute(insert(model), created)
        updated = [{"code": c.code, "name_lo": c.name_lo, "name_en": c.name_en} for c in rows(kind, "update")]
        if updated:
            session.execute(update(model), updated)
        if kind == "district":
            offices = [
                {
                    "code": c.code,
                    "level": OfficeLevel.DISTRICT,
                    "province_code": c.code[1:3],
                    "district_code": c.parent,
                    "name_lo": c.name_lo,
                    "name_en": c.name_en,
                }
                for c in rows("office", "create")
            ]
            if offices:
                session.execute(insert(Office), offices)
    session.flush()
