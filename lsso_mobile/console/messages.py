"""The services' refusals, in the officer's language. Services speak English; each message an officer can
meet in the console is listed here so the extractor puts it in the catalogue. Anything else shows as it is."""

from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from lsso_mobile.errors import DomainError, TooManyRequests

KNOWN = [
    _l("The sign-in details are wrong."),
    _l("Too many failed sign-ins from this network; try again later."),
    _l("A reason is required to reject or send back an application."),
    _l("A reason is required for this status."),
    _l("No such conversation in your office."),
    _l("No such application in your office."),
    _l("No such claim in your office."),
    _l("No such member in your office."),
    _l("No such attachment."),
    _l("Assign to yourself or an active officer of your office."),
    _l("The cursor is not valid; start again without one."),
    _l("Type 2 to 100 characters to search."),
    _l("No such link request in your office."),
    _l("A reason is required to reject a link request."),
    _l("This account is already linked to a member number."),
    _l("This member number is already linked to another app account; your office can unlink it."),
]


def translate(exc: DomainError) -> str:
    if isinstance(exc, TooManyRequests) and exc.message.startswith("Too many failed"):
        return gettext("Too many failed sign-ins from this network; try again later.")
    if exc.message.startswith("The application is ") and "only submitted" in exc.message:
        return gettext("This application is already decided.")
    if exc.message.startswith("The link request is ") and "only pending" in exc.message:
        return gettext("This link request is already decided.")
    if exc.message.startswith("The claim is ") and "no longer change" in exc.message:
        return gettext("This claim is paid; its status can no longer change.")
    return gettext(exc.message)
