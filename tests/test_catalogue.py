"""Every text a member or officer can read is in the gettext catalogue, in Lao and English.

The messages are found in the code itself (walking its syntax tree), not listed by hand: every domain error's
message and field messages, every marshmallow ``ValidationError`` the product raises, marshmallow's own
messages, every notice and SMS text, and the console's strings (Babel's extractor). English is the message
id; Lao is its entry in ``translations/lo``. A templated message's placeholders must be the same in both.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import marshmallow as ma
import marshmallow.validate as validate
from babel.messages.pofile import read_po

from lsso_mobile import errors as domain_errors
from lsso_mobile import i18n
from lsso_mobile.errors import FIELD_CODES

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lsso_mobile"
PO = PACKAGE / "translations" / "lo" / "LC_MESSAGES" / "messages.po"

ERROR_CLASSES = {
    name for name, value in vars(domain_errors).items() if inspect.isclass(value) and issubclass(value, Exception)
} | {"ClaimStatusNotAllowed", "ApprovedAmountRequired", "InvalidCode", "StepUpRequired"}
# Calls whose given argument is a message: (function name, argument position).
MESSAGE_ARGUMENTS = {"check_window_limit": 6, "_readable_attachment": 3, "ValidationError": 0}
# marshmallow's texts that never reach a caller: output formatting, and the pieces Range builds its messages from
# (the built messages, "Must be greater than or equal to {min}.", are listed in FIELD_CODES).
MARSHMALLOW_UNUSED = {
    '"{input}" cannot be formatted as a date.',
    '"{input}" cannot be formatted as a {obj_type}.',
    "{input!r} cannot be formatted as a timedelta.",
    "Must be {max_op} {{max}}.",
    "Must be {min_op} {{min}} and {max_op} {{max}}.",
    "Must be {min_op} {{min}}.",
    "greater than",
    "greater than or equal to",
    "less than",
    "less than or equal to",
}


def lao_catalogue() -> dict[str, str]:
    with PO.open("rb") as handle:
        return {m.id: m.string for m in read_po(handle) if isinstance(m.id, str) and m.id and not m.fuzzy}


def _module_constants(tree: ast.Module) -> dict[str, list[str]]:
    constants: dict[str, list[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = node.value
            parts = value.values if isinstance(value, ast.Dict) else [value]  # a dict's keys are not messages
            constants[node.targets[0].id] = [
                n.value
                for part in parts
                for n in ast.walk(part)  # type: ignore[arg-type]
                if isinstance(n, ast.Constant) and isinstance(n.value, str)
            ]
    return constants


def _texts(node: ast.AST, constants: dict[str, list[str]]) -> Iterator[str]:
    """The message texts an argument can be: constants, module constants, f-strings (as sample texts)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.Name):
        yield from constants.get(node.id, [])
    elif isinstance(node, ast.JoinedStr):
        yield "".join(str(v.value) if isinstance(v, ast.Constant) else "7" for v in node.values)
    elif isinstance(node, ast.IfExp):
        yield from _texts(node.body, constants)
        yield from _texts(node.orelse, constants)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        for arg in node.args[1:]:
            yield from _texts(arg, constants)
        if isinstance(node.func.value, ast.Name):
            yield from constants.get(node.func.value.id, [])


def _field_texts(node: ast.AST, constants: dict[str, list[str]]) -> Iterator[str]:
    """The messages in an ``errors={...}`` argument: every text in its values (keys are field names)."""
    if isinstance(node, ast.Dict):
        for value in node.values:
            yield from _field_texts(value, constants)
    elif isinstance(node, ast.List | ast.Tuple):
        for item in node.elts:
            yield from _texts(item, constants)
    elif isinstance(node, ast.DictComp):
        yield from _field_texts(node.value, constants)


def _is_errors_entry(target: ast.expr) -> bool:
    return isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) and target.value.id == "errors"


def source_messages() -> dict[str, set[str]]:
    """``{"message": set of "file:line"}``: domain error messages and field messages, and ValidationErrors."""
    found: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text())
        constants = _module_constants(tree)
        where = f"{path.relative_to(ROOT)}"
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and any(_is_errors_entry(target) for target in node.targets):
                for text in _field_texts(node.value, constants):  # errors["field"] = ["Message."]
                    found.setdefault(text, set()).add(f"{where}:{node.lineno}")
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            texts: list[str] = []
            if name in ERROR_CLASSES and node.args:
                texts += _texts(node.args[0], constants)
            if name in MESSAGE_ARGUMENTS and len(node.args) > MESSAGE_ARGUMENTS[name]:
                texts += _texts(node.args[MESSAGE_ARGUMENTS[name]], constants)
            for keyword in node.keywords:
                if keyword.arg == "errors" and name in ERROR_CLASSES:
                    texts += _field_texts(keyword.value, constants)
            for text in texts:
                found.setdefault(text, set()).add(f"{where}:{node.lineno}")
    return found


def marshmallow_messages() -> set[str]:
    messages: set[str] = set()
    for _name, cls in inspect.getmembers(ma.fields, inspect.isclass):
        messages |= {m for m in getattr(cls, "default_error_messages", {}).values() if isinstance(m, str)}
    for _name, cls in inspect.getmembers(validate, inspect.isclass):
        for key, value in vars(cls).items():
            if isinstance(value, str) and (key.startswith("message") or key == "default_message"):
                messages.add(value)
    messages |= set(ma.Schema._default_error_messages.values())
    return messages - MARSHMALLOW_UNUSED


def _missing(texts: dict[str, set[str]] | set[str]) -> list[str]:
    """The texts neither in the catalogue as they are nor made from a templated entry."""
    catalogue = lao_catalogue()
    return sorted(t for t in texts if t not in catalogue and i18n.recognise(t) is None)


def test_the_walk_finds_the_messages():
    found = source_messages()
    assert len(found) > 150
    assert "No such broadcast." in found and "Unknown field." in found  # a raise, and a field message
    assert "Too many uploads; wait a moment and try again." in found  # a message given to a limit check
    assert "Contains a NUL character or an unpaired surrogate." in found  # a ValidationError's module constant
    assert "Missing data for required field." in marshmallow_messages()


def test_every_error_and_field_message_is_in_lao():
    missing = _missing(source_messages())
    assert missing == [], "\n".join(f"{m!r} ({sorted(source_messages()[m])[0]})" for m in missing)


def test_every_marshmallow_message_is_in_lao_and_has_a_code():
    assert _missing(marshmallow_messages()) == []
    uncoded = sorted(m for m in marshmallow_messages() if (i18n.recognise(m) or (m, {}))[0] not in FIELD_CODES)
    assert uncoded == []


def test_every_field_code_is_a_lao_entry():
    assert _missing(set(FIELD_CODES)) == []


def test_lao_entries_are_lao_and_keep_their_placeholders():
    wrong = []
    for msgid, text in lao_catalogue().items():
        if not text.strip() or (_has_words(text) and not any("\u0e80" <= ch <= "\u0eff" for ch in text)):
            wrong.append((msgid, "not translated"))
        elif i18n.placeholders(msgid) != i18n.placeholders(text):
            wrong.append((msgid, f"placeholders {sorted(i18n.placeholders(text))}"))
    assert wrong == []


def test_a_filled_in_message_is_recognised_and_translated():
    assert i18n.recognise("Longer than maximum length 200.") == ("Longer than maximum length {max}.", {"max": "200"})
    lao = i18n.translate_text("Longer than maximum length 200.", "lo")
    assert "200" in lao and lao != "Longer than maximum length 200." and any("\u0e80" <= c <= "\u0eff" for c in lao)
    assert i18n.translate_text("Longer than maximum length 200.", "en") == "Longer than maximum length 200."
    assert (
        i18n.translate_text("Something the catalogue never heard of", "lo") == "Something the catalogue never heard of"
    )


def test_the_walk_fails_on_a_message_with_no_entry(tmp_path):
    """The check can fail: a new message without a Lao entry is reported."""
    assert _missing({"A message nobody translated."}) == ["A message nobody translated."]


def _has_words(text: str) -> bool:
    """Whether a text says something beyond its placeholders (``{subject}: {preview}`` does not)."""
    return any(ch.isalpha() for ch in re.sub(r"\{[^{}]*\}", "", text))


def test_every_notice_and_sms_text_is_in_lao():
    from lsso_mobile.notify.templates import MEMBER_SMS_TEXTS, SMS_TEXTS, TEMPLATES
    from lsso_mobile.services.claims import BENEFIT_TEXT, STATUS_TEXT

    texts = {text for template in TEMPLATES.values() for text in template.texts() if _has_words(text)}
    texts |= {text for short, full in SMS_TEXTS.values() for text in (short, full)}
    texts |= set(MEMBER_SMS_TEXTS.values())
    texts |= set(STATUS_TEXT.values()) | set(BENEFIT_TEXT.values())
    assert len(texts) > 40
    assert _missing(texts) == []


def test_the_text_slips_are_gone():
    from lsso_mobile.notify.templates import render

    received = render(
        "registration_received",
        {"application_id": 1, "office_name_lo": "ຫ້ອງການປະກັນສັງຄົມ ຈັນທະບູລີ", "office_name_en": "Chanthabouly Office"},
    )
    assert received.body_lo.count("ຫ້ອງການປະກັນສັງຄົມ") == 1
    claim = {"claim_id": 1, "benefit_lo": "ເງິນບຳນານ", "benefit_en": "old-age pension", "status_lo": "ຈ່າຍແລ້ວ"}
    for reason in ("", None):
        notice = render("claim_status_changed", {**claim, "status_en": "paid", "reason": reason})
        assert notice.body_lo.endswith("ຈ່າຍແລ້ວ.") and notice.body_en == "Your old-age pension claim is paid."
    with_reason = render("claim_status_changed", {**claim, "status_en": "paid", "reason": "Paid by bank."})
    assert with_reason.body_en == "Your old-age pension claim is paid. Paid by bank."


def test_money_and_dates_are_written_one_way():
    from datetime import UTC, date, datetime

    from lsso_mobile.i18n import Money, Period
    from lsso_mobile.notify.templates import render

    assert i18n.format_money(108000, "lo") == "108.000 ກີບ" and i18n.format_money(108000, "en") == "108,000 kip"
    assert i18n.format_date(date(2025, 12, 12), "lo") == "12 ທັນວາ 2025"
    assert i18n.format_date(date(2025, 12, 12), "en") == "12 December 2025"
    # 20:00 UTC is the next day in Vientiane
    assert i18n.format_date(datetime(2025, 12, 11, 20, 0, tzinfo=UTC), "en") == "12 December 2025"
    assert i18n.format_period("2025-12", "lo") == "ທັນວາ 2025"
    paid = render("benefit_paid", {"amount": Money(108000)})
    assert "108.000 ກີບ" in paid.body_lo and paid.body_en.startswith("108,000 kip")
    due = render("contribution_due", {"period": Period("2025-12"), "due_date": date(2026, 1, 15)})
    assert "ທັນວາ 2025" in due.body_lo and "15 January 2026" in due.body_en


def test_sms_texts_say_it_in_lao_then_english():
    from lsso_mobile.services.otp import PURPOSE_SIGNUP, code_sms_text

    text = code_sms_text(PURPOSE_SIGNUP, "123456", 10)
    assert text == "ລະຫັດ ປກສ ເພື່ອລົງທະບຽນ: 123456. LSSO code to sign up: 123456. Valid 10 min. Do not share it."


def test_every_raised_error_has_a_code_and_a_constant_message():
    """``raise NotFound("No such bill.", error="bill_not_found")``: a code, and no f-string as the message."""
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in ERROR_CLASSES or name in {"StepUpRequired", "ValidationError"} or not node.args:
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            if "error" not in {keyword.arg for keyword in node.keywords}:
                problems.append(f"{where}: no error= code")
            if isinstance(node.args[0], ast.JoinedStr):
                problems.append(f"{where}: an f-string message (use params)")
    assert problems == []
