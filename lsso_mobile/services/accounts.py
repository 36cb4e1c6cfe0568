"""Member and staff accounts: sign-up, sign-in, token rotation and PIN changes (linking: services/linking.py).

A sign-in opens an AuthSession; its refresh tokens rotate on every use. Presenting a refresh
token that was already used revokes the whole session (someone else has a copy). Access tokens
carry the session id, so logout and PIN changes take effect at once.
"""

from __future__ import annotations

import secrets
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Session

from lsso_mobile import metrics
from lsso_mobile.config import Settings
from lsso_mobile.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotAuthenticated,
    NotFound,
    TooManyRequests,
)
from lsso_mobile.models import (
    AuthSession,
    Device,
    District,
    IntegrationClient,
    Language,
    Member,
    RefreshToken,
    SignInFailure,
    StaffRole,
    StaffUser,
)
from lsso_mobile.services.limits import address_key
from lsso_mobile.services.otp import (
    PURPOSE_PIN_RESET,
    PURPOSE_SIGNUP,
    PURPOSE_STEP_UP,
    InvalidCode,
    consume_code,
    request_code,
)
from lsso_mobile.services.reference import office_for_area
from lsso_mobile.services.rows import required
from lsso_mobile.services.secrets_hashing import hash_secret, needs_rehash, verify_secret
from lsso_mobile.services.tokens import KeyRing
from lsso_mobile.services.totp import accept_totp_code

ROLE_MEMBER = "member"
ROLE_CORE = "core"  # the LSSO core system and other machine clients


@dataclass(frozen=True)
class Principal:
    """Who is calling: a member or a staff user, as the access token says."""

    kind: str  # "member" | "staff"
    id: int
    role: str  # "member" | "officer" | "ops" | "admin"
    office_id: int | None
    session_id: str
    # A staff sign-in that may do one thing only until it is done: RESTRICT_PASSWORD or RESTRICT_SECOND_FACTOR.
    restriction: str | None = None


RESTRICT_PASSWORD = "password_change"  # the password was reset by an admin: change it first
RESTRICT_SECOND_FACTOR = "second_factor_enrolment"  # a second factor is required and none is enrolled yet


def staff_restriction(staff: StaffUser) -> str | None:
    """What a signed-in staff user must do before anything else works (None: nothing)."""
    if staff.must_change_password:
        return RESTRICT_PASSWORD
    if staff.second_factor_required and staff.totp_confirmed_at is None:
        return RESTRICT_SECOND_FACTOR
    return None


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    role: str


def _subject(kind: str, account_id: int) -> str:
    return f"{kind}:{account_id}"


def _issue(
    session: Session,
    settings: Settings,
    keyring: KeyRing,
    auth_session: AuthSession,
    role: str,
    office_id: int | None,
    now: datetime,
) -> TokenPair:
    account_id: int | None
    if auth_session.member_id:
        kind, account_id = "member", auth_session.member_id
    elif auth_session.staff_id:
        kind, account_id = "staff", auth_session.staff_id
    else:
        kind, account_id = "client", auth_session.integration_client_id
    assert account_id is not None, "a sign-in belongs to a member, a staff user or a client"
    subject = _subject(kind, account_id)
    access_lifetime = timedelta(minutes=settings.access_token_minutes)
    access, _ = keyring.encode(
        subject, "access", access_lifetime, now, role=role, sid=auth_session.id, office=office_id
    )
    refresh_lifetime = timedelta(days=settings.refresh_token_days)
    refresh, jti = keyring.encode(subject, "refresh", refresh_lifetime, now, sid=auth_session.id)
    session.add(RefreshToken(jti=jti, session_id=auth_session.id, issued_at=now, expires_at=now + refresh_lifetime))
    session.flush()
    return TokenPair(access, refresh, int(access_lifetime.total_seconds()), role)


def _open_session(
    session: Session, now: datetime, *, member: Member | None = None, staff: StaffUser | None = None
) -> AuthSession:
    auth_session = AuthSession(
        id=str(uuid.uuid4()),
        member_id=member.id if member else None,
        staff_id=staff.id if staff else None,
        created_at=now,
    )
    session.add(auth_session)
    session.flush()
    return auth_session


def _check_secret(stored: str | None, secret: str, settings: Settings) -> None:
    """Verify a PIN or password (Argon2id; the same work when there is no account), or raise 401."""
    if not verify_secret(stored, secret, settings.password_hashing):
        raise NotAuthenticated("The sign-in details are wrong.", error="wrong_credentials")


def sign_up_member(
    session: Session,
    settings: Settings,
    keyring: KeyRing,
    phone: str,
    code: str,
    pin: str,
    language: Language,
    now: datetime,
) -> TokenPair:
    # The code first: without it, nobody learns whether the number has an account.
    consume_code(session, settings, phone, code, now, purpose=PURPOSE_SIGNUP)
    if session.scalar(select(Member.id).where(Member.phone == phone)) is not None:
        raise Conflict(
            "This phone number already has an account; sign in or reset the PIN.",
            error="phone_taken",
            keep_changes=True,
        )
    member = Member(
        phone=phone,
        pin_hash=hash_secret(pin, settings.password_hashing),
        language=language,
        created_at=now,
        updated_at=now,
    )
    session.add(member)
    session.flush()
    return _issue(session, settings, keyring, _open_session(session, now, member=member), ROLE_MEMBER, None, now)


class StepUpRequired(DomainError):
    """Sign-in needs the PIN and the code sent by SMS to the phone (the same answer whatever the PIN)."""

    status = 401

    def __init__(self) -> None:
        super().__init__(
            "Enter your PIN together with the code sent by SMS to this phone. If no code arrives, check the PIN.",
            errors={"code": ["Enter the code sent by SMS."]},
            keep_changes=True,
            error="step_up_required",
        )


@dataclass(frozen=True)
class _Attempt:
    account_key: str
    address: str
    account_failures: int  # failed sign-ins on this account name within the failure window
    address_over_limit: bool  # too many failed sign-ins from this address (any accounts) lately


def _serialise_account(session: Session, account_key: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # Parallel attempts on one account name (existing or not) take turns, so none skips the count.
        session.execute(sql_text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(account_key.encode())})


# Staff and machine clients have no phone for a step-up: besides the delay per (account, address), their
# account as a whole is slowed once failures from everywhere reach this many times the per-address threshold.
# An attacker can then still slow an officer down, but only with far more failures from many addresses.
ACCOUNT_WIDE_FACTOR = 10


def _delay(
    failures: int, threshold: int, last_failure: datetime | None, delay_max_seconds: int, now: datetime
) -> float:
    """Seconds still to wait: a delay that doubles per failure past ``threshold``, up to ``delay_max_seconds``."""
    if failures < threshold or last_failure is None:
        return 0.0
    last_failure = last_failure if last_failure.tzinfo else last_failure.replace(tzinfo=now.tzinfo)
    delay = min(2 ** min(failures - threshold, 30), delay_max_seconds)
    return (last_failure + timedelta(seconds=delay) - now).total_seconds()


@contextmanager
def _counting_failures(
    session: Session,
    settings: Settings,
    account_key: str,
    client_ip: str,
    now: datetime,
    *,
    delay_max_seconds: int,
    account_wide: bool = False,
) -> Iterator[_Attempt]:
    """Count failed sign-ins per account name and per address, whether or not the account exists.

    Before the check: after ``login_max_failures`` failures on the account name *from this address*, each
    further try from this address waits a delay that doubles per failure up to ``delay_max_seconds`` (429 +
    Retry-After, the secret is not even checked). Someone failing from one address never delays the owner at
    another: members are protected against guessing from many addresses by the step-up (see
    ``sign_in_member``), and with ``account_wide`` (staff, clients, who have no phone) the whole account is
    slowed too once failures from everywhere pass ``ACCOUNT_WIDE_FACTOR`` times the threshold. After the
    check: a failure is recorded; a failure from an address over its limit answers 429 (a correct secret from
    that address is never refused for other people's failures).
    """
    account_key = account_key[:80]
    address = address_key(client_ip)
    _serialise_account(session, account_key)
    window = timedelta(minutes=settings.login_failure_window_minutes)
    on_account = (SignInFailure.account_key == account_key, SignInFailure.created_at > now - window)
    failures, last_failure = session.execute(
        select(func.count(), func.max(SignInFailure.created_at)).where(*on_account)
    ).one()
    here, last_here = session.execute(
        select(func.count(), func.max(SignInFailure.created_at)).where(*on_account, SignInFailure.client_ip == address)
    ).one()
    wait = _delay(here, settings.login_max_failures, last_here, delay_max_seconds, now)
    if account_wide:
        threshold = ACCOUNT_WIDE_FACTOR * settings.login_max_failures
        wait = max(wait, _delay(failures, threshold, last_failure, delay_max_seconds, now))
    if wait > 0:
        raise TooManyRequests(
            "Too many failed sign-ins for this account; wait a moment and try again.",
            error="too_many_failed_sign_ins",
            retry_after=int(wait) + 1,
        )
    address_failures = session.scalar(
        select(func.count()).where(
            SignInFailure.client_ip == address,
            SignInFailure.created_at > now - timedelta(minutes=settings.lockout_minutes),
        )
    )
    attempt = _Attempt(account_key, address, failures, (address_failures or 0) >= settings.login_failures_per_ip)
    try:
        yield attempt
    except (NotAuthenticated, StepUpRequired) as exc:
        session.add(SignInFailure(client_ip=address, account_key=account_key, created_at=now))
        metrics.SIGN_IN_FAILURES.labels(who=_FAILURE_WHO.get(account_key.partition(":")[0], "other")).inc()
        if isinstance(exc, NotAuthenticated) and attempt.address_over_limit:
            raise TooManyRequests(
                "Too many failed sign-ins from this network; check the details and try again later.",
                error="too_many_failed_sign_ins_network",
                retry_after=60 * settings.lockout_minutes,
                keep_changes=True,
            ) from None
        exc.keep_changes = True
        raise
    # Signed in: this account's failures are forgiven (not the address's failures on other accounts).
    session.execute(delete(SignInFailure).where(SignInFailure.account_key == account_key))


_FAILURE_WHO = {"phone": "member", "staff": "staff", "client": "client"}  # account key prefix -> metric label


def _member_key(phone: str) -> str:
    return f"phone:{phone}"


def _send_step_up_code(session: Session, settings: Settings, phone: str, client_ip: str, now: datetime) -> None:
    """A step-up code to the account's phone; over its budget none is sent (earlier ones stay valid)."""
    with suppress(TooManyRequests):
        request_code(session, settings, phone, client_ip, now, purpose=PURPOSE_STEP_UP)


def sign_in_member(
    session: Session,
    settings: Settings,
    keyring: KeyRing,
    phone: str,
    pin: str,
    now: datetime,
    client_ip: str,
    step_up_code: str | None = None,
) -> TokenPair:
    """Phone + PIN; after failures on this phone or from this address, also the code sent to the phone.

    Known and unknown phones answer alike at every step (401, step-up, delay), and so do a wrong PIN and a
    right PIN whose step-up code is missing or wrong: only the owner's phone learns that the PIN was right,
    because only then is a step-up code sent.
    """
    with _counting_failures(
        session, settings, _member_key(phone), client_ip, now, delay_max_seconds=settings.login_delay_max_seconds
    ) as attempt:
        member = session.scalars(select(Member).where(Member.phone == phone).with_for_update()).first()
        step_up = attempt.account_failures >= settings.login_max_failures or attempt.address_over_limit
        try:
            _check_secret(member.pin_hash if member is not None else None, pin, settings)
        except NotAuthenticated:
            if step_up:
                raise StepUpRequired() from None
            raise
        assert member is not None  # a PIN never verifies without an account
        if step_up:
            try:
                if step_up_code is None:
                    raise StepUpRequired()
                consume_code(session, settings, phone, step_up_code, now, purpose=PURPOSE_STEP_UP)
            except (InvalidCode, StepUpRequired):
                _send_step_up_code(session, settings, phone, client_ip, now)
                raise StepUpRequired() from None
    if needs_rehash(member.pin_hash, settings.password_hashing):
        member.pin_hash = hash_secret(pin, settings.password_hashing)
    return _issue(session, settings, keyring, _open_session(session, now, member=member), ROLE_MEMBER, None, now)


class SecondFactorRequired(NotAuthenticated):
    """The password is right and the account has a second factor: send the code from the authenticator app."""

    def __init__(self) -> None:
        super().__init__(
            "Enter the code from your authenticator app.",
            error="second_factor_required",
            errors={"totp_code": ["Enter the 6-digit code from your authenticator app."]},
        )


def sign_in_staff(
    session: Session,
    settings: Settings,
    keyring: KeyRing,
    username: str,
    password: str,
    now: datetime,
    client_ip: str,
    totp_code: str | None = None,
) -> TokenPair:
    """Username + password, and the TOTP code once the account has a second factor. Staff have no phone for a
    step-up: failures (a missing or wrong code too) bring a per-account delay that doubles up to
    ``staff_login_delay_max_seconds`` (never a lock), the same for unknown usernames. A role that
    ``staff_second_factor_roles`` names gets its second factor required here: until one is enrolled, the
    sign-in can only enrol it."""
    username = username.strip().lower()
    with _counting_failures(
        session,
        settings,
        f"staff:{username}",
        client_ip,
        now,
        delay_max_seconds=settings.staff_login_delay_max_seconds,
        account_wide=True,
    ):
        staff = session.scalars(select(StaffUser).where(StaffUser.username == username).with_for_update()).first()
        usable = staff is not None and staff.active
        _check_secret(staff.password_hash if staff is not None and usable else None, password, settings)
        assert staff is not None
        if staff.totp_confirmed_at is not None:
            if not totp_code:
                raise SecondFactorRequired()
            if not accept_totp_code(settings, staff, totp_code, now):
                raise NotAuthenticated("The code from the authenticator app is wrong.", error="totp_code_wrong")
    if staff.role.value in (settings.staff_second_factor_roles or ()) and not staff.second_factor_required:
        staff.second_factor_required = True
    return _issue(
        session, settings, keyring, _open_session(session, now, staff=staff), staff.role.value, staff.office_id, now
    )


def revoke_session(session: Session, session_id: str, reason: str, now: datetime) -> None:
    """End one sign-in: its tokens stop working and the phone it registered gets no more pushes."""
    session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    _switch_off_devices(session, Device.auth_session_id == session_id, now, reason)


def revoke_all_sessions(
    session: Session, now: datetime, reason: str, *, member_id: int | None = None, staff_id: int | None = None
) -> None:
    condition = AuthSession.member_id == member_id if member_id is not None else AuthSession.staff_id == staff_id
    session.execute(
        update(AuthSession)
        .where(condition, AuthSession.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    if member_id is not None:
        _switch_off_devices(session, Device.member_id == member_id, now, reason)


def _switch_off_devices(session: Session, condition: Any, now: datetime, reason: str) -> None:
    session.execute(
        update(Device)
        .where(condition, Device.active.is_(True))
        .values(active=False, deactivated_at=now, deactivated_reason=reason[:32])
        .execution_options(synchronize_session=False)
    )


def refresh_tokens(
    session: Session, settings: Settings, keyring: KeyRing, refresh_token: str, now: datetime
) -> TokenPair:
    verified = keyring.decode(refresh_token, "refresh")
    stored = session.scalars(
        select(RefreshToken).where(RefreshToken.jti == verified.claims["jti"]).with_for_update()
    ).first()
    if stored is None:
        raise NotAuthenticated("The refresh token is not known.", error="refresh_token_unknown")
    auth_session = session.get(AuthSession, stored.session_id)
    if auth_session is None or auth_session.revoked_at is not None:
        raise NotAuthenticated("This session has ended; sign in again.", error="session_ended")
    if stored.used_at is not None:
        revoke_session(session, auth_session.id, "refresh_reuse", now)
        raise NotAuthenticated(
            "This refresh token was already used; the session is ended for safety.",
            error="refresh_token_reused",
            keep_changes=True,
        )
    stored.used_at = now
    if auth_session.integration_client_id is not None:
        raise NotAuthenticated(
            "Machine clients ask for a new token with their credentials.", error="client_cannot_refresh"
        )
    if auth_session.member_id is not None:
        return _issue(session, settings, keyring, auth_session, ROLE_MEMBER, None, now)
    staff = session.get(StaffUser, auth_session.staff_id)
    if staff is None or not staff.active:
        raise NotAuthenticated("This account is disabled.", error="account_disabled")
    return _issue(session, settings, keyring, auth_session, staff.role.value, staff.office_id, now)


def member_language(session: Session, member_id: int) -> str | None:
    """The member's stored language (``lo`` or ``en``), or None if there is no such member."""
    language = session.scalar(select(Member.language).where(Member.id == member_id))
    return None if language is None else str(language.value)


def authenticate_access_token(session: Session, keyring: KeyRing, access_token: str) -> Principal:
    verified = keyring.decode(access_token, "access")
    claims = verified.claims
    auth_session = session.get(AuthSession, claims.get("sid"))
    if auth_session is None or auth_session.revoked_at is not None:
        raise NotAuthenticated("This session has ended; sign in again.", error="session_ended")
    kind, _, raw_id = verified.subject.partition(":")
    if kind not in ("member", "staff", "client") or not raw_id.isdigit():
        raise NotAuthenticated("The token is not valid.", error="token_invalid")
    account_id = int(raw_id)
    if kind == "member":
        if auth_session.member_id != account_id:
            raise NotAuthenticated("The token is not valid.", error="token_invalid")
        return Principal(kind=kind, id=account_id, role=ROLE_MEMBER, office_id=None, session_id=auth_session.id)
    if kind == "client":
        client = session.get(IntegrationClient, account_id)
        if auth_session.integration_client_id != account_id or client is None or not client.active:
            raise NotAuthenticated("The token is not valid.", error="token_invalid")
        return Principal(kind=kind, id=account_id, role=ROLE_CORE, office_id=None, session_id=auth_session.id)
    if auth_session.staff_id != account_id:
        raise NotAuthenticated("The token is not valid.", error="token_invalid")
    # Role and office come from the database, not the token: a disabled or moved officer loses access at once.
    staff = session.get(StaffUser, account_id)
    if staff is None or not staff.active:
        raise NotAuthenticated("This account is disabled.", error="account_disabled")
    return Principal(
        kind=kind,
        id=account_id,
        role=staff.role.value,
        office_id=staff.office_id,
        session_id=auth_session.id,
        restriction=staff_restriction(staff),
    )


def change_pin(
    session: Session,
    settings: Settings,
    member_id: int,
    current_pin: str,
    new_pin: str,
    now: datetime,
    client_ip: str,
) -> None:
    phone = session.scalar(select(Member.phone).where(Member.id == member_id))
    if phone is None:
        raise NotFound("No such member.", error="member_not_found")
    # Guessing the current PIN on a signed-in phone gets the same growing delay as signing in. The account's
    # lock first, then the member row: the order sign_in_member takes them in.
    with _counting_failures(
        session, settings, _member_key(phone), client_ip, now, delay_max_seconds=settings.login_delay_max_seconds
    ):
        member = required(session, Member, member_id, what="member", lock=True)
        _check_secret(member.pin_hash, current_pin, settings)
    if current_pin == new_pin:
        raise InvalidInput(
            "The new PIN must differ from the current one.", error="pin_unchanged", errors={"new_pin": ["unchanged"]}
        )
    member.pin_hash = hash_secret(new_pin, settings.password_hashing)
    revoke_all_sessions(session, now, "pin_changed", member_id=member.id)


def reset_pin(session: Session, settings: Settings, phone: str, code: str, new_pin: str, now: datetime) -> None:
    consume_code(session, settings, phone, code, now, purpose=PURPOSE_PIN_RESET)
    member = session.scalars(select(Member).where(Member.phone == phone).with_for_update()).first()
    if member is None:
        raise NotFound("No account has this phone number; sign up first.", error="phone_not_registered")
    member.pin_hash = hash_secret(new_pin, settings.password_hashing)
    member.failed_logins = 0
    member.locked_until = None
    session.execute(delete(SignInFailure).where(SignInFailure.account_key == _member_key(phone)))
    revoke_all_sessions(session, now, "pin_reset", member_id=member.id)


def create_staff_user(
    session: Session,
    settings: Settings,
    username: str,
    password: str,
    role: StaffRole,
    display_name: str,
    office_id: int | None,
    *,
    district_code: str | None = None,
) -> StaffUser:
    """A staff account. A promoter is bound to one district (``district_code``) and belongs to the office serving
    it, whose officers review what the promoter registers."""
    username = username.strip().lower()
    if role is StaffRole.OFFICER and office_id is None:
        raise InvalidInput(
            "An officer must belong to an office.",
            error="officer_needs_office",
            errors={"office": ["required for officers"]},
        )
    if role is StaffRole.PROMOTER:
        district = session.get(District, district_code) if district_code else None
        if district is None:
            raise InvalidInput(
                "A promoter must be bound to a district.",
                error="promoter_needs_district",
                errors={"district": ["required for promoters"]},
            )
        office_id = office_for_area(session, district.province_code, district.code).id
    else:
        district_code = None
    if len(password) < 10:
        raise InvalidInput(
            "Staff passwords need at least 10 characters.",
            error="password_too_short",
            errors={"password": ["too short"]},
        )
    if session.scalar(select(StaffUser.id).where(StaffUser.username == username)) is not None:
        raise Conflict("The username {username} is taken.", error="username_taken", params={"username": username})
    staff = StaffUser(
        username=username,
        display_name=display_name,
        password_hash=hash_secret(password, settings.password_hashing),
        role=role,
        office_id=office_id,
        district_code=district_code,
    )
    session.add(staff)
    session.flush()
    return staff


def create_integration_client(session: Session, settings: Settings, name: str) -> tuple[IntegrationClient, str]:
    """A new machine client; returns it and its secret, which is shown once and stored only hashed."""
    secret = secrets.token_urlsafe(32)
    client = IntegrationClient(
        client_id=f"core-{secrets.token_hex(6)}", name=name, secret_hash=hash_secret(secret, settings.password_hashing)
    )
    session.add(client)
    session.flush()
    return client, secret


def client_token(
    session: Session,
    settings: Settings,
    keyring: KeyRing,
    client_id: str,
    client_secret: str,
    now: datetime,
    client_ip: str,
) -> TokenPair:
    """OAuth2-style client credentials: an access token with role ``core`` (no refresh token use)."""
    with _counting_failures(
        session,
        settings,
        f"client:{client_id}",
        client_ip,
        now,
        delay_max_seconds=settings.staff_login_delay_max_seconds,
        account_wide=True,
    ):
        client = session.scalars(select(IntegrationClient).where(IntegrationClient.client_id == client_id)).first()
        stored = client.secret_hash if client is not None and client.active else None
        if not verify_secret(stored, client_secret, settings.password_hashing) or client is None:
            raise NotAuthenticated("The client credentials are wrong.", error="wrong_client_credentials")
    auth_session = AuthSession(id=str(uuid.uuid4()), integration_client_id=client.id, created_at=now)
    session.add(auth_session)
    session.flush()
    return _issue(session, settings, keyring, auth_session, ROLE_CORE, None, now)
