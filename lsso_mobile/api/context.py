"""The request's handles: the runtime create_app built, its database session and key ring."""

from __future__ import annotations

from flask import current_app
from sqlalchemy.orm import Session

from lsso_mobile.config import Settings
from lsso_mobile.runtime import Runtime
from lsso_mobile.services.card_tokens import CardSigner
from lsso_mobile.services.tokens import KeyRing


def runtime() -> Runtime:
    return current_app.extensions["lsso_runtime"]


def settings() -> Settings:
    return runtime().settings


def db_session() -> Session:
    scoped = runtime().db.session
    assert scoped is not None
    return scoped()


def keyring() -> KeyRing:
    return current_app.extensions["lsso_keyring"]


def card_signer() -> CardSigner:
    return current_app.extensions["lsso_card_signer"]


def commit() -> None:
    """End the request's unit of work; after-commit jobs are handed to the queue here."""
    db_session().commit()
