"""The ``lsso-mobile`` command: dev, migrate, worker, relay, create-staff, staff ..., seed-demo, import-areas."""

from __future__ import annotations

import logging
import os
import socket
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


class _Commands(click.Group):
    """Lists each command with its whole first sentence, wrapped, never cut with '...'."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=10_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_Commands, context_settings={"max_content_width": 120, "help_option_names": ["-h", "--help"]})
@click.version_option(package_name="lsso-mobile", prog_name="lsso-mobile")
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
@click.option("--dry-run", is_flag=True, help="Only show what would be created or changed, and every bad row.")
def import_areas(csv_file: Path, dry_run: bool) -> None:
    """Load districts, villages and district offices from a CSV (columns: kind,code,parent_code,name_lo,name_en,
    has_office), all or nothing; --dry-run shows what it would do and changes nothing."""
    from lsso_mobile.errors import DomainError
    from lsso_mobile.services.area_import import apply_area_import, plan_area_import

    data = csv_file.read_bytes()
    rt = _runtime()
    try:
        with rt.db.unit_of_work() as session:
            plan = plan_area_import(session, data)
            for problem in plan.problems:
                click.echo(f"line {problem.line}: {problem.text}", err=True)
            if not dry_run and plan.applicable:
                plan = apply_area_import(session, data, expected_fingerprint=plan.fingerprint, source="cli")
            else:
                session.rollback()
    except DomainError as exc:
        raise click.ClickException(exc.text) from None
    counts = plan.counts
    click.echo(
        ("would import" if dry_run or not plan.applicable else "imported")
        + f" {sum(counts['district'].values())} districts, {sum(counts['village'].values())} villages,"
        + f" {'would open' if dry_run or not plan.applicable else 'opened'} {counts['office']['create']} district"
        + " offices"
    )
    for kind in ("district", "village"):
        click.echo(
            f"  {kind}s: " + ", ".join(f"{counts[kind][action]} {action}" for action in ("create", "update", "same"))
        )
    if plan.problems:
        raise click.ClickException(f"{len(plan.problems)} bad rows: nothing was imported")
    if dry_run:
        click.echo("dry run: nothing was changed")


@main.command("create-staff")
@click.option("--username", required=True)
@click.option("--role", type=click.Choice(["officer", "promoter", "ops", "admin"]), required=True)
@click.option("--office", "office_code", help="Office code (P01, D0101, ...); required for officers")
@click.option("--district", "district_code", help="District code (0101, ...); required for promoters")
@click.option("--name", "display_name", help="Display name", default=None)
@click.password_option("--password", help="At least 10 characters (prompted if not given)")
def create_staff(
    username: str,
    role: str,
    office_code: str | None,
    district_code: str | None,
    display_name: str | None,
    password: str,
) -> None:
    """Create an officer, promoter (field registrar of one district), ops or admin staff account."""
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
                session,
                rt.settings,
                username,
                password,
                StaffRole(role),
                display_name or username,
                office_id,
                district_code=district_code,
            )
            click.echo(f"created {staff.role.value} {staff.username}")
    except DomainError as exc:
        raise click.ClickException(exc.text) from None


@main.group("staff")
def staff_group() -> None:
    """Staff accounts: list, create, change role and office, disable, enable, unlock, reset a password,
    require or remove a second factor (the same operations as the admin API and console; each is audited)."""


def _staff_operation(operation: Any) -> Any:
    """Run ``operation(session, settings, actor)`` in one unit of work; domain refusals become CLI errors."""
    from lsso_mobile.errors import DomainError
    from lsso_mobile.models import utcnow
    from lsso_mobile.services.staff_accounts import Actor

    rt = _runtime()
    try:
        with rt.db.unit_of_work() as session:
            return operation(session, rt.settings, Actor(None, None, utcnow()))
    except DomainError as exc:
        raise click.ClickException(exc.text) from None


def _staff_id(session: Any, username: str) -> int:
    from sqlalchemy import select

    from lsso_mobile.models import StaffUser

    staff_id = session.scalar(select(StaffUser.id).where(StaffUser.username == username.strip().lower()))
    if staff_id is None:
        raise click.ClickException(f"no staff user {username}")
    return int(staff_id)


@staff_group.command("list")
@click.option("--search", "query", default=None, help="Text in the username or name")
@click.option("--role", type=click.Choice(["officer", "ops", "admin"]), default=None)
@click.option("--disabled/--active", "disabled", default=None, help="Only disabled (or only active) accounts")
def staff_list(query: str | None, role: str | None, disabled: bool | None) -> None:
    """One line per account: username, role, office, state, second factor."""
    from lsso_mobile.models import StaffRole
    from lsso_mobile.services.staff_accounts import list_staff, office_codes

    def run(session: Any, settings: Settings, actor: Any) -> None:
        after = None
        while True:
            accounts = list_staff(
                session,
                query,
                StaffRole(role) if role else None,
                None,
                None if disabled is None else not disabled,
                after,
                500,
            )
            if not accounts:
                return
            codes = office_codes(session, {a.office_id for a in accounts})
            for a in accounts:
                state = "active" if a.active else "disabled"
                factor = "totp" if a.totp_confirmed_at else ("required" if a.second_factor_required else "-")
                office = codes.get(a.office_id or 0, "-")
                click.echo(f"{a.username}\t{a.role.value}\t{office}\t{state}\t{factor}\t{a.display_name}")
            after = accounts[-1].id

    _staff_operation(run)


@staff_group.command("create")
@click.option("--username", required=True)
@click.option("--role", type=click.Choice(["officer", "ops", "admin"]), required=True)
@click.option("--office", "office_code", default=None, help="Office code; required for officers")
@click.option("--name", "display_name", default=None)
def staff_create(username: str, role: str, office_code: str | None, display_name: str | None) -> None:
    """Create an account with a temporary password (printed once; changed at the first sign-in)."""
    from lsso_mobile.models import StaffRole
    from lsso_mobile.services.staff_accounts import create_account, office_by_code

    def run(session: Any, settings: Settings, actor: Any) -> None:
        office_id = office_by_code(session, office_code)
        staff, temporary = create_account(
            session, settings, actor, username, StaffRole(role), display_name or username, office_id
        )
        click.echo(f"created {staff.role.value} {staff.username}\ntemporary password: {temporary}")

    _staff_operation(run)


@staff_group.command("update")
@click.argument("username")
@click.option("--role", type=click.Choice(["officer", "ops", "admin"]), required=True)
@click.option("--office", "office_code", default=None, help="Office code; required for officers")
@click.option("--name", "display_name", default=None, help="Display name (unchanged if not given)")
def staff_update(username: str, role: str, office_code: str | None, display_name: str | None) -> None:
    """Change an account's role, office and name."""
    from lsso_mobile.models import StaffRole, StaffUser
    from lsso_mobile.services.staff_accounts import office_by_code, update_account

    def run(session: Any, settings: Settings, actor: Any) -> None:
        staff_id = _staff_id(session, username)
        name = display_name or session.get(StaffUser, staff_id).display_name
        staff = update_account(session, actor, staff_id, StaffRole(role), office_by_code(session, office_code), name)
        click.echo(f"{staff.username}: {staff.role.value}")

    _staff_operation(run)


def _simple_staff_command(name: str, operation_name: str, done: str) -> None:
    @staff_group.command(name)
    @click.argument("username")
    def command(username: str) -> None:
        from lsso_mobile.services import staff_accounts

        operation = getattr(staff_accounts, operation_name)

        def run(session: Any, settings: Settings, actor: Any) -> None:
            staff = operation(session, actor, _staff_id(session, username))
            click.echo(f"{staff.username}: {done}")

        _staff_operation(run)

    command.__doc__ = f"{done.capitalize()} (the account named USERNAME)."


_simple_staff_command("disable", "disable_account", "disabled and signed out everywhere")
_simple_staff_command("enable", "enable_account", "enabled")
_simple_staff_command("unlock", "unlock_account", "failed sign-ins cleared")
_simple_staff_command("remove-second-factor", "remove_second_factor", "second factor removed, signed out")


@staff_group.command("reset-password")
@click.argument("username")
def staff_reset_password(username: str) -> None:
    """A temporary password (printed once); the user must change it at the next sign-in."""
    from lsso_mobile.services.staff_accounts import reset_password

    def run(session: Any, settings: Settings, actor: Any) -> None:
        staff, temporary = reset_password(session, settings, actor, _staff_id(session, username))
        click.echo(f"{staff.username}: temporary password: {temporary}")

    _staff_operation(run)


@staff_group.command("require-second-factor")
@click.argument("username")
@click.option("--off", is_flag=True, help="Stop requiring it")
def staff_require_second_factor(username: str, off: bool) -> None:
    """Require a TOTP second factor: without one, the next sign-in can only set it up."""
    from lsso_mobile.services.staff_accounts import require_second_factor

    def run(session: Any, settings: Settings, actor: Any) -> None:
        staff = require_second_factor(session, actor, _staff_id(session, username), not off)
        click.echo(f"{staff.username}: second factor {'required' if staff.second_factor_required else 'optional'}")

    _staff_operation(run)


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
    """Re-enqueue undelivered notifications and stalled broadcasts, and send due SMS fallbacks, once (the worker
    does this on a schedule)."""
    from lsso_mobile.tasks.periodic import relay_broadcast_work, relay_notices, send_due_sms_fallbacks

    _runtime()
    click.echo(f"re-enqueued {relay_notices()} notification(s)")
    click.echo(f"broadcasts: {relay_broadcast_work()}")
    click.echo(f"SMS fallback: {send_due_sms_fallbacks()}")


@main.command("reconcile-payments")
@click.option("--date", "day", default=None, help="The day (Vientiane) as YYYY-MM-DD; default yesterday")
def reconcile_payments_command(day: str | None) -> None:
    """Compare a day's transactions at the payment provider with our credits; mismatches go to review."""
    from datetime import date

    from lsso_mobile.tasks.periodic import reconcile_payments

    _runtime()
    try:
        parsed = date.fromisoformat(day) if day else None
    except ValueError:
        raise click.BadParameter("expected YYYY-MM-DD", param_hint="--date") from None
    result = reconcile_payments(parsed)
    click.echo(
        f"{result.day} at {result.provider}: {result.listed} paid transaction(s) listed, {result.credited} credit(s); "
        f"no credit: {len(result.no_credit)} {result.no_credit}; no transaction: {len(result.no_transaction)} "
        f"{result.no_transaction}"
    )


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


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _reset_embedded_database(database_url: str) -> None:
    """Start the demo over: the SQLite file goes (the next steps migrate and seed it again)."""
    if not database_url.startswith("sqlite:///"):
        raise click.ClickException(
            "--reset only deletes the embedded SQLite database; drop and create your own database yourself"
        )
    path = Path(database_url.removeprefix("sqlite:///"))
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    click.echo(f"reset: deleted {path}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--no-seed", is_flag=True, help="Do not load demo data")
@click.option("--reset", is_flag=True, help="Start the demo over: delete the embedded SQLite database first")
def dev(host: str, port: int, no_seed: bool, reset: bool) -> None:
    """Run on the embedded default: migrate, seed demo data, serve (SQLite, in-process jobs, logged pushes)."""
    from lsso_mobile import create_app
    from lsso_mobile.demo import seed_demo
    from lsso_mobile.migrate import upgrade
    from lsso_mobile.tasks.periodic import relay_broadcast_work, relay_notices, send_due_sms_fallbacks

    settings = _settings()
    if settings.is_production:
        raise click.ClickException("`lsso-mobile dev` is for development; production runs gunicorn wsgi:app")
    if not _port_is_free(host, port):  # before anything is migrated or seeded
        raise click.ClickException(
            f"port {port} on {host} is in use (another `make dev`?). Choose another port: "
            f"`make dev PORT={port + 1}` or `lsso-mobile dev --port {port + 1}`"
        )
    if reset:
        _reset_embedded_database(settings.database_url)
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
                    send_due_sms_fallbacks()  # notices not acknowledged in time go by SMS (logged, in dev)
            except Exception:  # noqa: BLE001 - keep the loop alive; the error is logged
                log.exception("relay failed")

    if os.environ.get("WERKZEUG_RUN_MAIN") != "true":
        threading.Thread(target=relay_loop, daemon=True, name="relay").start()
    click.echo(f"API docs: http://{host}:{port}/api/docs   OpenAPI: http://{host}:{port}/api/openapi.json")
    click.echo(f"Console: http://{host}:{port}/console/   Start here: http://{host}:{port}/")
    app.run(host=host, port=port, debug=False, use_reloader=False)


if __name__ == "__main__":  # pragma: no cover
    main()
