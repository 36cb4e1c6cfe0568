"""The ``lsso-mobile`` command: dev, migrate, worker, relay, create-staff, seed-demo, import-areas."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import click

from lsso_mobile.config import ConfigError, Settings, load_settings
from lsso_mobile.jobs import ALL_QUEUES
from lsso_mobile.logs import configure_logging

log = logging.getLogger("lsso_mobile.cli")


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _runtime(**overrides: object):
    from lsso_mobile.bootstrap import start_runtime

    settings = _settings(**overrides)
    configure_logging(settings.log_level, settings.log_format)
    return start_runtime(settings)


@click.group()
def main() -> None:
    """Backend of the Lao Social Security Office member app."""


@main.command()
def migrate() -> None:
    """Bring the database schema up to date (SQLite or PostgreSQL, from LSSO_DATABASE_URL)."""
    from lsso_mobile.migrate import upgrade

    settings = _settings()
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    click.echo("database is up to date")


@main.command("import-areas")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_areas(csv_file: Path) -> None:
    """Load districts and villages from a CSV (columns: kind,code,parent_code,name_lo,name_en,has_office)."""
    from lsso_mobile.errors import DomainError
    from lsso_mobile.services.reference import import_areas_file

    rt = _runtime()
    try:
        with rt.db.unit_of_work() as session:
            result = import_areas_file(session, csv_file)
    except DomainError as exc:
        raise click.ClickException(exc.text) from None
    click.echo(
        f"imported {result.districts} districts, {result.villages} villages, opened {result.offices} district offices"
    )


@main.command("create-staff")
@click.option("--username", required=True)
@click.option("--role", type=click.Choice(["officer", "ops", "admin"]), required=True)
@click.option("--office", "office_code", help="Office code (P01, D0101, ...); required for officers")
@click.option("--name", "display_name", help="Display name", default=None)
@click.password_option("--password", help="At least 10 characters (prompted if not given)")
def create_staff(username: str, role: str, office_code: str | None, display_name: str | None, password: str) -> None:
    """Create an office, ops or admin staff account."""
    from sqlalchemy import select

    from lsso_mobile.errors import DomainError
    from lsso_mobile.models import Office, StaffRole
    from lsso_mobile.services.accounts import create_staff_user

    rt = _runtime()
    try:
        with rt.db.unit_of_work() as session:
            office_id = None
            if office_code:
                office_id = session.scalar(select(Office.id).where(Office.code == office_code))
                if office_id is None:
                    raise click.ClickException(f"no office with code {office_code}")
            staff = create_staff_user(
                session, rt.settings, username, password, StaffRole(role), display_name or username, office_id
            )
            click.echo(f"created {staff.role.value} {staff.username}")
    except DomainError as exc:
        raise click.ClickException(exc.text) from None


@main.command("create-client")
@click.option("--name", required=True, help="Which system this is, e.g. 'LSSO core system'")
def create_client(name: str) -> None:
    """Create a machine client for the integration API; prints its id and secret (shown once)."""
    from lsso_mobile.services.accounts import create_integration_client

    rt = _runtime()
    with rt.db.unit_of_work() as session:
        client, secret = create_integration_client(session, rt.settings, name)
        click.echo(f"client_id: {client.client_id}\nclient_secret: {secret}")
        click.echo("(store the secret now; it is not shown again)")


@main.command("import-contributions")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_contributions_command(csv_file: Path) -> None:
    """Import contributions from a CSV file (the integration API's columns); prints the per-record result."""
    import json

    from lsso_mobile.models import utcnow
    from lsso_mobile.services.core_import import import_contributions, parse_csv

    rt = _runtime()
    with rt.db.unit_of_work() as session:
        result = import_contributions(session, parse_csv(csv_file.read_text(encoding="utf-8-sig")), utcnow())
    click.echo(json.dumps({**result.__dict__, "accepted": result.accepted}, ensure_ascii=False, indent=1))
    if result.rejected:
        raise SystemExit(3)


@main.command("seed-demo")
def seed_demo_command() -> None:
    """Load sample areas and demo accounts (a member with a history, an officer, ops, admin); print credentials."""
    from lsso_mobile.demo import seed_demo

    rt = _runtime()
    for line in seed_demo(rt):
        click.echo(line)


@main.command()
def relay() -> None:
    """Re-enqueue undelivered notifications and stalled broadcasts once (the worker does this on a schedule)."""
    from lsso_mobile.tasks.periodic import relay_broadcast_work, relay_notices

    _runtime()
    click.echo(f"re-enqueued {relay_notices()} notification(s)")
    click.echo(f"broadcasts: {relay_broadcast_work()}")


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queues are empty (tests, one-off runs)")
@click.option("--queues", default=",".join(ALL_QUEUES), show_default=True)
@click.option(
    "--metrics-port",
    type=int,
    default=None,
    help="Serve this worker's Prometheus metrics on this port (default LSSO_WORKER_METRICS_PORT; 0: off)",
)
def worker(burst: bool, queues: str, metrics_port: int | None) -> None:
    """Run an RQ worker with its scheduler (retries, deferred pushes) and the periodic relay."""
    from lsso_mobile.worker import run_worker

    rt = _runtime()
    if not rt.settings.uses_redis:
        raise click.ClickException("LSSO_REDIS_URL is not set: without Redis, jobs run inside the web process")
    port = rt.settings.worker_metrics_port if metrics_port is None else metrics_port
    if port:
        from lsso_mobile.observability import start_worker_metrics_server

        start_worker_metrics_server(rt, port)
    run_worker(rt, [q.strip() for q in queues.split(",") if q.strip()], burst=burst)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-seed", is_flag=True, help="Do not load demo data")
def dev(host: str, port: int, no_seed: bool) -> None:
    """Run on the embedded default: migrate, seed demo data, serve (SQLite, in-process jobs, logged pushes)."""
    from lsso_mobile import create_app
    from lsso_mobile.demo import seed_demo
    from lsso_mobile.migrate import upgrade
    from lsso_mobile.tasks.periodic import relay_broadcast_work, relay_notices

    settings = _settings()
    if settings.is_production:
        raise click.ClickException("`lsso-mobile dev` is for development; production runs gunicorn wsgi:app")
    if settings.database_url.startswith("sqlite:///"):
        Path(settings.database_url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    app = create_app(settings)
    from lsso_mobile import runtime as runtime_module

    if not no_seed:
        for line in seed_demo(runtime_module.current()):
            click.echo(line)

    def relay_loop() -> None:  # deferred and retried pushes, in-process
        while True:
            time.sleep(settings.relay_interval_seconds)
            try:
                try:
                    relay_notices()
                finally:
                    relay_broadcast_work()
            except Exception:  # noqa: BLE001 - keep the loop alive; the error is logged
                log.exception("relay failed")

    if os.environ.get("WERKZEUG_RUN_MAIN") != "true":
        threading.Thread(target=relay_loop, daemon=True, name="relay").start()
    click.echo(f"API docs: http://{host}:{port}/api/docs   OpenAPI: http://{host}:{port}/api/openapi.json")
    app.run(host=host, port=port, debug=False, use_reloader=False)


if __name__ == "__main__":  # pragma: no cover
    main()
