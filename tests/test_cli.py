"""The `lsso-mobile` commands on a SQLite file of their own: migrate, import-areas, create-staff,
seed-demo (idempotent), relay."""

from __future__ import annotations

import socket

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select

from lsso_mobile import runtime
from lsso_mobile.cli import main
from lsso_mobile.models import (
    BenefitClaim,
    BenefitPayment,
    Broadcast,
    BroadcastStatus,
    ClaimStatus,
    Contribution,
    ContributionStatus,
    District,
    Member,
    Office,
    StaffUser,
)
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
        for credential in ("+8562055550001", "+8562055550002", "officer.vte", "ops.central", "ops.approver", "admin"):
            assert credential in again.output, credential  # a second run prints every credential again
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
        # the registered demo member has a record: contributions (paid, late, unpaid), a claim paid, a payment
        statuses = connection.execute(select(Contribution.status, func.count()).group_by(Contribution.status)).all()
        assert dict(statuses) == {ContributionStatus.PAID: 11, ContributionStatus.LATE: 1, ContributionStatus.UNPAID: 2}
        assert connection.execute(select(BenefitClaim.status)).scalars().all() == [ClaimStatus.PAID]
        assert connection.scalar(select(func.count()).select_from(BenefitPayment)) == 1
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


def test_version_and_help_are_whole(tmp_path):
    runner = CliRunner()
    version = runner.invoke(main, ["--version"])
    assert version.exit_code == 0 and version.output.startswith("lsso-mobile, version ")
    listed = runner.invoke(main, ["--help"], terminal_width=80)
    commands = listed.output.split("Commands:", 1)[1]
    assert listed.exit_code == 0 and "..." not in commands, listed.output
    assert "prints its id and secret (shown once)" in " ".join(listed.output.split())


def test_dev_says_how_to_choose_another_port_before_migrating(tmp_path):
    database = tmp_path / "dev.db"
    env = {"LSSO_DATABASE_URL": f"sqlite:///{database}", "LSSO_INSTANCE_DIR": str(tmp_path), "LSSO_ENV": "test"}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["dev", "--port", str(port)], env=env)
    assert result.exit_code != 0
    assert f"port {port}" in result.output and f"make dev PORT={port + 1}" in result.output, result.output
    assert not database.exists()  # nothing was migrated


def test_dev_reset_deletes_only_the_embedded_database(tmp_path):
    from lsso_mobile.cli import _reset_embedded_database

    database = tmp_path / "dev.db"
    database.write_bytes(b"old demo")
    _reset_embedded_database(f"sqlite:///{database}")
    assert not database.exists()
    with pytest.raises(click.ClickException, match="only deletes the embedded SQLite"):
        _reset_embedded_database("postgresql+psycopg://postgres@127.0.0.1:5432/lsso")
