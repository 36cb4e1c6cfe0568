"""SMS look-ups: a person texts a keyword to the service's number and gets an answer in Lao.

The gateway's inbound webhook brings (from, text, message id). Only the phone on record in the register
(``insured_persons.phone``) gets figures; any other phone gets a polite refusal. Each phone may ask
``LSSO_SMS_LOOKUPS_PER_HOUR`` times an hour (more get no answer at all, so a flood costs us nothing), and
a webhook the gateway retries counts once (its message id is unique). The text is not kept, only the
keyword. Answers go through the SMS outbox like every other SMS.

Keywords live in one registry: ``register_keyword(("bill", "ບິນ"), "bill", handler)`` adds one. A handler
gets the person(s) on record for the phone and answers the reply's text. ``services/payments.py`` adds "bill"
(the member's oldest open bill: number, amount, expiry) this way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lsso_mobile.config import Settings
from lsso_mobile.errors import InvalidInput
from lsso_mobile.i18n import Money
from lsso_mobile.models import InboundSms, InsuredPerson, Member
from lsso_mobile.notify.sms_text import fit
from lsso_mobile.notify.templates import lookup_text
from lsso_mobile.services.contributions import summarise
from lsso_mobile.services.phones import normalise_lao_mobile
from lsso_mobile.services.sms import queue_sms

LOOKUP_WINDOW = timedelta(hours=1)
REPLY_PARTS = 3
PURPOSE_LOOKUP = "lookup_reply"


@dataclass(frozen=True)
class Lookup:
    session: Session
    settings: Settings
    phone: str
    person: InsuredPerson
    now: datetime


Handler = Callable[[Lookup], str]


@dataclass(frozen=True)
class Keyword:
    name: str  # recorded with the inbound SMS
    handler: Handler


KEYWORDS: dict[str, Keyword] = {}


def register_keyword(words: tuple[str, ...], name: str, handler: Handler) -> None:
    """Every spelling in ``words`` (compared case-folded) answers with ``handler``."""
    for word in words:
        KEYWORDS[word.casefold()] = Keyword(name, handler)


def _text(key: str, **params: object) -> str:
    return lookup_text(key, params)


def balance_answer(lookup: Lookup) -> str:
    summary = summarise(lookup.session, lookup.person, lookup.now)
    answer = _text(
        "balance",
        member_number=summary.member_number,
        months=summary.total_months,
        last_paid=summary.last_paid_period or "-",
    )
    if summary.arrears:
        answer += " " + _text(
            "arrears",
            count=len(summary.arrears),
            first=summary.arrears[0].period,
            total=Money(summary.arrears_total),
        )
    else:
        answer += " " + _text("no_arrears")
    return answer


def help_answer(lookup: Lookup) -> str:
    return _text("help")


register_keyword(("balance", "bal", "ຍອດ", "ຍອດເງິນ", "ເງິນສົມທົບ"), "balance", balance_answer)
register_keyword(("help", "?", "ຊ່ວຍ", "ຊ່ວຍເຫຼືອ"), "help", help_answer)


def _persons_on_record(session: Session, phone: str) -> list[InsuredPerson]:
    return list(
        session.scalars(
            select(InsuredPerson).where(InsuredPerson.phone == phone).order_by(InsuredPerson.member_number).limit(10)
        )
    )


def _member_of(session: Session, person: InsuredPerson) -> Member | None:
    return session.scalars(select(Member).where(Member.insured_person_id == person.id)).first()


def receive_inbound(
    session: Session, settings: Settings, sender: str, text: str, gateway_message_id: str, now: datetime
) -> str:
    """Answer one inbound SMS (or not); returns what happened: answered, refused, limited, duplicate."""
    if session.scalar(select(InboundSms.id).where(InboundSms.gateway_message_id == gateway_message_id)):
        return "duplicate"
    words = text.split()
    first = words[0].casefold() if words else ""
    keyword = KEYWORDS.get(first)
    try:
        phone = normalise_lao_mobile(sender)
    except InvalidInput:
        phone = None
    record = InboundSms(
        gateway_message_id=gateway_message_id,
        phone=(phone or sender.strip())[:32],
        keyword=(keyword.name if keyword else "unknown")[:16],
        outcome="refused",
        received_at=now,
    )
    recent = session.scalar(
        select(func.count())
        .select_from(InboundSms)
        .where(InboundSms.phone == record.phone, InboundSms.received_at > now - LOOKUP_WINDOW)
    )
    session.add(record)
    if (recent or 0) >= settings.sms_lookups_per_hour:
        record.outcome = "limited"
        session.flush()
        return record.outcome
    if phone is None:  # not a Lao mobile number: nothing we can answer
        session.flush()
        return record.outcome
    persons = _persons_on_record(session, phone)
    if len(words) > 1 and persons:  # "balance 0112345678": one of the records on this phone
        persons = [p for p in persons if p.member_number == words[1]]
    if not persons and (keyword is None or keyword.name != "help"):
        reply = _text("unknown_phone")  # only the phone on record gets figures; others a polite refusal
    elif keyword is None or keyword.name == "help":
        reply = _text("help")
        record.outcome = "answered"
    elif len(persons) > 1:  # a shared phone: which record?
        reply = _text("choose_member", example=persons[0].member_number)
        record.outcome = "answered"
    else:
        reply = keyword.handler(Lookup(session, settings, phone, persons[0], now))
        record.outcome = "answered"
    member = _member_of(session, persons[0]) if len(persons) == 1 else None
    message = queue_sms(
        session,
        settings,
        phone,
        fit(reply, REPLY_PARTS),
        PURPOSE_LOOKUP,
        member_id=member.id if member else None,
        office_id=persons[0].office_id if len(persons) == 1 else None,
        category="lookup",
    )
    record.reply_sms_id = message.id
    session.flush()
    return record.outcome
