"""The services' refusals, in the officer's language.

Services raise errors whose message is a constant English catalogue id with its parameters beside it
(``lsso_mobile/errors.py``), so the console translates by the id itself, as the API does: no matching of texts.
The catalogue is the one ``translations/lo`` the API and notices use (``tests/test_catalogue.py`` checks every
message has a Lao entry).
"""

from __future__ import annotations

from flask_babel import gettext

from lsso_mobile import i18n
from lsso_mobile.errors import DomainError


def translate(exc: DomainError) -> str:
    """The error's message in the console's language, with its parameters filled in."""
    return i18n.fill(gettext(exc.message), exc.params)
