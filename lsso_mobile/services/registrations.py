"""Registration for social security: a member applies, officers of the member's office decide.

Decisions: approve (an insured person with a new member number is created and linked), reject
(final, with a reason) or ask for more information (the member corrects and resubmits). Every
step is kept in the application's history, and each decision notifies the member.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lsso_mobile.errors import Conflict, InvalidInput, NotFound
from lsso_mobile.models import (
    ApplicationStatus,
    District,
    IdType,
    InsuredPerson,
    LinkAction,
    LinkEvent,
    LinkMethod,
    LinkRequest,
    LinkRequestStatus,
    Member,
    Office,
    Province,
    RegistrationApplication,
    RegistrationEvent,
    Scheme,
    Sex,
    Village,
)
from lsso_mobile.notify.outbox import record_notification
from lsso_mobile.services.accounts import Principal
from lsso_mobile.services.audit import record_audit
from lsso_mobile.services.identity import insured_with_id, new_member_number, normalise_id_number
from lsso_mobile.services.paging import keyset_page
from lsso_mobile.services.reference import office_for_area
from lsso_mobile.services.rows import required

OPEN_STATUSES = (ApplicationStatus.SUBMITTED, ApplicationStatus.MORE_INFO_NEEDED, ApplicationStatus.APPROVED)
PENDING_STATUSES = (ApplicationStatus.SUBMITTED, ApplicationStatus.MORE_INFO_NEEDED)
ALREADY_INSURED = "national_id_already_insured"
MIN_AGE_YEARS = 15


@dataclass(frozen=True)
class ApplicationForm:
    name_lo: str
    name_latin: str
    date_of_birth: date
    sex: Sex
    national_id: str
    province_code: str
    district_code: str
    village_code: str | None
    occupation: str
    scheme: Scheme
    declared_monthly_income: int
    consent: bool
    id_type: IdType = field(default=IdType.NATIONAL_ID)

    def __post_init__(self) -> None:
        object.__setattr__(self, "national_id", normalise_id_number(self.national_id))


def _age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def application_problems(session: Session, values: Mapping[str, Any], today: date) -> dict[str, list[str]]:
    """What is wrong with an application's values, by field; only the fields present are checked, so the API
    can add these to the problems its parser found and answer every one at once."""
    errors: dict[str, list[str]] = {}
    born = values.get("date_of_birth")
    if isinstance(born, date):
        if born > today:
            errors["date_of_birth"] = ["The date is in the future."]
        elif _age_on(born, today) < MIN_AGE_YEARS:
            errors["date_of_birth"] = [f"Applicants must be at least {MIN_AGE_YEARS} years old."]
    if values.get("consent") is False:
        errors["consent"] = ["Consent is required to register."]
    income = values.get("declared_monthly_income")
    if isinstance(income, int) and income < 0:
        errors["declared_monthly_income"] = ["Must be greater than or equal to 0."]
    province_code, district_code = values.get("province_code"), values.get("district_code")
    if province_code is not None and session.get(Province, province_code) is None:
        errors["province_code"] = ["Unknown province."]
    if district_code is not None and province_code is not None:
        district = session.get(District, district_code)
        if district is None or district.province_code != province_code:
            errors["district_code"] = ["Unknown district for this province."]
    village_code = values.get("village_code")
    if village_code is not None and district_code is not None:
        village = session.get(Village, village_code)
        if village is None or village.district_code != district_code:
            errors["village_code"] = ["Unknown village for this district."]
    national_id = values.get("national_id")
    if isinstance(national_id, str) and not 4 <= len(normalise_id_number(national_id)) <= 32:
        errors["national_id"] = ["4 to 32 letters or digits (spaces and dashes do not count)."]
    return errors


def _validate(session: Session, form: ApplicationForm, today: date) -> None:
    errors = application_problems(session, vars(form), today)
    if errors:
        raise InvalidInput("The application has errors.", error="application_invalid", errors=errors)


def _refuse_if_insured(session: Session, id_type: IdType, national_id: str, date_of_birth: date) -> None:
    """One person, one member number: an ID that is already insured cannot be registered again."""
    if insured_with_id(session, id_type, national_id, date_of_birth) is not None:
        raise Conflict(
            "This ID number is already insured. Link your app to your member number instead of registering.",
            errors={"national_id": ["already insured"]},
            error=ALREADY_INSURED,
        )


def check_form(session: Session, form: ApplicationForm, today: date) -> None:
    """The checks every application passes, wherever it comes from (the app or the field)."""
    _validate(session, form, today)
    _refuse_if_insured(session, form.id_type, form.national_id, form.date_of_birth)


def id_matches(session: Session, applications: list[RegistrationApplication]) -> dict[int, list[int]]:
    """For each application, the other pending applications with the same ID (the officer checks them)."""
    ids = {a.national_id for a in applications}
    matches: dict[int, list[int]] = {a.id: [] for a in applications}
    if not ids:
        return matches
    pending = session.execute(
        select(
            RegistrationApplication.id,
            RegistrationApplication.id_type,
            RegistrationApplication.national_id,
            RegistrationApplication.date_of_birth,
        ).where(RegistrationApplication.national_id.in_(ids), RegistrationApplication.status.in_(PENDING_STATUSES))
    ).all()
    for application in applications:
        for other in pending:
            if (
                other.id != application.id
                and other.id_type == application.id_type
                and other.national_id == application.national_id
                and (application.id_type is IdType.NATIONAL_ID or other.date_of_birth == application.date_of_birth)
            ):
                matches[application.id].append(other.id)
    return matches


def _apply_form(application: RegistrationApplication, form: ApplicationForm) -> None:
    for name, value in form.__dict__.items():
        setattr(application, name, value)


def current_application(session: Session, member_id: int) -> RegistrationApplication:
    application = session.scalars(
        select(RegistrationApplication)
        .where(RegistrationApplication.member_id == member_id)
        .order_by(RegistrationApplication.id.desc())
        .limit(1)
    ).first()
    if application is None:
        raise NotFound("You have not applied for registration yet.", error="no_application")
    return application


def submit_application(
    session: Session, member_id: int, form: ApplicationForm, now: datetime
) -> RegistrationApplication:
    member = session.get(Member, member_id, with_for_update=True)
    if member is None:
        raise NotFound("No such member.", error="member_not_found")
    if member.insured_person_id is not None:
        raise Conflict("This account already has an LSSO member number.", error="already_member")
    pending_link = session.scalar(
        select(LinkRequest.id).where(
            LinkRequest.member_id == member_id, LinkRequest.status == LinkRequestStatus.PENDING
        )
    )
    if pending_link is not None:
        raise Conflict(
            "You asked your office to link your member number; wait for its answer before registering.",
            error="link_request_pending",
        )
    open_application = session.scalar(
        select(RegistrationApplication.id).where(
            RegistrationApplication.member_id == member_id, RegistrationApplication.status.in_(OPEN_STATUSES)
        )
    )
    if open_application is not None:
        raise Conflict(
            "You already have an application in progress.",
            error="application_in_progress",
            params={"application_id": open_application},
        )
    _validate(session, form, now.date())
    _refuse_if_insured(session, form.id_type, form.national_id, form.date_of_birth)
    office = office_for_area(session, form.province_code, form.district_code)
    application = RegistrationApplication(
        member_id=member_id, office_id=office.id, status=ApplicationStatus.SUBMITTED, created_at=now, updated_at=now
    )
    _apply_form(application, form)
    application.events.append(RegistrationEvent(status=ApplicationStatus.SUBMITTED, created_at=now))
    session.add(application)
    member.office_id = office.id
    session.flush()
    _acknowledge(session, application, office, now)
    return application


def _acknowledge(session: Session, application: RegistrationApplication, office: Office, now: datetime) -> None:
    assert application.member_id is not None  # the member's own application
    record_notification(
        session,
        application.member_id,
        "registration_received",
        {"application_id": application.id, "office_name_lo": office.name_lo, "office_name_en": office.name_en},
        now,
        collapse_key=f"registration-{application.id}",
    )


def resubmit_application(
    session: Session, member_id: int, form: ApplicationForm, now: datetime
) -> RegistrationApplication:
    application = current_application(session, member_id)
    if application.status is not ApplicationStatus.MORE_INFO_NEEDED:
        raise Conflict(
            "Only an application sent back for more information can be corrected.", error="application_not_correctable"
        )
    _validate(session, form, now.date())
    _refuse_if_insured(session, form.id_type, form.national_id, form.date_of_birth)
    office = office_for_area(session, form.province_code, form.district_code)
    _apply_form(application, form)
    application.office_id = office.id
    application.status = ApplicationStatus.SUBMITTED
    application.updated_at = now
    application.events.append(
        RegistrationEvent(status=ApplicationStatus.SUBMITTED, reason="resubmitted", created_at=now)
    )
    required(session, Member, member_id, what="member").office_id = office.id
    session.flush()
    _acknowledge(session, application, office, now)
    return application


def _office_filter(staff: Principal) -> Any:
    """Officers see their own office only; admins see every office."""
    if staff.role == "admin":
        return True
    return RegistrationApplication.office_id == staff.office_id


def list_applications(
    session: Session, staff: Principal, status: ApplicationStatus | None, after_id: int | None, limit: int
) -> list[RegistrationApplication]:
    query = select(RegistrationApplication).where(_office_filter(staff))
    if status is not None:
        query = query.where(RegistrationApplication.status == status)
    return list(session.scalars(keyset_page(query, RegistrationApplication.id, after_id, limit)))


def get_application_for_staff(
    session: Session, staff: Principal, application_id: int, for_update: bool = False
) -> RegistrationApplication:
    query = select(RegistrationApplication).where(RegistrationApplication.id == application_id, _office_filter(staff))
    application = session.scalars(query.with_for_update() if for_update else query).first()
    if application is None:  # another office's application is as invisible as a missing one
        raise NotFound("No such application in your office.", error="application_not_found")
    return application


DECISIONS = {
    "approve": ApplicationStatus.APPROVED,
    "reject": ApplicationStatus.REJECTED,
    "request_info": ApplicationStatus.MORE_INFO_NEEDED,
}


def decide_application(
    session: Session,
    staff: Principal,
    application_id: int,
    decision: str,
    reason: str | None,
    now: datetime,
    *,
    address: str | None = None,
) -> RegistrationApplication:
    """Decide a submitted application; ``address`` (the caller's, if known) goes to the audit trail."""
    application = get_application_for_staff(session, staff, application_id, for_update=True)
    if application.status is not ApplicationStatus.SUBMITTED:
        raise Conflict(
            "The application is already decided; only submitted applications are decided.",
            error="application_already_decided",
            params={"status": application.status.value},
        )
    new_status = DECISIONS[decision]
    reason = (reason or "").strip() or None
    if new_status is not ApplicationStatus.APPROVED and reason is None:
        raise InvalidInput(
            "A reason is required to reject or send back an application.",
            error="reason_required",
            errors={"reason": ["required for this decision"]},
        )
    application.status = new_status
    application.updated_at = now
    application.events.append(RegistrationEvent(status=new_status, reason=reason, staff_id=staff.id, created_at=now))
    params: dict[str, Any] = {"application_id": application.id, "reason": reason or ""}
    if new_status is ApplicationStatus.APPROVED:
        # The ID may have become insured since the member applied (the core register, another application).
        _refuse_if_insured(session, application.id_type, application.national_id, application.date_of_birth)
        person = _enrol(session, application, now)
        params["member_number"] = person.member_number
        template = "registration_approved"
    elif new_status is ApplicationStatus.REJECTED:
        template = "registration_rejected"
    else:
        template = "registration_more_info"
    session.flush()
    if application.member_id is not None:  # a person registered in the field may have no app account
        record_notification(
            session, application.member_id, template, params, now, collapse_key=f"registration-{application.id}"
        )
    record_audit(
        session,
        staff,
        f"registration.{decision}",
        "registration_application",
        application.id,
        office_id=application.office_id,
        details={"status": new_status, "reason": reason, "member_number": params.get("member_number")},
        address=address,
        now=now,
    )
    return application


def _enrol(session: Session, application: RegistrationApplication, now: datetime) -> InsuredPerson:
    """Create the insured person with a new, random member number (see services/identity.py) and link it to the
    applicant's app account, if there is one. A person registered in the field keeps their own phone as the phone
    on record, so they can link an app account later with a code (or, with no phone, an officer's check)."""
    member = (
        required(session, Member, application.member_id, what="member", lock=True)
        if application.member_id is not None
        else None
    )
    if (
        member is not None and member.insured_person_id is not None
    ):  # linked meanwhile (an officer's check of a link request)
        raise Conflict(
            "This account was linked to a member number meanwhile; reject this application instead.",
            error="account_already_linked",
        )
    person = InsuredPerson(
        member_number=new_member_number(session, application.province_code),
        name_lo=application.name_lo,
        name_latin=application.name_latin,
        date_of_birth=application.date_of_birth,
        sex=application.sex,
        national_id=application.national_id,
        id_type=application.id_type,
        scheme=application.scheme,
        office_id=application.office_id,
        province_code=application.province_code,
        district_code=application.district_code,
        village_code=application.village_code,
        phone=application.phone,
        created_at=now,
        updated_at=now,
    )
    session.add(person)
    session.flush()
    application.insured_person = person
    if member is None:
        return person
    member.insured_person_id = person.id
    member.office_id = application.office_id
    session.add(
        LinkEvent(
            insured_person_id=person.id,
            member_id=member.id,
            action=LinkAction.LINKED,
            method=LinkMethod.REGISTRATION,
            created_at=now,
        )
    )
    return person
