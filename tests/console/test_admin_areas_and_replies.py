"""Two admin pages with Flask's test client: every office's canned replies (what an admin keeps is what the office's
officers can send, every change audited) and the offices-and-areas CSV import (a dry run that writes nothing,
bad rows by line number, an apply of exactly what was previewed), and the CLI's --dry-run sharing the same code."""

from __future__ import annotations

import io
import re

from click.testing import CliRunner
from sqlalchemy import func, select

from lsso_mobile.cli import main
from lsso_mobile.models import AuditEvent, CannedReply, District, Office, Village
from lsso_mobile.services import area_import
from lsso_mobile.services.reference import SAMPLE_AREAS_CSV
from tests.conftest import STAFF_PASSWORD
from tests.console.conftest import console_sign_in, csrf_token, post_form, registered_member
from tests.messaging_support import start
from tests.support import bearer, staff_sign_in

REPLIES = "/console/admin/canned-replies"
AREAS = "/console/admin/areas"
HEADER = "kind,code,parent_code,name_lo,name_en,has_office\n"


def api_replies(client, username: str) -> list[dict]:
    headers = bearer(staff_sign_in(client, username, STAFF_PASSWORD)["access_token"])
    response = client.get("/api/v1/staff/canned-replies", headers=headers)
    assert response.status_code == 200
    return response.json["items"]


def audit_actions(db, object_type: str) -> list[str]:
    db.expire_all()
    query = select(AuditEvent.action).where(AuditEvent.object_type == object_type).order_by(AuditEvent.id)
    return list(db.scalars(query))


def test_only_admins_open_these_pages(client, app, staff):
    for who in ("officer", "ops"):
        other = app.test_client()
        console_sign_in(other, staff[who])
        for path in (REPLIES, AREAS, f"{AREAS}/template.csv"):
            assert other.get(path).status_code == 403, (who, path)
        token = csrf_token(other.get("/console/account").text)
        refused = other.post(REPLIES, data={"csrf_token": token, "office_code": "D0101", "title": "x"})
        assert refused.status_code == 403
        upload = {"csrf_token": token, "file": (io.BytesIO(HEADER.encode()), "a.csv")}
        assert other.post(f"{AREAS}/preview", data=upload, content_type="multipart/form-data").status_code == 403
    assert app.test_client().get(REPLIES).status_code == 302  # signed out: to the sign-in page
    console_sign_in(client, staff["admin"])
    page = client.get("/console/admin/staff")
    assert f'href="{REPLIES}"' in page.text and f'href="{AREAS}"' in page.text  # in the admin's menu


def test_admins_keep_each_offices_canned_replies_and_officers_send_what_they_keep(client, app, staff, db, sms_gateway):
    member = registered_member(client, sms_gateway, "+8562055571101", staff["officer"])
    conversation = f"/console/conversations/{start(client, member).json['conversation']['id']}"
    officer_console = app.test_client()
    console_sign_in(officer_console, staff["officer"])
    console_sign_in(client, staff["admin"])
    form = {"office_code": "D0101", "title": "Received", "body_lo": "ພວກເຮົາໄດ້ຮັບແລ້ວ.", "body_en": "We have it."}

    forged = client.post(REPLIES, data={**form, "csrf_token": "forged"})
    assert forged.status_code == 400 and db.scalar(select(func.count()).select_from(CannedReply)) == 0

    created = post_form(client, REPLIES, REPLIES, form)
    assert created.status_code == 302 and created.headers["Location"].endswith(f"{REPLIES}?office=D0101")
    desk = app.test_client()
    mine = api_replies(desk, staff["officer"])
    assert [(c["title"], c["body_lo"], c["body_en"]) for c in mine] == [("Received", "ພວກເຮົາໄດ້ຮັບແລ້ວ.", "We have it.")]
    assert api_replies(app.test_client(), staff["other_officer"]) == []  # another office's
    canned_id = mine[0]["id"]

    listed = client.get(REPLIES, query_string={"office": "D0101"})
    assert "ພວກເຮົາໄດ້ຮັບແລ້ວ." in listed.text and f"{REPLIES}/{canned_id}" in listed.text
    assert "Received" not in client.get(REPLIES, query_string={"office": "D1601"}).text

    # The same title again in that office is refused at its field, in Lao; another office may use it.
    again = post_form(client, REPLIES, REPLIES, {**form, "body_en": "Again"})
    assert again.status_code == 422 and "ຫ້ອງການນີ້ມີຄຳຕອບສຳເລັດຮູບທີ່ມີຫົວຂໍ້ນີ້ແລ້ວ" in again.text
    assert post_form(client, REPLIES, REPLIES, {**form, "office_code": "D1601"}).status_code == 302
    no_office = post_form(client, REPLIES, REPLIES, {**form, "office_code": "", "title": "Other"})
    assert no_office.status_code == 422 and "ເລືອກຫ້ອງການທີ່ຈະໃຊ້ຄຳຕອບສຳເລັດຮູບນີ້" in no_office.text
    empty = post_form(client, REPLIES, REPLIES, {**form, "title": "Other", "body_en": " "})
    assert empty.status_code == 422

    detail = f"{REPLIES}/{canned_id}"
    edited = post_form(
        client, detail, detail, {"title": "Received", "body_lo": "ໄດ້ຮັບເອກະສານແລ້ວ.", "body_en": "Documents received."}
    )
    assert edited.status_code == 302
    assert [c["body_lo"] for c in api_replies(desk, staff["officer"])] == ["ໄດ້ຮັບເອກະສານແລ້ວ."]
    reply_page = officer_console.get(conversation).text  # the officer's "/" picker, in the member's language (Lao)
    assert 'data-canned-title="Received">ໄດ້ຮັບເອກະສານແລ້ວ.</template>' in reply_page

    retired = post_form(client, detail, f"{detail}/retire", {})
    assert retired.status_code == 302
    assert api_replies(desk, staff["officer"]) == []  # officers no longer see it
    assert "data-canned-title" not in officer_console.get(conversation).text
    retired_list = client.get(REPLIES, query_string={"office": "D0101", "state": "retired"}).text
    assert f'id="canned-{canned_id}" class="retired"' in retired_list
    assert "Received" not in client.get(REPLIES, query_string={"office": "D0101"}).text
    cannot_edit = post_form(client, detail, detail, {"title": "X", "body_lo": "ກ", "body_en": "x"})
    assert cannot_edit.status_code == 422 and "ນຳຄຳຕອບສຳເລັດຮູບນີ້ກັບມາໃຊ້ກ່ອນ" in cannot_edit.text

    restored = post_form(client, detail, f"{detail}/restore", {})
    assert restored.status_code == 302
    assert [c["id"] for c in api_replies(desk, staff["officer"])] == [canned_id]

    assert audit_actions(db, "canned_reply") == [
        "canned_reply.create",
        "canned_reply.create",
        "canned_reply.update",
        "canned_reply.retire",
        "canned_reply.restore",
    ]
    page = client.get(detail)
    assert "canned_reply.restore" in page.text and staff["admin"] in page.text
    assert client.get(f"{REPLIES}/999999").status_code == 404


def test_an_officers_own_changes_through_the_api_are_audited_too(client, staff, db):
    headers = bearer(staff_sign_in(client, staff["officer"], STAFF_PASSWORD)["access_token"])
    body = {"title": "Hours", "body_lo": "ເປີດ 8 ໂມງ.", "body_en": "Open at 8."}
    created = client.post("/api/v1/staff/canned-replies", json=body, headers=headers)
    assert created.status_code == 201
    taken = client.post("/api/v1/staff/canned-replies", json={**body, "title": "HOURS"}, headers=headers)
    assert taken.status_code == 409 and taken.json["error"] == "canned_reply_title_taken"
    assert client.delete(f"/api/v1/staff/canned-replies/{created.json['id']}", headers=headers).status_code == 204
    assert audit_actions(db, "canned_reply") == ["canned_reply.create", "canned_reply.retire"]


# -- offices and areas -----------------------------------------------------------------------------------


def upload(client, path: str, content: bytes, **fields: str):
    token = csrf_token(client.get(AREAS).text)
    data = {"csrf_token": token, "file": (io.BytesIO(content), "areas.csv"), **fields}
    return client.post(path, data=data, content_type="multipart/form-data")


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" type="hidden" value="([0-9a-f]*)"', html) or re.search(
        rf'id="{name}" name="{name}" type="hidden" value="([0-9a-f]*)"', html
    )
    assert match, f"no {name} on the page"
    return match.group(1)


def area_state(db) -> tuple:
    db.expire_all()
    return (
        sorted(db.execute(select(District.code, District.name_lo, District.name_en)).all()),
        sorted(db.execute(select(Village.code, Village.district_code, Village.name_en)).all()),
        sorted(db.scalars(select(Office.code))),
    )


NEW_AREAS = (
    HEADER
    + "district,0101,01,ຈັນທະບູລີ,Chanthabouly,yes\n"  # already so (its office too)
    + "district,0102,01,ສີໂຄດຕະບອງ,Sikhottabong City,yes\n"  # renamed in English
    + "village,01050001,0105,ບ້ານ ດົງໂດກ,Ban Dongdok,\n"  # names a district further down the file
    + "district,0105,01,ນາຊາຍທອງ,Naxaithong,yes\n"  # new, with a new office
    + "village,01010001,0101,ບ້ານ ຫັດສະດີ,Ban Hatsady,\n"  # already so
).encode()


def test_the_dry_run_changes_nothing_and_the_apply_writes_exactly_the_preview(client, staff, db):
    console_sign_in(client, staff["admin"])
    before = area_state(db)
    forged = {"csrf_token": "forged", "file": (io.BytesIO(NEW_AREAS), "areas.csv")}
    assert client.post(f"{AREAS}/preview", data=forged, content_type="multipart/form-data").status_code == 400
    preview = upload(client, f"{AREAS}/preview", NEW_AREAS)
    assert preview.status_code == 200, preview.text
    assert 'data-applicable="yes"' in preview.text
    for kind, create, update, same in (("district", 1, 1, 1), ("village", 1, 0, 1), ("office", 1, 0, 2)):
        row = re.search(rf'data-kind="{kind}">.*?</tr>', preview.text).group(0)
        assert f"data-create>{create}<" in row and f"data-update>{update}<" in row and f"data-same>{same}<" in row
    assert 'data-change="update" data-code="0102"' in preview.text and "Sikhottabong City" in preview.text
    assert 'data-change="create" data-code="D0105"' in preview.text
    assert area_state(db) == before and audit_actions(db, "area_import") == []  # a dry run
    digest, fingerprint = hidden(preview.text, "digest"), hidden(preview.text, "fingerprint")
    assert digest == area_import.file_digest(NEW_AREAS)

    # Another file under the previewed fingerprint is refused, and nothing is written.
    other = NEW_AREAS.replace(b"Naxaithong", b"Naxaythong")
    refused = upload(client, f"{AREAS}/apply", other, digest=digest, fingerprint=fingerprint)
    assert refused.status_code == 409 and "ນີ້ບໍ່ແມ່ນໄຟລ໌ທີ່ທ່ານເບິ່ງຕົວຢ່າງ" in refused.text
    assert area_state(db) == before

    applied = upload(client, f"{AREAS}/apply", NEW_AREAS, digest=digest, fingerprint=fingerprint)
    assert applied.status_code == 302, applied.text
    districts, villages, offices = area_state(db)
    assert set(districts) - set(before[0]) == {
        ("0102", "ສີໂຄດຕະບອງ", "Sikhottabong City"),
        ("0105", "ນາຊາຍທອງ", "Naxaithong"),
    }
    assert set(villages) - set(before[1]) == {("01050001", "0105", "Ban Dongdok")}
    assert set(offices) - set(before[2]) == {"D0105"}
    assert len(districts) == len(before[0]) + 1 and len(offices) == len(before[2]) + 1
    events = list(db.scalars(select(AuditEvent).where(AuditEvent.action == "areas.import")))
    assert len(events) == 1 and events[0].details["sha256"] == digest
    assert events[0].details["districts_created"] == 1 and events[0].details["districts_updated"] == 1
    assert events[0].details["source"] == "console"
    assert "ນຳເຂົ້າແລ້ວ" in client.get(AREAS).text

    # The same preview applied twice: the plan is no longer the one shown (it is all "already so" now).
    again = upload(client, f"{AREAS}/apply", NEW_AREAS, digest=digest, fingerprint=fingerprint)
    assert again.status_code == 409 and "ກະລຸນາເບິ່ງຕົວຢ່າງອີກຄັ້ງ" in again.text
    assert len(list(db.scalars(select(AuditEvent).where(AuditEvent.action == "areas.import")))) == 1


def test_a_change_to_the_areas_after_the_preview_refuses_the_apply(client, staff, db):
    console_sign_in(client, staff["admin"])
    preview = upload(client, f"{AREAS}/preview", NEW_AREAS)
    db.get(District, "0102").name_en = "Sikhottabong (renamed meanwhile)"
    db.commit()
    before = area_state(db)
    stale = upload(
        client,
        f"{AREAS}/apply",
        NEW_AREAS,
        digest=hidden(preview.text, "digest"),
        fingerprint=hidden(preview.text, "fingerprint"),
    )
    assert stale.status_code == 409
    assert area_state(db) == before


def test_bad_rows_are_listed_with_their_line_numbers_and_nothing_is_imported(client, staff, db):
    console_sign_in(client, staff["admin"])
    bad = (
        HEADER
        + "district,0106,01,ປາກງື່ມ,Pak Ngum,no\n"  # line 2: good
        + "town,0107,01,ກ,X,\n"  # 3
        + "district,0701,01,ກ,X,no\n"  # 4: not in province 01
        + "village,01069999,0106,,Ban Nameless,\n"  # 5: no Lao name
        + "village,09990001,0999,ບ້ານ,Ban Nowhere,\n"  # 6: unknown district
        + "district,0106,01,ປາກງື່ມ,Pak Ngum,maybe\n"  # 7: has_office
        + 'district,0108,01,"ສັງທອງ\nເມືອງ",Sangthong,no\n'  # 8-9: a quoted cell over two lines, good
        + "district,0108,01,ສັງທອງ,Sangthong,no\n"  # 10: twice in the file
        + "village,01060001,0106,ບ້ານ,Ban,yes\n"  # 11: a village with an office
    ).encode()
    before = area_state(db)
    preview = upload(client, f"{AREAS}/preview", bad)
    assert preview.status_code == 200 and 'data-applicable="no"' in preview.text
    lines = [int(n) for n in re.findall(r'<tr data-line="(\d+)">', preview.text)]
    assert lines == [3, 4, 5, 6, 7, 10, 11]
    for text in (
        "ປະເພດຕ້ອງແມ່ນ district ຫຼື village, ບໍ່ແມ່ນ town",
        "ເມືອງ 0701 ບໍ່ກົງກັບແຂວງ 01",
        "ຕ້ອງມີລະຫັດ, ລະຫັດຂັ້ນເທິງ, ຊື່ພາສາລາວ ແລະ ຊື່ພາສາອັງກິດຄົບ",
        "ບ້ານ 09990001 ອ້າງເຖິງເມືອງ 0999 ທີ່ບໍ່ມີ",
        "has_office ຕ້ອງແມ່ນ yes ຫຼື no, ບໍ່ແມ່ນ maybe",
        "0108 ມີຢູ່ແລ້ວໃນແຖວ 9",
        "ມີແຕ່ເມືອງເທົ່ານັ້ນທີ່ມີຫ້ອງການໄດ້",
    ):
        assert text in preview.text, text
    assert 'action="/console/admin/areas/apply"' not in preview.text  # no apply while a row is bad
    forced = upload(client, f"{AREAS}/apply", bad, digest=area_import.file_digest(bad), fingerprint="0" * 64)
    assert forced.status_code == 422 and "ບໍ່ໄດ້ນຳເຂົ້າຫຍັງ: ມີ 7 ແຖວຜິດ (ແຖວທຳອິດຢູ່ແຖວ 3)" in forced.text
    assert area_state(db) == before

    client.post("/console/language", data={"csrf_token": csrf_token(client.get(AREAS).text), "lang": "en"})
    english = upload(client, f"{AREAS}/preview", bad)
    assert "District 0701 does not fit province 01" in english.text and "7 bad rows" in english.text


def test_files_that_cannot_be_read_and_the_limits(client, staff, db):
    console_sign_in(client, staff["admin"])
    for content, lao in (
        (b"", "ໄຟລ໌ຫວ່າງເປົ່າ"),
        (b"kind,code\ndistrict,0101\n", "ໄຟລ໌ຂາດຖັນ parent_code, name_lo, name_en, has_office"),
        (HEADER.encode() + "district,0109,01,ສ,S,no\n".encode("utf-16"), "ໄຟລ໌ບໍ່ແມ່ນຂໍ້ຄວາມ UTF-8"),
        ((HEADER + "district,0109,01,S,S,no\n").encode("utf-16-le"), "ໄຟລ໌ບໍ່ແມ່ນຂໍ້ຄວາມ UTF-8"),  # no byte-order mark
    ):
        response = upload(client, f"{AREAS}/preview", content)
        assert response.status_code == 422 and lao in response.text, response.text
    too_big = upload(client, f"{AREAS}/preview", HEADER.encode() + b"#" * (area_import.MAX_FILE_BYTES + 1))
    assert too_big.status_code == 413 and "ໄຟລ໌ໃຫຍ່ກວ່າ 4 MB" in too_big.text
    far_too_big = upload(client, f"{AREAS}/preview", b"#" * (area_import.MAX_FILE_BYTES + 100_000))
    assert far_too_big.status_code == 302  # refused before the body is read: back to the page, which says why
    assert "ໄຟລ໌ໃຫຍ່ກວ່າ 4 MB" in client.get(far_too_big.headers["Location"]).text
    many = HEADER + "".join(f"village,0101{i:04d},0101,ບ້ານ,Ban {i},\n" for i in range(area_import.MAX_ROWS + 1))
    too_many = upload(client, f"{AREAS}/preview", many.encode())
    assert too_many.status_code == 413 and "20000" in too_many.text

    template = client.get(f"{AREAS}/template.csv")
    assert template.status_code == 200 and template.mimetype == "text/csv"
    assert template.data == SAMPLE_AREAS_CSV.read_bytes() and template.data.startswith(HEADER.encode())


def test_the_cli_dry_run_shares_the_plan_and_changes_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {"LSSO_DATABASE_URL": url, "LSSO_INSTANCE_DIR": str(tmp_path), "LSSO_PASSWORD_HASHING": "fast"}
    env["LSSO_ENV"] = "test"
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"], env=env).exit_code == 0
    dry = runner.invoke(main, ["import-areas", "--dry-run", str(SAMPLE_AREAS_CSV)], env=env)
    assert dry.exit_code == 0, dry.output
    assert "would import 9 districts, 8 villages" in dry.output and "9 create, 0 update, 0 same" in dry.output
    assert "dry run: nothing was changed" in dry.output
    real = runner.invoke(main, ["import-areas", str(SAMPLE_AREAS_CSV)], env=env)
    assert real.exit_code == 0 and "imported 9 districts, 8 villages, opened 5 district offices" in real.output
    again = runner.invoke(main, ["import-areas", "--dry-run", str(SAMPLE_AREAS_CSV)], env=env)
    assert "0 create, 0 update, 9 same" in again.output

    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "district,0110,01,ກ,K,no\nvillage,01109999,0199,ບ້ານ,B,\n", encoding="utf-8")
    refused = runner.invoke(main, ["import-areas", str(bad)], env=env)
    assert refused.exit_code != 0 and "line 3: Village 01109999 does not fit district 0199" in refused.output
    assert "1 bad rows: nothing was imported" in refused.output
    check = runner.invoke(main, ["import-areas", "--dry-run", str(SAMPLE_AREAS_CSV)], env=env)
    assert "0 create, 0 update, 9 same" in check.output  # 0110 was not written
