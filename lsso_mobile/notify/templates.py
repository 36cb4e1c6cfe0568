"""Every member-facing notice, in one place to read; its texts are in the gettext catalogue.

A template's title and body are English catalogue ids (``str.format`` strings over named parameters); the Lao
text is their entry in ``translations/lo``. A parameter given as ``name_lo`` and ``name_en`` fills ``{name}``
in each language; ``Money``, dates and ``Period`` values are written by ``lsso_mobile.i18n`` (CLDR), the same
way as everywhere else. Categories are what members mute; critical templates (decisions about a member's
registration or benefits) always come through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from lsso_mobile import i18n
from lsso_mobile.i18n import Money, Period
from lsso_mobile.models import Language
from lsso_mobile.notify.sms_text import fit

CATEGORY_REGISTRATION = "registration"
CATEGORY_CONTRIBUTIONS = "contributions"
CATEGORY_BENEFITS = "benefits"
CATEGORY_MESSAGES = "messages"
CATEGORY_NEWS = "news"
CATEGORIES = (CATEGORY_REGISTRATION, CATEGORY_CONTRIBUTIONS, CATEGORY_BENEFITS, CATEGORY_MESSAGES, CATEGORY_NEWS)


@dataclass(frozen=True)
class Template:
    key: str
    category: str
    critical: bool
    title: str  # English catalogue ids
    body: str
    deep_link: str  # app route, may use the same parameters
    # The body when ``optional`` (a parameter) is empty: no dangling "Reason: -".
    body_without: str | None = None
    optional: str | None = None

    @property
    def title_lo(self) -> str:
        return i18n.gettext(self.title, i18n.LAO)

    @property
    def body_lo(self) -> str:
        return i18n.gettext(self.body, i18n.LAO)

    @property
    def title_en(self) -> str:
        return self.title

    @property
    def body_en(self) -> str:
        return self.body

    @property
    def sms_lo(self) -> str:
        return i18n.gettext(self.sms, i18n.LAO) if self.sms else ""

    @property
    def sms_en(self) -> str:
        return self.sms

    def texts(self) -> tuple[str, ...]:
        """Every catalogue id of this template."""
        return tuple(t for t in (self.title, self.body, self.body_without, self.sms) if t)

    # The SMS short form (sent when the app did not acknowledge the notice in time, or to members who chose
    # SMS only), an English catalogue id like the title and body: at most ``sms_parts`` parts once filled in (Lao
    # is UCS-2: 70 characters, 67 a part when split); longer parameters are cut to fit. Without one, the SMS is
    # the title and body, cut to fit.
    sms: str = ""
    sms_parts: int = 2

    def parameters(self) -> set[str]:
        """The parameters ``render`` needs (a language-dependent one as ``name_lo`` and ``name_en``)."""
        names: set[str] = set()
        for text in self.texts():
            for name in i18n.placeholders(text) | i18n.placeholders(i18n.gettext(text, i18n.LAO)):
                names |= {f"{name}_lo", f"{name}_en"} if name in LANGUAGE_DEPENDENT else {name}
        names |= i18n.placeholders(self.deep_link)
        if self.optional:
            names.discard(self.optional)
        return names


# Parameters that come as ``name_lo`` and ``name_en``.
LANGUAGE_DEPENDENT = frozenset({"office_name", "benefit", "status"})


@dataclass(frozen=True)
class RenderedNotice:
    title_lo: str
    body_lo: str
    title_en: str
    body_en: str
    deep_link: str

    def title(self, language: Language | str) -> str:
        return self.title_en if str(language) == Language.ENGLISH.value else self.title_lo

    def body(self, language: Language | str) -> str:
        return self.body_en if str(language) == Language.ENGLISH.value else self.body_lo


TEMPLATES: dict[str, Template] = {
    t.key: t
    for t in (
        Template(
            key="registration_received",
            category=CATEGORY_REGISTRATION,
            critical=False,
            title="We received your registration application",
            body="The {office_name} will review it and let you know.",
            deep_link="lsso://registration/{application_id}",
            sms="LSSO: we received your registration application and will let you know the decision.",
            sms_parts=1,
        ),
        Template(
            key="contributions_received",
            category=CATEGORY_CONTRIBUTIONS,
            critical=False,
            title="Contributions received",
            body="{count} month(s) of contributions were added to your record.",
            deep_link="lsso://contributions",
            sms="LSSO: {count} month(s) of contributions were added to your record.",
            sms_parts=1,
        ),
        Template(
            key="claim_status_changed",
            category=CATEGORY_BENEFITS,
            critical=True,
            title="Your {benefit}: {status}",
            body="Your {benefit} claim is {status}. {reason}",
            body_without="Your {benefit} claim is {status}.",
            optional="reason",
            deep_link="lsso://claims/{claim_id}",
            sms="LSSO: your {benefit} claim is {status}. {reason}",
            sms_parts=2,
        ),
        Template(
            key="benefit_paid",
            category=CATEGORY_BENEFITS,
            critical=True,
            title="Benefit paid",
            body="{amount} has been paid to you.",
            deep_link="lsso://payments",
            sms="LSSO: {amount} has been paid to you.",
            sms_parts=1,
        ),
        Template(
            key="contribution_due",
            category=CATEGORY_CONTRIBUTIONS,
            critical=False,
            title="Contribution due",
            body="Your contribution for {period} is not paid yet. Please pay by {due_date}.",
            deep_link="lsso://contributions",
            sms="LSSO: your contribution for {period} is not paid yet. Please pay by {due_date}.",
            sms_parts=2,
        ),
        Template(
            key="registration_approved",
            category=CATEGORY_REGISTRATION,
            critical=True,
            title="Your social security registration is approved",
            body="Your LSSO member number is {member_number}.",
            deep_link="lsso://registration/{application_id}",
            sms="LSSO: your registration is approved. Member number: {member_number}",
            sms_parts=1,
        ),
        Template(
            key="registration_rejected",
            category=CATEGORY_REGISTRATION,
            critical=True,
            title="Your registration was not approved",
            body="Reason: {reason}",
            deep_link="lsso://registration/{application_id}",
            sms="LSSO: your registration was not approved. Reason: {reason}",
            sms_parts=2,
        ),
        Template(
            key="registration_more_info",
            category=CATEGORY_REGISTRATION,
            critical=True,
            title="Your registration needs more information",
            body="Please correct it and send it again: {reason}",
            deep_link="lsso://registration/{application_id}",
            sms="LSSO: your registration needs more information: {reason}",
            sms_parts=2,
        ),
        Template(
            key="record_linked",
            category=CATEGORY_REGISTRATION,
            critical=True,
            title="Your app account is linked to your LSSO record",
            body="Member number {member_number} is linked to the account {account_phone}. "
            "Not you? Contact your office.",
            deep_link="lsso://me",
            sms="LSSO: member number {member_number} is linked to the account {account_phone}. "
            "Not you? Contact your office.",
            sms_parts=2,
        ),
        Template(
            key="record_unlinked",
            category=CATEGORY_REGISTRATION,
            critical=True,
            title="Your app account is no longer linked to your LSSO record",
            body="Your office unlinked member number {member_number}: {reason}",
            deep_link="lsso://me",
            sms="LSSO: your office unlinked member number {member_number}: {reason}",
            sms_parts=2,
        ),
        Template(
            key="link_request_rejected",
            category=CATEGORY_REGISTRATION,
            critical=True,
            title="Your request to link your LSSO record was not approved",
            body="Reason: {reason}",
            deep_link="lsso://me/link-request",
            sms="LSSO: your request to link your record was not approved. Reason: {reason}",
            sms_parts=2,
        ),
        Template(
            key="contribution_payment_received",
            category=CATEGORY_CONTRIBUTIONS,
            critical=True,
            title="Contribution payment received",
            body="{amount} received for {months}. Bill {bill_number}. Awaiting LSSO confirmation.",
            sms="LSSO: received {amount} for {months}, bill {bill_number}.",
            sms_parts=2,
            deep_link="lsso://bills/{bill_id}",
        ),
        Template(
            key="conversation_reply",
            category=CATEGORY_MESSAGES,
            critical=False,
            title="Reply from the {office_name}",
            body="{subject}: {preview}",
            deep_link="lsso://conversations/{conversation_id}",
            sms="LSSO: new reply from the {office_name}. Open the app to read it.",
            sms_parts=2,
        ),
    )
}


def localised_params(params: dict[str, Any], language: str) -> dict[str, Any]:
    """``params`` for one language: ``name_lo``/``name_en`` become ``name``; money, days and months written
    the one way (``lsso_mobile.i18n``)."""
    suffix = f"_{language}"
    values: dict[str, Any] = {}
    for key, value in params.items():
        if key.endswith(("_lo", "_en")) and key[:-3] in LANGUAGE_DEPENDENT:
            if key.endswith(suffix):
                values[key[:-3]] = value
            continue
        values.setdefault(key, value)
    for key, value in values.items():
        if isinstance(value, Money):
            values[key] = i18n.format_money(value.kip, language)
        elif isinstance(value, Period):
            values[key] = i18n.format_period(value.period, language)
        elif isinstance(value, date):
            values[key] = i18n.format_date(value, language)
    return values


# Answers to SMS look-ups (services/sms_lookup.py), said in Lao: people without the app text the service.
LOOKUP_TEXTS: dict[str, str] = {
    "balance": "LSSO {member_number}: {months} months of contributions paid, the latest {last_paid}.",
    "arrears": "{count} months in arrears since {first}: {total}.",
    "no_arrears": "No arrears.",
    "help": "LSSO: send BALANCE to see your contributions and arrears, BILL to see your open bill. Send HELP to see "
    "this message.",
    "unknown_phone": "LSSO: sorry, this number is not on an LSSO record. Please contact your social security office.",
    "choose_member": "LSSO: this number has several member numbers. Send BALANCE and the member number, e.g. "
    "BALANCE {example}",
    # BILL (services/payments.py registers it)
    "open_bill": "LSSO {member_number}: bill {bill_number}, {amount}, pay before {expires}. Pay with this number at "
    "a bank or agent, or in cash at your office.",
    "more_open_bills": "{count} more open bills: see the LSSO app.",
    "no_open_bill": "LSSO {member_number}: no open bill. Make one in the LSSO app, or pay in cash at your social "
    "security office.",
    "bill_employer_pays": "LSSO {member_number}: your employer pays your contributions; there is no bill to pay.",
}


def lookup_text(key: str, params: dict[str, Any]) -> str:
    """The answer ``key`` to an SMS look-up, in Lao."""
    return i18n.translate(LOOKUP_TEXTS[key], i18n.LAO, localised_params(params, i18n.LAO))


def render_sms(template_key: str, notice: RenderedNotice, params: dict[str, Any]) -> tuple[str, str]:
    """The notice's SMS in Lao and English, each cut to the template's number of parts."""
    template = TEMPLATES.get(template_key)
    parts = template.sms_parts if template is not None else 2
    if template is not None and template.sms:
        lo, en = (
            i18n.translate(template.sms, language, localised_params(params, language)) for language in i18n.LANGUAGES
        )
    else:  # a template without a short form: its title and body
        lo, en = f"{notice.title_lo}. {notice.body_lo}", f"{notice.title_en}. {notice.body_en}"
    return fit(" ".join(lo.split()), parts), fit(" ".join(en.split()), parts)


def render(template_key: str, params: dict[str, Any]) -> RenderedNotice:
    template = TEMPLATES[template_key]
    missing = template.parameters() - params.keys()
    if missing:
        raise KeyError(f"template {template_key} needs {', '.join(sorted(missing))}")
    body = template.body
    if template.optional and not str(params.get(template.optional) or "").strip():
        body = template.body_without or body
    texts: dict[str, tuple[str, str]] = {}
    for language in (i18n.LAO, i18n.ENGLISH):
        values = localised_params(params, language)
        texts[language] = (i18n.translate(template.title, language, values), i18n.translate(body, language, values))
    return RenderedNotice(
        title_lo=texts[i18n.LAO][0],
        body_lo=texts[i18n.LAO][1],
        title_en=texts[i18n.ENGLISH][0],
        body_en=texts[i18n.ENGLISH][1],
        deep_link=template.deep_link.format(**params),
    )


# -- SMS texts -------------------------------------------------------------------------------------------
#
# An SMS goes to a phone whose owner's language is not known (a code to sign up, the phone on an LSSO
# record), so it says it in Lao and then in English. Each text is two catalogue ids: the Lao part is the Lao
# entry of ``short``, the English part is ``full`` (Lao script takes the SMS to UCS-2: 67 characters a part).

SMS_TEXTS: dict[str, tuple[str, str]] = {
    "code_signup": (
        "LSSO code to sign up: {code}.",
        "LSSO code to sign up: {code}. Valid {minutes} min. Do not share it.",
    ),
    "code_pin_reset": (
        "LSSO code to reset your PIN: {code}.",
        "LSSO code to reset your PIN: {code}. Valid {minutes} min. Do not share it.",
    ),
    "code_step_up": (
        "LSSO code to sign in: {code}.",
        "LSSO code to sign in: {code}. Valid {minutes} min. Do not share it. Not you? Someone tried your PIN: "
        "change it.",
    ),
    "link_code": (
        "LSSO: someone asked to link member number {member_number} to the app account {account}. Code: {code}. "
        "If this was not you, do not share it with anyone.",
        "LSSO: someone asked to link member number {member_number} to the app account {account}. Code {code}, "
        "valid {minutes} min. If this was not you, do not share it with anyone.",
    ),
    "record_linked": (
        "LSSO: your member number {member_number} is now linked to the app account {account}. "
        "If this was not you, contact your office.",
        "LSSO: your member number {member_number} is now linked to the app account {account}. "
        "If this was not you, contact your office.",
    ),
    "link_request": (
        "LSSO: someone asked your office to link member number {member_number} to the app account {account}. "
        "If this was not you, contact your office.",
        "LSSO: someone asked your office to link member number {member_number} to the app account {account}. "
        "If this was not you, contact your office.",
    ),
}


def sms_text(key: str, params: dict[str, Any]) -> str:
    """The SMS ``key`` in Lao, then in English, with ``params`` filled in."""
    short, full = SMS_TEXTS[key]
    return f"{i18n.translate(short, i18n.LAO, params)} {i18n.translate(full, i18n.ENGLISH, params)}"


# SMS to a member, whose language is known: one catalogue id, said in the member's language.
MEMBER_SMS_TEXTS: dict[str, str] = {
    "bill_number": "LSSO: bill number {bill_number}, amount {amount}. Pay at a bank counter or agent before {expires}.",
    "payment_receipt": "LSSO: received {amount} for {months}, bill {bill_number}. Thank you.",
}


def member_sms_text(key: str, language: Language | str, params: dict[str, Any]) -> str:
    """The SMS ``key`` in the member's ``language`` (money and days written the one way)."""
    language = i18n.normalise_language(str(language))
    return i18n.translate(MEMBER_SMS_TEXTS[key], language, localised_params(params, language))
