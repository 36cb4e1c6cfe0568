"""Registration in the field: promoters (bound to one district) and officers register people on their behalf.

A field device works offline: it photographs ID documents and fills in applications, each with an id made on
the device, and uploads the day's work when it has signal. Photos go first, one request each
(``upload_field_photo``; the device's photo id makes a resend store nothing twice), then one batch of
applications (``submit_batch``) that refers to them; each record gets its own result and a record already
received answers ``already_received`` with nothing changed. Partial success is normal.

A field application waits in ``awaiting_confirmation`` until the person confirms: with a code sent by SMS to
their own phone (they enter it themselves, or tell it to the registrar), or, for a person with no phone, an
officer of the office attests in person. It then joins the district office's queue as ``submitted``, like a
self-registration, and the reviewing officer sees who registered the person. Promoters see only the people
they registered; each promoter registers at most ``LSSO_PROMOTER_DAILY_REGISTRATIONS`` people a day
(Vientiane time). Every registrar action is in the audit trail.

First payment at registration: a record may carry the cash the registrar took (amount, receipt number). It is
stored with the application and NOT credited here: the payments flow credits it (the seam is
``RegistrationApplication.first_payment_kip`` / ``first_payment_receipt``).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lsso_mobile.config import Settings
from lsso_mobile.errors import Conflict, DomainError, InvalidInput, NotFound, TooManyRequests
from lsso_mobile.models import (
    ApplicationStatus,
    Attachment,
    FieldPhoto,
    RegistrationApplication,
    RegistrationEvent,
    StaffUser,
)
from lsso_mobile.services.accounts import Principal
from lsso_mobile.services.audit import record_audit
from lsso_mobile.services.contributions import VIENTIANE
from lsso_mobile.services.files import attachment_store, prepare_upload
from lsso_mobile.services.paging import keyset_page
from lsso_mobile.services.reference import office_for_area
from lsso_mobile.services.registrations import ApplicationForm, check_form
from lsso_mobile.services.secrets_hashing import keyed_hash, same_keyed_hash
from lsso_mobile.services.sms import queue_sms

PROMOTER = "promoter"
MAX_PHOTOS_PER_RECORD = 4
PHOTOS_PER_REGISTRATION_FACTOR = MAX_PHOTOS_PER_RECORD  # photos a promoter may upload a day, per registration
CONFIRM_CODE_DAYS = 7  # the person may confirm days after the visit: the batch may upload late
CONFIRM_MAX_ATTEMPTS = 5
CONFIRM_SMS_PURPOSE = "field_confirm"
CONFIRM_SMS_TEXT = (
    "ທ່ານຖືກລົງທະບຽນເຂົ້າ ປກສ ໂດຍ {registrar}. ລະຫັດຢືນຢັນ: {code}. "
    "You were registered with LSSO by {registrar}. Confirmation code: {code}. Valid {days} days."
)


@dataclass(frozen=True)
class FieldRecord:
    device_record_id: str
    phone: str | None  # E.164; None: the person has no phone (an officer attests in person)
    form: ApplicationForm
    photo_ids: list[str]  # the device's photo ids, uploaded before the batch
    first_payment_kip: int | None = None
    first_payment_receipt: str | None = None


@dataclass
class RecordResult:
    device_record_id: str
    outcome: str  # created | already_received | rejected
    application_id: int | None = None
    status: str | None = None
    error: str | None = None
    message: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, Any] = field(default_factory=dict)


def _staff_row(session: Session, staff: Principal, lock: bool = False) -> StaffUser:
    row = session.get(StaffUser, staff.id, with_for_update=lock)
    if row is None or not row.active:
        raise NotFound("No such staff account.", error="staff_not_found")
    return row


def _today_start(now: datetime) -> datetime:
    local = now.astimezone(VIENTIANE)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def registered_today(session: Session, staff_id: int, now: datetime) -> int:
    return (
        session.scalar(
            select(func.count()).where(
                RegistrationApplication.registered_by_staff_id == staff_id,
                RegistrationApplication.created_at >= _today_start(now),
            )
        )
        or 0
    )


def _check_area(session: Session, registrar: StaffUser, form: ApplicationForm) -> int:
    """A promoter registers people of their own district; an officer, people of their office's area. Returns
    the office that reviews the application."""
    office = office_for_area(session, form.province_code, form.district_code)
    if registrar.role.value == PROMOTER:
        if form.district_code != registrar.district_code:
            raise InvalidInput(
                "You may register people of your own district only.",
                errors={"district_code": ["Not your district."]},
                error="outside_your_district",
            )
    elif office.id != registrar.office_id:
        raise InvalidInput(
            "You may register people of your office's area only.",
            errors={"district_code": ["Not served by your office."]},
            error="outside_your_office",
        )
    return office.id


def _claim_photos(session: Session, staff_id: int, photo_ids: list[str]) -> list[FieldPhoto]:
    if not 1 <= len(photo_ids) <= MAX_PHOTOS_PER_RECORD or len(set(photo_ids)) != len(photo_ids):
        raise InvalidInput(
            "Send one to four different ID photos with each registration.",
            error="photo_count",
            errors={"photo_ids": ["One to four different photo ids."]},
        )
    photos = list(
        session.scalars(
            select(FieldPhoto).where(FieldPhoto.staff_id == staff_id, FieldPhoto.device_photo_id.in_(photo_ids))
        )
    )
    missing = sorted(set(photo_ids) - {p.device_photo_id for p in photos})
    if missing:
        raise InvalidInput(
            "Upload the record's photos before the record.",
            errors={"photo_ids": ["Not uploaded yet."]},
            error="photo_not_uploaded",
            params={"missing": ", ".join(missing)},
        )
    if any(p.application_id is not None for p in photos):
        raise Conflict(
            "A photo already belongs to another registration.",
            errors={"photo_ids": ["Already used."]},
            error="photo_already_used",
        )
    return photos


def _new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def _code_subject(application_id: int, code: str) -> str:
    return f"field-confirm:{application_id}:{code}"


def _send_code(
    session: Session, settings: Settings, application: RegistrationApplication, registrar: StaffUser, now: datetime
) -> None:
    assert application.phone is not None
    code = _new_code()
    application.confirm_code_hash = keyed_hash(settings.secret_key, _code_subject(application.id, code))
    application.confirm_code_expires_at = now + timedelta(days=CONFIRM_CODE_DAYS)
    application.confirm_attempts = 0
    text = CONFIRM_SMS_TEXT.format(registrar=registrar.name[:40], code=code, days=CONFIRM_CODE_DAYS)
    queue_sms(
        session, settings, application.phone, text, CONFIRM_SMS_PURPOSE, expires_at=application.confirm_code_expires_at
    )


def _create(
    session: Session,
    settings: Settings,
    registrar: StaffUser,
    staff: Principal,
    record: FieldRecord,
    now: datetime,
    address: str | None,
) -> RegistrationApplication:
    if registrar.role.value == PROMOTER and registered_today(session, registrar.id, now) >= (
        settings.promoter_daily_registrations
    ):
        raise TooManyRequests(
            "You have registered {limit} people today, the most a promoter may register in a day.",
            retry_after=int((_today_start(now) + timedelta(days=1) - now).total_seconds()) + 1,
            error="daily_limit_reached",
            params={"limit": settings.promoter_daily_registrations},
        )
    office_id = _check_area(session, registrar, record.form)
    check_form(session, record.form, now.astimezone(VIENTIANE).date())
    photos = _claim_photos(session, registrar.id, record.photo_ids)
    application = RegistrationApplication(
        member_id=None,
        office_id=office_id,
        status=ApplicationStatus.AWAITING_CONFIRMATION,
        registered_by_staff_id=registrar.id,
        device_record_id=record.device_record_id,
        phone=record.phone,
        first_payment_kip=record.first_payment_kip,
        first_payment_receipt=record.first_payment_receipt,
        created_at=now,
        updated_at=now,
    )
    for name, value in record.form.__dict__.items():
        setattr(application, name, value)
    application.events.append(
        RegistrationEvent(
            status=ApplicationStatus.AWAITING_CONFIRMATION,
            reason="registered in the field",
            staff_id=registrar.id,
            created_at=now,
        )
    )
    session.add(application)
    session.flush()
    for photo in photos:
        photo.application_id = application.id
    record_audit(
        session,
        staff,
        "field_registration.create",
        "registration_application",
        application.id,
        office_id=office_id,
        details={
            "device_record_id": record.device_record_id,
            "photos": len(photos),
            "no_phone": application.phone is None,
            "first_payment_kip": record.first_payment_kip,
        },
        address=address,
        now=now,
    )
    return application


def _earlier_record(session: Session, staff_id: int, device_record_id: str) -> RegistrationApplication | None:
    return session.scalars(
        select(RegistrationApplication).where(
            RegistrationApplication.registered_by_staff_id == staff_id,
            RegistrationApplication.device_record_id == device_record_id,
        )
    ).first()


def submit_batch(
    session: Session,
    settings: Settings,
    staff: Principal,
    records: list[FieldRecord],
    now: datetime,
    *,
    address: str | None = None,
) -> list[RecordResult]:
    """One result per record, in order. A record is created in its own savepoint, so a refused one leaves the
    others alone; the registrar's row is locked so that two batches at once cannot pass the daily limit."""
    registrar = _staff_row(session, staff, lock=True)
    results: list[RecordResult] = []
    seen: set[str] = set()
    created: list[RegistrationApplication] = []
    for record in records:
        result = RecordResult(device_record_id=record.device_record_id, outcome="rejected")
        results.append(result)
        if record.device_record_id in seen:
            result.error, result.message = "duplicate_in_batch", "This record id is twice in the batch."
            continue
        seen.add(record.device_record_id)
        earlier = _earlier_record(session, registrar.id, record.device_record_id)
        if earlier is not None:
            result.outcome, result.application_id, result.status = "already_received", earlier.id, earlier.status
            continue
        savepoint = session.begin_nested()
        try:
            application = _create(session, settings, registrar, staff, record, now, address)
            savepoint.commit()
        except DomainError as exc:
            savepoint.rollback()
            result.error, result.message, result.params = exc.error or "invalid_record", exc.message, exc.params
            result.errors = dict(exc.errors or {})
            continue
        except IntegrityError:
            savepoint.rollback()
            if _earlier_record(session, registrar.id, record.device_record_id) is None:
                raise
            # The same record sent by a parallel request: it is there now.
            result.error, result.message = "conflict", "This record is being received by another request."
            continue
        result.outcome, result.application_id, result.status = "created", application.id, application.status
        created.append(application)
    # The codes' SMS are queued after the last savepoint: SQLAlchemy signals "after_commit" when a savepoint is
    # released too, which would hand a job to the queue before its row is committed.
    for application in created:
        if application.phone is not None:
            _send_code(session, settings, application, registrar, now)
    return results


def _registrar_filter(staff: Principal) -> ColumnElement[bool]:
    """Promoters see the people they registered, only those; officers the field registrations of their office;
    admins all."""
    if staff.role == PROMOTER:
        return RegistrationApplication.registered_by_staff_id == staff.id
    registered = RegistrationApplication.registered_by_staff_id.is_not(None)
    if staff.role == "admin":
        return registered
    return and_(registered, RegistrationApplication.office_id == staff.office_id)


def list_field_registrations(
    session: Session, staff: Principal, status: ApplicationStatus | None, after_id: int | None, limit: int
) -> list[RegistrationApplication]:
    query = select(RegistrationApplication).where(_registrar_filter(staff))
    if status is not None:
        query = query.where(RegistrationApplication.status == status)
    return list(session.scalars(keyset_page(query, RegistrationApplication.id, after_id, limit)))


def field_registration(
    session: Session, staff: Principal, application_id: int, for_update: bool = False
) -> RegistrationApplication:
    query = select(RegistrationApplication).where(
        RegistrationApplication.id == application_id, _registrar_filter(staff)
    )
    application = session.scalars(query.with_for_update() if for_update else query).first()
    if application is None:
        raise NotFound("No such field registration of yours.", error="field_registration_not_found")
    return application


def _confirm(application: RegistrationApplication, how: str, staff_id: int | None, now: datetime) -> None:
    application.status = ApplicationStatus.SUBMITTED
    application.confirmation = how
    application.confirmed_at = now
    application.confirm_code_hash = None
    application.confirm_code_expires_at = None
    application.updated_at = now
    reason = "confirmed with the code sent to the person's phone" if how == "code" else "attested in person"
    application.events.append(
        RegistrationEvent(status=ApplicationStatus.SUBMITTED, reason=reason, staff_id=staff_id, created_at=now)
    )


def _awaiting(application: RegistrationApplication) -> None:
    if application.status is not ApplicationStatus.AWAITING_CONFIRMATION:
        raise Conflict(
            "This registration is not waiting for confirmation.",
            error="not_awaiting_confirmation",
        )


def _code_matches(settings: Settings, application: RegistrationApplication, code: str, now: datetime) -> bool:
    """One try against the application's code; a wrong one counts, and the code dies after CONFIRM_MAX_ATTEMPTS."""
    expires = application.confirm_code_expires_at
    if application.confirm_code_hash is None or expires is None or expires <= now:
        return False
    if application.confirm_attempts >= CONFIRM_MAX_ATTEMPTS:
        return False
    if same_keyed_hash(settings.secret_key, _code_subject(application.id, code), application.confirm_code_hash):
        return True
    application.confirm_attempts += 1
    return False


WRONG_CODE = "The code is wrong or has expired."


def confirm_by_registrar(
    session: Session,
    settings: Settings,
    staff: Principal,
    application_id: int,
    code: str,
    now: datetime,
    *,
    address: str | None = None,
) -> RegistrationApplication:
    """The person, beside the registrar, reads out the code their phone received."""
    application = field_registration(session, staff, application_id, for_update=True)
    _awaiting(application)
    if not _code_matches(settings, application, code, now):
        raise InvalidInput(WRONG_CODE, errors={"code": ["Wrong or expired."]}, error="wrong_code", keep_changes=True)
    _confirm(application, "code", None, now)
    record_audit(
        session,
        staff,
        "field_registration.confirm",
        "registration_application",
        application.id,
        office_id=application.office_id,
        details={"method": "code"},
        address=address,
        now=now,
    )
    return application


def confirm_by_person(session: Session, settings: Settings, phone: str, code: str, now: datetime) -> int:
    """The person confirms from their own phone (no account needed): the code names the application among those
    waiting for this phone (a shared phone may wait for several). Returns the application's id."""
    waiting = list(
        session.scalars(
            select(RegistrationApplication)
            .where(
                RegistrationApplication.phone == phone,
                RegistrationApplication.status == ApplicationStatus.AWAITING_CONFIRMATION,
            )
            .order_by(RegistrationApplication.id)
            .limit(20)
            .with_for_update()
        )
    )
    for application in waiting:
        if _code_matches(settings, application, code, now):
            _confirm(application, "code", None, now)
            record_audit(
                session,
                None,
                "field_registration.confirm",
                "registration_application",
                application.id,
                office_id=application.office_id,
                details={"method": "code", "by": "person"},
                now=now,
            )
            return application.id
    raise InvalidInput(WRONG_CODE, errors={"code": ["Wrong or expired."]}, error="wrong_code", keep_changes=True)


def attest(
    session: Session,
    staff: Principal,
    application_id: int,
    note: str,
    now: datetime,
    *,
    address: str | None = None,
) -> RegistrationApplication:
    """An officer of the office met the person and checked their ID documents (a person with no phone)."""
    application = field_registration(session, staff, application_id, for_update=True)
    _awaiting(application)
    note = note.strip()
    if not note:
        raise InvalidInput(
            "Say how you checked the person.", error="attestation_note_required", errors={"note": ["Required."]}
        )
    _confirm(application, "officer", staff.id, now)
    application.attested_by_staff_id = staff.id
    record_audit(
        session,
        staff,
        "field_registration.attest",
        "registration_application",
        application.id,
        office_id=application.office_id,
        details={"method": "officer", "reason": note},
        address=address,
        now=now,
    )
    return application


def upload_field_photo(
    session: Session,
    settings: Settings,
    staff: Principal,
    device_photo_id: str,
    data: bytes,
    now: datetime,
    *,
    address: str | None = None,
) -> tuple[FieldPhoto, bool]:
    """Check and store an ID photo under the device's id; (photo, created). The same id sent again with the same
    file returns the first photo and stores nothing; with another file it is a 409. Photos are checked and
    re-encoded like every upload (EXIF and GPS gone), and a promoter uploads at most
    PHOTOS_PER_REGISTRATION_FACTOR x the daily registration limit a day."""
    registrar = _staff_row(session, staff, lock=True)
    prepared = prepare_upload(data, settings.attachment_max_bytes, settings.upload_max_pixels)
    sha256 = hashlib.sha256(prepared.data).hexdigest()
    earlier = session.scalars(
        select(FieldPhoto).where(FieldPhoto.staff_id == registrar.id, FieldPhoto.device_photo_id == device_photo_id)
    ).first()
    if earlier is not None:
        attachment = session.get(Attachment, earlier.attachment_id)
        if attachment is None or attachment.sha256 != sha256:
            raise Conflict(
                "This photo id was already used for another file.",
                errors={"device_photo_id": ["Used for another file."]},
                error="photo_id_reused",
            )
        return earlier, False
    if registrar.role.value == PROMOTER:
        today = session.scalar(
            select(func.count()).where(FieldPhoto.staff_id == registrar.id, FieldPhoto.created_at >= _today_start(now))
        )
        if (today or 0) >= settings.promoter_daily_registrations * PHOTOS_PER_REGISTRATION_FACTOR:
            raise TooManyRequests(
                "You have uploaded the most photos a promoter may upload in a day.",
                retry_after=int((_today_start(now) + timedelta(days=1) - now).total_seconds()) + 1,
                error="daily_photo_limit_reached",
            )
    key = attachment_store(settings.attachment_dir).put(prepared.data)
    attachment = Attachment(
        uploader_staff_id=registrar.id,
        content_type=prepared.content_type,
        size=len(prepared.data),
        sha256=sha256,
        storage_key=key,
        created_at=now,
    )
    session.add(attachment)
    session.flush()
    photo = FieldPhoto(
        staff_id=registrar.id, device_photo_id=device_photo_id, attachment_id=attachment.id, created_at=now
    )
    session.add(photo)
    session.flush()
    record_audit(
        session,
        staff,
        "field_photo.upload",
        "field_photo",
        photo.id,
        office_id=registrar.office_id,
        details={"device_photo_id": device_photo_id, "size": len(prepared.data)},
        address=address,
        now=now,
    )
    return photo, True


def photo_attachment(session: Session, photo: FieldPhoto) -> Attachment:
    attachment = session.get(Attachment, photo.attachment_id)
    assert attachment is not None
    return attachment


def photos_of(session: Session, application_ids: list[int]) -> dict[int, list[int]]:
    """The field photo ids of each application."""
    found: dict[int, list[int]] = {a: [] for a in application_ids}
    if application_ids:
        for photo_id, application_id in session.execute(
            select(FieldPhoto.id, FieldPhoto.application_id)
            .where(FieldPhoto.application_id.in_(application_ids))
            .order_by(FieldPhoto.id)
        ):
            if application_id is not None:
                found[application_id].append(photo_id)
    return found


def readable_photo(session: Session, staff: Principal, photo_id: int) -> tuple[FieldPhoto, Attachment]:
    """A registrar's own photos; an officer's office's field registrations' photos; every photo for an admin."""
    photo = session.get(FieldPhoto, photo_id)
    allowed = False
    if photo is not None:
        if photo.staff_id == staff.id or staff.role == "admin":
            allowed = True
        elif staff.role == "officer" and photo.application_id is not None:
            application = session.get(RegistrationApplication, photo.application_id)
            allowed = application is not None and application.office_id == staff.office_id
    attachment = session.get(Attachment, photo.attachment_id) if photo is not None and allowed else None
    if photo is None or attachment is None:
        raise NotFound("No such photo.", error="field_photo_not_found")
    return photo, attachment
