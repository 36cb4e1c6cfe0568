"""Offices and areas imports by people (the CLI's ``import-areas`` and the admin console): the shared CSV plan of
``services.area_csv`` (its dry run writes nothing), applied all or nothing and audited as ``areas.import``."""

from __future__ import annotations

from sqlalchemy.orm import Session

from lsso_mobile.services.accounts import Principal
from lsso_mobile.services.area_csv import (
    ACTIONS,
    AREA_CSV_COLUMNS,
    KINDS,
    MAX_FILE_BYTES,
    MAX_ROWS,
    AreaChange,
    AreaImportPlan,
    RowProblem,
    file_digest,
    plan_area_import,
    write_area_import,
)
from lsso_mobile.services.audit import record_audit

__all__ = [
    "ACTIONS",
    "AREA_CSV_COLUMNS",
    "KINDS",
    "MAX_FILE_BYTES",
    "MAX_ROWS",
    "AreaChange",
    "AreaImportPlan",
    "RowProblem",
    "apply_area_import",
    "file_digest",
    "plan_area_import",
]


def apply_area_import(
    session: Session,
    data: bytes,
    *,
    expected_fingerprint: str | None = None,
    actor: Principal | None = None,
    address: str | None = None,
    source: str = "cli",
) -> AreaImportPlan:
    """Import ``data`` in the caller's unit of work (it commits), exactly as ``plan_area_import`` plans it and, with
    ``expected_fingerprint``, only if that plan is still the one shown; audited (``actor`` None: the system)."""
    plan = write_area_import(session, data, expected_fingerprint)
    counts = plan.counts
    record_audit(
        session,
        actor,
        "areas.import",
        "area_import",
        0,
        details={
            "source": source,
            "sha256": plan.digest,
            "rows": plan.rows,
            **{f"{kind}s_{action}d": counts[kind][action] for kind in KINDS for action in ("create", "update")},
        },
        address=address,
    )
    return plan
