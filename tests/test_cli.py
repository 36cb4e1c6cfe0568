"""The `lsso-mobile` commands on a SQLite file of their own: migrate, import-areas, create-staff,
seed-demo (idempotent), relay."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import create_engine, func, select

from lsso_mobile import runtime
from lsso_mobile.cli import main
from lsso_mobile.models import Broadcast, BroadcastStatus, District, Member, Office, StaffUser
from lsso_mobile.services.reference import SAMPLE_AREAS_CSV


def test_commands_on_a_fresh_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {
        "LSSO_DATABASE_URL": url,
        "LSSO_INSTANCE_DIR": str(tmp_path),
        "LSSO_PASSWORD_HASHING": "fast",
        "LSSO_ENV": "test",
    }
    runner = CliRunner()
    try:
        assert runner.invoke(main, ["migrate"], env=env).exit_code == 0
        imported = runner.invoke(main, ["import-areas", str(SAMPLE_AREAS_CSV)], env=env)
        assert imported.exit_code == 0 and "9 districts, 8 villages" in imported.output
        created = runner.invoke(
            main,
            [
                "create-staff",
                "--username",
                "Officer.Pakse",
                "--role",
                "officer",
                "--office",
                "D1601",
                "--password",
                "long-enough-pw",
            ],
            env=env,
        )
        assert created.exit_code == 0, created.output
        no_office = runner.invoke(
            main, ["create-staff", "--username", "x", "--role", "officer", "--password", "long-enough-pw"], env=env
        )
        assert no_office.exit_code != 0 and "office" in no_office.output
        seeded = runner.invoke(main, ["seed-demo"], env=env)
        assert seeded.exit_code == 0, seeded.output
        assert "officer.vte" in seeded.output and "PIN" in seeded.output
        again = runner.invoke(main, ["seed-demo"], env=env)
        assert again.exit_code == 0 and "already loaded" in again.output
        relayed = runner.invoke(main, ["relay"], env=env)
        assert relayed.exit_code == 0 and "re-enqueued" in relayed.output
        bad_setting = runner.invoke(main, ["migrate"], env={**env, "LSSO_PUSH_BACKEND": "carrier-pigeon"})
        assert bad_setting.exit_code != 0 and "LSSO_PUSH_BACKEND" in bad_setting.output
    finally:
        runtime.current().close()
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(District)) == 9
        assert connection.scalar(select(func.count()).select_from(Office)) == 18 + 5
        assert (
            connection.scalar(select(StaffUser.username).where(StaffUser.role == "officer").order_by(StaffUser.id))
            == "officer.pakse"
        )
        assert connection.scalar(select(func.count()).select_from(Member)) == 2
        # the demo broadcast went through both ops users and out (pushes logged, jobs in-process)
        assert connection.execute(select(Broadcast.status, Broadcast.audience_members)).one() == (
            BroadcastStatus.SENT,
            2,
        )  # both demo members are in the capital
    engine.dispose()


def test_worker_refuses_without_redis(tmp_path):
    env = {"LSSO_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}", "LSSO_INSTANCE_DIR": str(tmp_path)}
    result = CliRunner().invoke(main, ["worker"], env=env)
    runtime.current().close()
    assert result.exit_code != 0 and "LSSO_REDIS_URL" in result.output
