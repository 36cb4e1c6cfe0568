"""Identity numbers: national ID and family-book numbers compared in one form, and member numbers the
app issues (not a sequence an outsider can walk)."""

from __future__ import annotations

import re
import secrets
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from lsso_mobile.models import IdType, InsuredPerson

MEMBER_NUMBER_RANDOM_DIGITS = 7  # province code (2) + 7 random digits + 1 check digit = 10 digits
MEMBER_NUMBER_TRIES = 20


def normalise_id_number(raw: str) -> str:
    """``la-0101 123456`` -> ``LA0101123456``: spaces and dashes go, letters are upper case."""
    return re.sub(r"[\s\-]+", "", raw or "").upper()


def luhn_check_digit(digits: str) -> str:
    """The Luhn digit that makes ``digits + check`` valid: catches every single-digit typo and most swaps."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # doubled: these become the odd positions once the check digit is appended
            value = value * 2 - 9 if value * 2 > 9 else value * 2
        total += value
    return str((10 - total % 10) % 10)


def is_valid_member_number(number: str) -> bool:
    return len(number) == 10 and number.isdigit() and luhn_check_digit(number[:-1]) == number[-1]


def new_member_number(session: Session, province_code: str) -> str:
    """Province code, random digits and a check digit; unique among insured persons (retried on collision).

    One in ten million numbers per province is taken at random, so knowing one member number tells
    nothing about the next; the check digit lets the app and counters catch a mistyped number.
    """
    for _ in range(MEMBER_NUMBER_TRIES):
        body = province_code + f"{secrets.randbelow(10**MEMBER_NUMBER_RANDOM_DIGITS):0{MEMBER_NUMBER_RANDOM_DIGITS}d}"
        number = body + luhn_check_digit(body)
        if session.scalar(select(InsuredPerson.id).where(InsuredPerson.member_number == number)) is None:
            return number
    raise RuntimeError(f"no free member number found for province {province_code} in {MEMBER_NUMBER_TRIES} tries")


def insured_with_id(
    session: Session,
    id_type: IdType,
    national_id: str,
    date_of_birth: date,
    exclude_member_number: str | None = None,
) -> InsuredPerson | None:
    """The insured person who already holds this national ID; a family-book number is shared by a
    household, so there it must be the same number and the same date of birth."""
    query = select(InsuredPerson).where(InsuredPerson.id_type == id_type, InsuredPerson.national_id == national_id)
    if id_type is IdType.FAMILY_BOOK:
        query = query.where(InsuredPerson.date_of_birth == date_of_birth)
    if exclude_member_number is not None:
        query = query.where(InsuredPerson.member_number != exclude_member_number)
    return session.scalars(query.limit(1)).first()
