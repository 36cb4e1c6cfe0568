"""Every member-facing notice, in Lao and English, in one place to read and translate.

A template's texts are ``str.format`` strings over named parameters. Categories are what members
mute; critical templates (decisions about a member's registration or benefits) always come through.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from lsso_mobile.models import Language

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
    title_lo: str
    body_lo: str
    title_en: str
    body_en: str
    deep_link: str  # app route, may use the same parameters

    def parameters(self) -> set[str]:
        names: set[str] = set()
        for text in (self.title_lo, self.body_lo, self.title_en, self.body_en, self.deep_link):
            names |= {field for _, field, _, _ in string.Formatter().parse(text) if field}
        return names


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
            title_lo="ພວກເຮົາໄດ້ຮັບຄຳຮ້ອງລົງທະບຽນຂອງທ່ານແລ້ວ",
            body_lo="ຫ້ອງການປະກັນສັງຄົມ {office_name_lo} ຈະພິຈາລະນາ ແລະ ແຈ້ງໃຫ້ທ່ານຮູ້.",
            title_en="We received your registration application",
            body_en="The {office_name_en} will review it and let you know.",
            deep_link="lsso://registration/{application_id}",
        ),
        Template(
            key="contributions_received",
            category=CATEGORY_CONTRIBUTIONS,
            critical=False,
            title_lo="ໄດ້ຮັບເງິນສົມທົບແລ້ວ",
            body_lo="ໄດ້ບັນທຶກເງິນສົມທົບ {count} ເດືອນ ເຂົ້າໃນບັນຊີຂອງທ່ານແລ້ວ.",
            title_en="Contributions received",
            body_en="{count} month(s) of contributions were added to your record.",
            deep_link="lsso://contributions",
        ),
        Template(
            key="claim_status_changed",
            category=CATEGORY_BENEFITS,
            critical=True,
            title_lo="{benefit_lo}: {status_lo}",
            body_lo="ຄຳຮ້ອງຂໍ {benefit_lo} ຂອງທ່ານ: {status_lo}. {reason}",
            title_en="Your {benefit_en}: {status_en}",
            body_en="Your {benefit_en} claim is {status_en}. {reason}",
            deep_link="lsso://claims/{claim_id}",
        ),
        Template(
            key="benefit_paid",
            category=CATEGORY_BENEFITS,
            critical=True,
            title_lo="ໄດ້ຈ່າຍເງິນອຸດໜູນແລ້ວ",
            body_lo="ໄດ້ຈ່າຍ {amount} ກີບ ໃຫ້ທ່ານແລ້ວ.",
            title_en="Benefit paid",
            body_en="{amount} kip has been paid to you.",
            deep_link="lsso://payments",
        ),
        Template(
            key="contribution_due",
            category=CATEGORY_CONTRIBUTIONS,
            critical=False,
            title_lo="ແຈ້ງເຕືອນການຈ່າຍເງິນສົມທົບ",
            body_lo="ເງິນສົມທົບເດືອນ {period} ຍັງບໍ່ທັນໄດ້ຈ່າຍ. ກະລຸນາຈ່າຍກ່ອນວັນທີ {due_date}.",
            title_en="Contribution due",
            body_en="Your contribution for {period} is not paid yet. Please pay by {due_date}.",
            deep_link="lsso://contributions",
        ),
        Template(
            key="registration_approved",
            category=CATEGORY_REGISTRATION,
            critical=True,
            title_lo="ການລົງທະບຽນປະກັນສັງຄົມຂອງທ່ານໄດ້ຮັບການອະນຸມັດແລ້ວ",
            body_lo="ເລກສະມາຊິກ ປກສ ຂອງທ່ານແມ່ນ {member_number}.",
            title_en="Your social security registration is approved",
            body_en="Your LSSO member number is {member_number}.",
            deep_link="lsso://registration/{application_id}",
        ),
        Template(
            key="registration_rejected",
            category=CATEGORY_REGISTRATION,
            critical=True,
            title_lo="ຄຳຮ້ອງລົງທະບຽນຂອງທ່ານບໍ່ໄດ້ຮັບການອະນຸມັດ",
            body_lo="ເຫດຜົນ: {reason}",
            title_en="Your registration was not approved",
            body_en="Reason: {reason}",
            deep_link="lsso://registration/{application_id}",
        ),
        Template(
            key="registration_more_info",
            category=CATEGORY_REGISTRATION,
            critical=True,
            title_lo="ຄຳຮ້ອງລົງທະບຽນຂອງທ່ານຕ້ອງການຂໍ້ມູນເພີ່ມເຕີມ",
            body_lo="ກະລຸນາແກ້ໄຂ ແລະ ສົ່ງຄືນ: {reason}",
            title_en="Your registration needs more information",
            body_en="Please correct it and send it again: {reason}",
            deep_link="lsso://registration/{application_id}",
        ),
        Template(
            key="record_linked",
            category=CATEGORY_REGISTRATION,
            critical=True,
            title_lo="ບັນຊີແອັບຂອງທ່ານເຊື່ອມກັບເລກສະມາຊິກ ປກສ ແລ້ວ",
            body_lo="ເລກສະມາຊິກ {member_number} ເຊື່ອມກັບບັນຊີ {account_phone}. ຖ້າບໍ່ແມ່ນທ່ານ, ກະລຸນາຕິດຕໍ່ຫ້ອງການ.",
            title_en="Your app account is linked to your LSSO record",
            body_en="Member number {member_number} is linked to the account {account_phone}. "
            "Not you? Contact your office.",
            deep_link="lsso://me",
        ),
        Template(
            key="record_unlinked",
            category=CATEGORY_REGISTRATION,
            critical=True,
            title_lo="ບັນຊີແອັບຂອງທ່ານບໍ່ໄດ້ເຊື່ອມກັບເລກສະມາຊິກ ປກສ ອີກແລ້ວ",
            body_lo="ຫ້ອງການໄດ້ຍົກເລີກການເຊື່ອມເລກສະມາຊິກ {member_number}: {reason}",
            title_en="Your app account is no longer linked to your LSSO record",
            body_en="Your office unlinked member number {member_number}: {reason}",
            deep_link="lsso://me",
        ),
        Template(
            key="link_request_rejected",
            category=CATEGORY_REGISTRATION,
            critical=True,
            title_lo="ຄຳຂໍເຊື່ອມເລກສະມາຊິກຂອງທ່ານບໍ່ໄດ້ຮັບການອະນຸມັດ",
            body_lo="ເຫດຜົນ: {reason}",
            title_en="Your request to link your LSSO record was not approved",
            body_en="Reason: {reason}",
            deep_link="lsso://me/link-request",
        ),
        Template(
            key="contribution_payment_received",
            category=CATEGORY_CONTRIBUTIONS,
            critical=True,
            title_lo="ໄດ້ຮັບເງິນສົມທົບຂອງທ່ານແລ້ວ",
            body_lo="ໄດ້ຮັບ {amount_lo} ສຳລັບເດືອນ {months}. ໃບເກັບເງິນ {bill_number}. ລໍຖ້າການຢືນຢັນຈາກ ປກສ.",
            title_en="Contribution payment received",
            body_en="{amount_en} received for {months}. Bill {bill_number}. Awaiting LSSO confirmation.",
            deep_link="lsso://bills/{bill_id}",
        ),
        Template(
            key="conversation_reply",
            category=CATEGORY_MESSAGES,
            critical=False,
            title_lo="ຄຳຕອບຈາກ {office_name_lo}",
            body_lo="{subject}: {preview}",
            title_en="Reply from the {office_name_en}",
            body_en="{subject}: {preview}",
            deep_link="lsso://conversations/{conversation_id}",
        ),
    )
}


def format_kip(amount: int, language: Language | str) -> str:
    """The one money format for SMS, push, API texts and the console: CLDR grouping in the reader's language
    (Lao groups with "."), then the unit: ``108.000 ກີບ`` / ``108,000 kip``."""
    from babel.numbers import format_decimal

    if str(language) == Language.ENGLISH.value:
        return f"{format_decimal(amount, locale='en')} kip"
    return f"{format_decimal(amount, locale='lo')} ກີບ"


# SMS texts, one per language: the member's language is used (Lao by default).
SMS_TEMPLATES: dict[str, tuple[str, str]] = {
    "bill_number": (
        "ປກສ: ເລກໃບເກັບເງິນ {bill_number}, ຈຳນວນ {amount}. ຈ່າຍໄດ້ທີ່ທະນາຄານ ຫຼື ຕົວແທນ ກ່ອນ {expires}.",
        "LSSO: bill number {bill_number}, amount {amount}. Pay at a bank counter or agent before {expires}.",
    ),
    "payment_receipt": (
        "ປກສ: ໄດ້ຮັບ {amount} ສຳລັບເດືອນ {months}, ໃບເກັບເງິນ {bill_number}. ຂອບໃຈ.",
        "LSSO: received {amount} for {months}, bill {bill_number}. Thank you.",
    ),
}


def sms_text(key: str, language: Language | str, **params: Any) -> str:
    lao, english = SMS_TEMPLATES[key]
    return (english if str(language) == Language.ENGLISH.value else lao).format(**params)


def render(template_key: str, params: dict[str, Any]) -> RenderedNotice:
    template = TEMPLATES[template_key]
    missing = template.parameters() - params.keys()
    if missing:
        raise KeyError(f"template {template_key} needs {', '.join(sorted(missing))}")
    return RenderedNotice(
        title_lo=template.title_lo.format(**params),
        body_lo=template.body_lo.format(**params),
        title_en=template.title_en.format(**params),
        body_en=template.body_en.format(**params),
        deep_link=template.deep_link.format(**params),
    )
