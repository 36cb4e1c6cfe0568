"""Text is stored in NFC; single-line text (names, subjects, titles) holds no control, bidirectional or
zero-width character; multi-line text (message and broadcast bodies) keeps new lines and tabs. Before, a
subject could carry U+202E and show as "Refund exe.PDF request" to staff, and CR/LF and ANSI escapes were
stored verbatim."""

from __future__ import annotations

import unicodedata

from sqlalchemy import func, select

from lsso_mobile.models import Conversation, Message, RegistrationApplication
from tests.messaging_support import member, new_key, start
from tests.support import application_form

BASE = "/api/v1/conversations"


def test_a_subject_with_a_bidi_override_is_refused(client, sms_gateway, db):
    alice = member(client, sms_gateway, "+8562055580201")
    for subject in ("Refund \u202eexe.PDF", "Refund\u2066 x", "Pay\u200bment", "Pay\u00adment", "red \x1b[31m"):
        refused = start(client, alice, subject=subject)
        assert refused.status_code == 422, subject
        assert "subject" in refused.json["errors"], subject
    body = start(client, alice, body="Hello \u202e olleh")
    assert body.status_code == 422 and "body" in body.json["errors"]
    assert db.scalar(select(func.count()).select_from(Conversation)) == 0


def test_new_lines_and_tabs_are_kept_in_message_bodies(client, sms_gateway, db):
    alice = member(client, sms_gateway, "+8562055580202")
    started = start(client, alice, body="Line one\r\nLine two\n\tindented \U0001f468\u200d\U0001f469")
    assert started.status_code == 201, started.json
    cid = started.json["conversation"]["id"]
    reply = client.post(f"{BASE}/{cid}/messages", json={"body": "a\nb", "idempotency_key": new_key()}, headers=alice)
    assert reply.status_code == 201, reply.json
    bodies = sorted(db.scalars(select(Message.body)))
    assert bodies == ["Line one\nLine two\n\tindented \U0001f468\u200d\U0001f469", "a\nb"]
    escape = client.post(
        f"{BASE}/{cid}/messages", json={"body": "\x1b[2J", "idempotency_key": new_key()}, headers=alice
    )
    assert escape.status_code == 422


def test_lao_names_are_kept_and_stored_in_nfc(client, sms_gateway, db):
    alice = member(client, sms_gateway, "+8562055580203")
    # tone mark typed before the vowel below: NFC puts the vowel (class 118) before the tone mark (122)
    typed = "ທ້າວ ກ\u0ec8\u0eb8ນ ສີສຸວັນ"
    assert unicodedata.normalize("NFC", typed) != typed
    applied = client.post("/api/v1/me/registration", json=application_form(name_lo=typed), headers=alice)
    assert applied.status_code == 201, applied.json
    stored = db.scalar(select(RegistrationApplication.name_lo))
    assert stored == unicodedata.normalize("NFC", typed) == "ທ້າວ ກ\u0eb8\u0ec8ນ ສີສຸວັນ"
    assert applied.json["name_lo"] == stored


def test_a_name_with_a_line_break_is_refused(client, sms_gateway, db):
    alice = member(client, sms_gateway, "+8562055580204")
    for name in ("Bualai\r\nSisouvan", "Bualai\nSisouvan", "Bualai\tSisouvan", "Bua\u200dlai"):
        refused = client.post("/api/v1/me/registration", json=application_form(name_latin=name), headers=alice)
        assert refused.status_code == 422 and "name_latin" in refused.json["errors"], name
    assert db.scalar(select(func.count()).select_from(RegistrationApplication)) == 0


def test_broadcast_titles_are_single_line_and_bodies_keep_new_lines(client, staff, db):
    from lsso_mobile.models import Broadcast
    from tests.messaging_support import officer

    ops = officer(client, staff["ops"])
    notice = {
        "title_lo": "ຫ້ອງການປິດ",
        "body_lo": "ຫ້ອງການປິດ\nວັນຈັນ",
        "title_en": "Office closed",
        "body_en": "Closed on Monday.\r\n\tOpen on Tuesday.",
        "category": "news",
    }
    for title in ("Office\nclosed", "Office \u202eclosed", "\x1b[5mOffice closed"):
        refused = client.post("/api/v1/staff/broadcasts", json={**notice, "title_en": title}, headers=ops)
        assert refused.status_code == 422 and "title_en" in refused.json["errors"], title
    bidi_body = client.post("/api/v1/staff/broadcasts", json={**notice, "body_en": "a \u2066b"}, headers=ops)
    assert bidi_body.status_code == 422 and "body_en" in bidi_body.json["errors"]
    created = client.post("/api/v1/staff/broadcasts", json=notice, headers=ops)
    assert created.status_code == 201, created.json
    stored = db.execute(select(Broadcast.body_lo, Broadcast.body_en)).one()
    assert tuple(stored) == ("ຫ້ອງການປິດ\nວັນຈັນ", "Closed on Monday.\n\tOpen on Tuesday.")
