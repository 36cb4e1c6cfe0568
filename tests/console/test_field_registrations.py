"""The console's registration page shows the reviewing officer who registered a person in the field and how the
person confirmed; an application still waiting for the person's confirmation cannot be decided."""

from __future__ import annotations

import io

from lsso_mobile import runtime as runtime_module
from lsso_mobile.models import StaffRole
from lsso_mobile.services.accounts import create_staff_user
from tests.conftest import STAFF_PASSWORD
from tests.console.conftest import console_sign_in, post_form
from tests.messaging_support import png_bytes
from tests.support import application_form, bearer, staff_sign_in


def test_the_officer_sees_who_registered_the_person(client, staff, db):
    settings = runtime_module.current().settings
    create_staff_user(
        db, settings, "promoter.x", STAFF_PASSWORD, StaffRole.PROMOTER, "Khamla P.", None, district_code="0101"
    )
    db.commit()
    promoter = bearer(staff_sign_in(client, "promoter.x", STAFF_PASSWORD)["access_token"])
    upload = {"file": (io.BytesIO(png_bytes(8, 5)), "id.png", "image/png")}
    assert (
        client.put(
            "/api/v1/field/uploads/p1", data=upload, content_type="multipart/form-data", headers=promoter
        ).status_code
        == 200
    )
    record = {
        **application_form(national_id="LA-CONSOLE-1"),
        "device_record_id": "r1",
        "phone": None,
        "photo_ids": ["p1"],
        "first_payment": {"amount_kip": 108000, "receipt_number": "R-1"},
    }
    answer = client.post("/api/v1/field/registrations/batch", json={"records": [record]}, headers=promoter).json
    application_id = answer["results"][0]["application_id"]

    console_sign_in(client, staff["officer"])
    page = client.get(f"/console/registrations/{application_id}")
    assert page.status_code == 200
    assert "data-registered-by" in page.text and "Khamla P." in page.text and "ຜູ້ສົ່ງເສີມ" in page.text
    assert "108.000" in page.text or "108,000" in page.text
    photo_src = page.text.split('class="photos"><a href="')[1].split('"')[0]
    photo = client.get(photo_src)
    assert photo.status_code == 200 and photo.headers["Content-Type"] == "image/png"
    assert f'action="/console/registrations/{application_id}/decision"' not in page.text  # not decidable yet
    refused = post_form(
        client,
        f"/console/registrations/{application_id}",
        f"/console/registrations/{application_id}/decision",
        {"decision": "approve"},
    )
    assert refused.status_code != 302

    officer = bearer(staff_sign_in(client, staff["officer"], STAFF_PASSWORD)["access_token"])
    attested = client.post(
        f"/api/v1/field/registrations/{application_id}/attest", json={"note": "Seen at the office."}, headers=officer
    )
    assert attested.status_code == 200
    page = client.get(f"/console/registrations/{application_id}")
    assert "ຢັ້ງຢືນດ້ວຍຕົນເອງຕໍ່ໜ້າ" in page.text  # attested in person
    approved = post_form(
        client,
        f"/console/registrations/{application_id}",
        f"/console/registrations/{application_id}/decision",
        {"decision": "approve"},
    )
    assert approved.status_code == 302
