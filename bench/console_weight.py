"""How many bytes the console costs on a slow provincial link: the first load of the inbox (page, stylesheet,
scripts, Lao font, favicon) and one htmx refresh of the inbox rows, as the app serves them (gzip where it
compresses), with an office inbox of ``--conversations`` conversations (a full page is 25 rows).

    python bench/console_weight.py [--conversations N]

Runs in-process on a throwaway SQLite database. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lsso_mobile import create_app  # noqa: E402
from lsso_mobile import runtime as runtime_module  # noqa: E402
from lsso_mobile.config import load_settings  # noqa: E402
from lsso_mobile.migrate import upgrade  # noqa: E402
from lsso_mobile.models import ConversationCategory, Member, StaffRole, utcnow  # noqa: E402
from lsso_mobile.services import calendars  # noqa: E402
from lsso_mobile.services import conversations as conversation_service  # noqa: E402
from lsso_mobile.services.accounts import create_staff_user  # noqa: E402
from lsso_mobile.services.reference import SAMPLE_AREAS_CSV, import_areas_file  # noqa: E402
from lsso_mobile.services.secrets_hashing import hash_secret  # noqa: E402

PASSWORD = "office-password-1"
ASSET = re.compile(r'(?:href|src)="(/console/static/[^"]+)"')


def build(directory: Path, conversations: int):
    url = f"sqlite:///{directory / 'console.db'}"
    upgrade(url)
    settings = load_settings(
        environ={},
        env="test",
        database_url=url,
        instance_dir=str(directory),
        secret_key="bench-secret-key-with-enough-length-0123456789",
        password_hashing="fast",
        sms_backend="log",
        push_backend="log",
        writes_per_minute=100_000,
        anonymous_writes_per_minute=100_000,
        core_writes_per_minute=100_000,
    )
    app = create_app(settings)
    with runtime_module.current().db.unit_of_work() as session:
        import_areas_file(session, SAMPLE_AREAS_CSV)
    with runtime_module.current().db.unit_of_work() as session:
        office = calendars.office_by_code(session, "D0101")
        create_staff_user(session, settings, "officer.bench", PASSWORD, StaffRole.OFFICER, "Officer Bench", office.id)
        now = utcnow()
        for i in range(conversations):
            member = Member(phone=f"+856205550{i:04d}", pin_hash=hash_secret("135790", "fast"), office_id=office.id)
            session.add(member)
            session.flush()
            conversation_service.start_conversation(
                session,
                settings,
                member.id,
                "D0101",
                ConversationCategory.CONTRIBUTIONS,
                f"ເງິນສົມທົບເດືອນ {i + 1}",
                "ສະບາຍດີ, ຂ້ອຍຢາກຮູ້ວ່າເງິນສົມທົບຂອງຂ້ອຍເດືອນນີ້ໄດ້ຮັບແລ້ວບໍ? " * 2,
                [],
                str(uuid.uuid4()),
                now,
            )
    return app


def measure(conversations: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as scratch:
        app = build(Path(scratch), conversations)
        client = app.test_client()
        gzip = {"Accept-Encoding": "gzip"}
        login = client.get("/console/login")
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login.text).group(1)
        signed_in = client.post(
            "/console/login", data={"username": "officer.bench", "password": PASSWORD, "csrf_token": token}
        )
        assert signed_in.status_code == 302, signed_in.text
        page = client.get("/console/inbox?tab=all", headers=gzip)
        assert page.status_code == 200
        html = client.get("/console/inbox?tab=all").text
        assets = sorted(set(ASSET.findall(html)))
        # the bold Lao face is loaded by the stylesheet when bold Lao text shows (headings, counts)
        assets.append("/console/static/fonts/noto-sans-lao-lao-700-normal.woff2")
        sizes = {}
        for asset in assets:
            response = client.get(asset, headers=gzip)
            assert response.status_code == 200, asset
            sizes[asset.removeprefix("/console/static/")] = {
                "bytes": len(response.data),
                "encoding": response.headers.get("Content-Encoding", "identity"),
                "cache_control": response.headers.get("Cache-Control", ""),
            }
        update = client.get("/console/inbox?tab=all", headers={**gzip, "HX-Request": "true"})
        assert update.status_code == 200
        update_raw = client.get("/console/inbox?tab=all", headers={"HX-Request": "true"})
        runtime_module.current().close()
        first_load = len(page.data) + sum(s["bytes"] for s in sizes.values())
        return {
            "benchmark": "console_weight",
            "conversations": conversations,
            "page_html_bytes": len(page.data),
            "page_html_encoding": page.headers.get("Content-Encoding", "identity"),
            "page_html_uncompressed_bytes": len(html.encode()),
            "assets": sizes,
            "first_load_bytes": first_load,
            "htmx_update_bytes": len(update.data),
            "htmx_update_encoding": update.headers.get("Content-Encoding", "identity"),
            "htmx_update_uncompressed_bytes": len(update_raw.data),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=25)
    args = parser.parse_args()
    result = measure(args.conversations)
    for name, size in result["assets"].items():
        print(f"{name}: {size['bytes']} bytes ({size['encoding']})")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
