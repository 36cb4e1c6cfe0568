"""Every member-facing notice, in Lao and English, in one place to read and translate.

A template's texts are ``str.format`` strings over named parameters. Categories are what members
mute; critical templates (decisions about a member's registration or benefits) always come through.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any

from babel.numbers import format_decimal

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
    title_lo: str
    body_lo: str
    title_en: str
    body_en: str
    deep_link: str  # app route, may use the same parameters
    # The SMS short form (sent when the app did not acknowledge the notice in time, or to members who chose
    # SMS only): at most ``sms_parts`` parts once filled in (Lao is UCS-2: 70 characters, 67 a part when
    # split); longer parameters are cut to fit. Without one, the SMS is the title and body, cut to fit.
    sms_lo: str = ""
    sms_en: str = ""
    sms_parts: int = 2

    def parameters(self) -> set[str]:
        names: set[str] = set()
        for text in (
            self.title_lo,
            self.body_lo,
            self.title_en,
            self.body_en,
            self.deep_link,
            self.sms_lo,
            self.sms_en,
        ):
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
            sms_lo="ປກສ: ໄດ້ຮັບຄຳຮ້ອງລົງທະບຽນຂອງທ່ານແລ້ວ. ຈະແຈ້ງຜົນໃຫ້ທ່ານຮູ້.",
            sms_en="LSSO: we received your registration application and will let you know the decision.",
            sms_parts=1,
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
            sms_lo="ປກສ: ໄດ້ບັນທຶກເງິນສົມທົບ {count} ເດືອນ ເຂົ້າບັນຊີທ່ານແລ້ວ.",
            sms_en="LSSO: {count} month(s) of contributions were added to your record.",
            sms_parts=1,
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
            sms_lo="ປກສ: ຄຳຮ້ອງ {benefit_lo}: {status_lo}. {reason}",
            sms_en="LSSO: your {benefit_en} claim is {status_en}. {reason}",
            sms_parts=2,
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
            sms_lo="ປກສ: ໄດ້ຈ່າຍ {amount} ກີບ ໃຫ້ທ່ານແລ້ວ.",
            sms_en="LSSO: {amount} kip has been paid to you.",
            sms_parts=1,
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
            sms_lo="ປກສ: ເງິນສົມທົບເດືອນ {period} ຍັງບໍ່ໄດ້ຈ່າຍ. ກະລຸນາຈ່າຍກ່ອນ {due_date}.",
            sms_en="LSSO: your contribution for {period} is not paid yet. Please pay by {due_date}.",
            sms_parts=2,
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
            sms_lo="ປກສ: ການລົງທະບຽນຂອງທ່ານອະນຸມັດແລ້ວ. ເລກສະມາຊິກ: {member_number}",
            sms_en="LSSO: your registration is approved. Member number: {member_number}",
            sms_parts=1,
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
            sms_lo="ປກສ: ຄຳຮ້ອງລົງທະບຽນບໍ່ໄດ້ຮັບອະນຸມັດ. ເຫດຜົນ: {reason}",
            sms_en="LSSO: your registration was not approved. Reason: {reason}",
            sms_parts=2,
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
            sms_lo="ປກສ: ຄຳຮ້ອງລົງທະບຽນຕ້ອງການຂໍ້ມູນເພີ່ມ: {reason}",
            sms_en="LSSO: your registration needs more information: {reason}",
            sms_parts=2,
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
            sms_lo="ປກສ: ເລກສະມາຊິກ {member_number} ເຊື່ອມກັບບັນຊີ {account_phone}. ບໍ່ແມ່ນທ່ານ? ຕິດຕໍ່ຫ້ອງການ.",
            sms_en="LSSO: member number {member_number} is linked to the account {account_phone}. "
            "Not you? Contact your office.",
            sms_parts=2,
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
            sms_lo="ປກສ: ຫ້ອງການຍົກເລີກການເຊື່ອມເລກສະມາຊິກ {member_number}: {reason}",
            sms_en="LSSO: your office unlinked member number {member_number}: {reason}",
            sms_parts=2,
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
            sms_lo="ປກສ: ຄຳຂໍເຊື່ອມເລກສະມາຊິກບໍ່ໄດ້ຮັບອະນຸມັດ. ເຫດຜົນ: {reason}",
            sms_en="LSSO: your request to link your record was not approved. Reason: {reason}",
            sms_parts=2,
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
            sms_lo="ປກສ: ມີຄຳຕອບໃໝ່ຈາກ {office_name_lo}. ເປີດແອັບເພື່ອອ່ານ.",
            sms_en="LSSO: new reply from the {office_name_en}. Open the app to read it.",
            sms_parts=2,
        ),
    )
}


# Answers to SMS look-ups (services/sms_lookup.py), in Lao: people without the app text the service.
LOOKUP_TEXTS: dict[str, str] = {
    "balance": "ປກສ {member_number}: ສົ່ງເງິນສົມທົບແລ້ວ {months} ເດືອນ, ເດືອນລ່າສຸດ {last_paid}.",
    "arrears": "ຄ້າງຈ່າຍ {count} ເດືອນ ແຕ່ {first}: {total}.",
    "no_arrears": "ບໍ່ມີເງິນຄ້າງຈ່າຍ.",
    "help": "ປກສ: ສົ່ງ ຍອດ (BALANCE) ເພື່ອເບິ່ງເງິນສົມທົບ ແລະ ເງິນຄ້າງຈ່າຍ. ສົ່ງ ຊ່ວຍ (HELP) ເພື່ອເບິ່ງຄຳແນະນຳນີ້.",
    "unknown_phone": "ປກສ: ຂໍອະໄພ, ເບີນີ້ບໍ່ມີໃນທະບຽນ ປກສ. ກະລຸນາຕິດຕໍ່ຫ້ອງການປະກັນສັງຄົມຂອງທ່ານ.",
    "choose_member": "ປກສ: ເບີນີ້ມີຫຼາຍເລກສະມາຊິກ. ສົ່ງ ຍອດ ແລະ ເລກສະມາຊິກ, ເຊັ່ນ: ຍອດ {example}",
}


def format_kip(amount: int, language: Language | str) -> str:
    """Money in SMS and notices: whole kip, CLDR grouping (Lao: ``108.000 ກີບ``; English: ``108,000 kip``)."""
    if str(language) == Language.ENGLISH.value:
        return f"{format_decimal(amount, locale='en')} kip"
    return f"{format_decimal(amount, locale='lo')} ກີບ"


def render_sms(template_key: str, notice: RenderedNotice, params: dict[str, Any]) -> tuple[str, str]:
    """The notice's SMS in Lao and English, each cut to the template's number of parts."""
    template = TEMPLATES.get(template_key)
    parts = template.sms_parts if template is not None else 2
    if template is not None and template.sms_lo and template.sms_en:
        lo, en = template.sms_lo.format(**params), template.sms_en.format(**params)
    else:  # a template without a short form: its title and body
        lo, en = f"{notice.title_lo}. {notice.body_lo}", f"{notice.title_en}. {notice.body_en}"
    return fit(" ".join(lo.split()), parts), fit(" ".join(en.split()), parts)


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
