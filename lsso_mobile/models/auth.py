"""One-time codes, sign-in sessions (refresh-token families) and refresh tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from lsso_mobile.models.base import Base, utcnow


class OtpCode(Base):
    """A code sent by SMS for one purpose; its keyed hash is kept for checking.

    Until the SMS job has sent it, the code is also kept sealed (AES-GCM under a key derived from the
    secret key) so that the job queue in Redis holds only this row's id; the job wipes it once sent.
    ``requester_ip`` is the caller's address as counted: IPv4 as it is, IPv6 by its /64.
    """

    __tablename__ = "otp_codes"
    __table_args__ = (
        Index("ix_otp_codes_phone_created", "phone", "created_at"),
        Index("ix_otp_codes_ip_created", "requester_ip", "created_at"),
        Index("ix_otp_codes_phone_purpose_expires", "phone", "purpose", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16), default="signup", server_default="signup")
    code_hash: Mapped[str] = mapped_column(String(64))
    sealed_code: Mapped[str | None] = mapped_column(String(120))
    requester_ip: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    consumed_at: Mapped[datetime | None]


class AuthSession(Base):
    """One sign-in: the family of refresh tokens rotated from it."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    integration_client_id: Mapped[int | None] = mapped_column(ForeignKey("integration_clients.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


class RefreshToken(Base):
    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("auth_sessions.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class SignInFailure(Base):
    """A failed PIN or password sign-in, counted per address (IPv6 by its /64) to slow down guessing
    across accounts, and per account name (``phone:+856...``, ``staff:name``, ``client:id``) whether or
    not that account exists, so that known and unknown accounts behave alike."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (
        Index("ix_sign_in_failures_ip_created", "client_ip", "created_at"),
        Index("ix_sign_in_failures_account_created", "account_key", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_ip: Mapped[str] = mapped_column(String(64))
    account_key: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IntegrationClient(Base):
    """A machine client (the LSSO core system): client id + secret, never a member or staff login."""

    __tablename__ = "integration_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
