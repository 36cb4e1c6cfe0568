"""Settings, read once from ``LSSO_*`` environment variables and strictly parsed.

Every variable is listed in ``FIELDS``; an unknown ``LSSO_*`` name is an error (it is
almost always a typo), and so is a value that does not parse. In production the service
refuses to start without its secrets and says which one is missing. On PostgreSQL or Redis it refuses
to start unless LSSO_ENV says whether it is production (no silent fall-back to development defaults).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


ENVIRONMENTS = ("development", "test", "production")
MAX_JWT_LEEWAY_SECONDS = 300


@dataclass(frozen=True)
class Settings:
    env: str = ""  # unset: "development" on the embedded default only (see _with_defaults)
    database_url: str = ""
    instance_dir: str = "instance"
    secret_key: str = ""
    jwt_private_key_file: str = ""
    jwt_public_key_files: tuple[str, ...] = ()
    jwt_issuer: str = "lsso-mobile"
    jwt_audience: str = "lsso-mobile-api"
    jwt_leeway_seconds: int = 30
    access_token_minutes: int = 15
    refresh_token_days: int = 30
    redis_url: str = ""
    queue_prefix: str = "lsso"
    sms_backend: str = "log"
    sms_gateway_url: str = ""
    sms_gateway_token: str = ""
    sms_webhook_secret: str = ""
    # key=seconds, comma-separated: a template key or a category, and how long the app has to acknowledge
    # a notice before it goes by SMS. Categories not listed never fall back (unless the member chose SMS only).
    sms_fallback_windows: str = "registration=900,benefits=900,contributions=1800,contribution_due=14400,messages=7200"
    sms_daily_cap: int = 5
    sms_cost_per_part: int = 200
    sms_lookups_per_hour: int = 5
    push_backend: str = "log"
    fcm_credentials: str = ""
    fcm_endpoint: str = ""
    fcm_project_id: str = ""
    fcm_http_timeout: float = 10.0
    max_body_bytes: int = 1_048_576
    trusted_proxies: int = 0
    otp_sends_per_phone: int = 3
    otp_sends_per_ip: int = 30
    otp_sends_per_phone_per_ip: int = 2
    otp_window_minutes: int = 15
    otp_ttl_minutes: int = 5
    otp_max_attempts: int = 5
    link_failures_per_record: int = 5
    link_codes_per_record: int = 3
    link_window_minutes: int = 60
    login_max_failures: int = 5
    login_failures_per_ip: int = 50
    lockout_minutes: int = 15  # the window in which failures from one address count
    login_failure_window_minutes: int = 1440
    login_delay_max_seconds: int = 60
    staff_login_delay_max_seconds: int = 900
    password_hashing: str = "strong"
    # Staff roles that must sign in with a second factor (TOTP); None: "ops,admin" in production, none elsewhere.
    staff_second_factor_roles: tuple[str, ...] | None = None
    max_devices_per_member: int = 5
    device_stale_days: int = 270
    delivery_lease_seconds: int = 120
    relay_grace_seconds: int = 60
    relay_interval_seconds: int = 30
    push_max_attempts: int = 8
    push_retry_base_seconds: int = 15
    reminder_days_before_due: int = 5
    broadcast_slice_devices: int = 5000
    cors_origins: tuple[str, ...] = ()
    attachment_dir: str = ""
    attachment_max_bytes: int = 5 * 1024 * 1024
    upload_max_pixels: int = 25_000_000
    unsent_uploads_max_files: int = 10
    unsent_uploads_max_bytes: int = 20 * 1024 * 1024
    unsent_upload_minutes: int = 120
    first_response_hours: int = 8
    messages_per_minute: int = 10
    max_open_conversations: int = 5
    writes_per_minute: int = 60
    core_writes_per_minute: int = 600
    anonymous_writes_per_minute: int = 300
    card_signing_key_file: str = ""
    card_public_key_files: tuple[str, ...] = ()
    card_valid_days: int = 365
    promoter_daily_registrations: int = 60
    log_level: str = "INFO"
    payment_provider: str = "sandbox"
    payment_provider_url: str = "http://127.0.0.1:8124"
    payment_provider_token: str = ""
    payment_callback_secret: str = ""
    payment_callback_window_seconds: int = 300
    payment_provider_timeout: float = 10.0
    payment_feed_lag_seconds: int = 5
    bill_expiry_hours: int = 72
    laoqr_participant_id: str = "99990418"
    laoqr_merchant_id: str = "LSSO0000001"
    laoqr_merchant_name: str = "LAO SOCIAL SECURITY"
    laoqr_merchant_city: str = "VIENTIANE"
    laoqr_mcc: str = "9399"
    log_format: str = ""  # json in production, text otherwise (see _with_defaults)
    metrics_token: str = ""
    metrics_networks: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    worker_metrics_port: int = 0
    worker_metrics_bind: str = "127.0.0.1"
    storage_backend: str = "local"
    s3_bucket: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_prefix: str = ""
    database_retry_after_seconds: int = 5

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def uses_redis(self) -> bool:
        return bool(self.redis_url)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


# LSSO_<NAME> -> (field name, parser). One table, so the README and the code agree.
def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true/false")


def _choice(*allowed: str):
    def parse(raw: str) -> str:
        value = raw.strip()
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}")
        return value

    return parse


def _positive_int(raw: str) -> int:
    value = int(raw.strip())
    if value <= 0:
        raise ValueError("expected a positive whole number")
    return value


def _non_negative_int(raw: str) -> int:
    value = int(raw.strip())
    if value < 0:
        raise ValueError("expected zero or a positive whole number")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw.strip())
    if value <= 0:
        raise ValueError("expected a positive number")
    return value


def _windows(raw: str) -> str:
    """``registration=900,contribution_due=14400``: names (template keys or categories) and seconds."""
    pairs = [part.strip() for part in raw.split(",") if part.strip()]
    for pair in pairs:
        name, sep, seconds = pair.partition("=")
        if not sep or not re.fullmatch(r"[a-z_]{1,64}", name.strip()) or int(seconds.strip()) < 0:
            raise ValueError(f"{pair!r} is not name=seconds (e.g. registration=900)")
    return ",".join(pairs)


def fallback_windows(raw: str) -> dict[str, int]:
    """The parsed ``LSSO_SMS_FALLBACK_WINDOWS``: name -> seconds."""
    windows = {}
    for pair in raw.split(","):
        if pair.strip():
            name, _, seconds = pair.partition("=")
            windows[name.strip()] = int(seconds.strip())
    return windows


def _path_list(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def _staff_role_list(raw: str) -> tuple[str, ...]:
    roles = _path_list(raw.lower())
    unknown = set(roles) - {"officer", "ops", "admin"}
    if unknown:
        raise ValueError(f"unknown staff roles {sorted(unknown)} (officer, ops, admin)")
    return roles


def _origin_list(raw: str) -> tuple[str, ...]:
    """Browser origins allowed to call the API (``https://staff.lsso.gov.la``), comma-separated."""
    origins = _path_list(raw)
    for origin in origins:
        if not _ORIGIN.fullmatch(origin):
            raise ValueError(f"{origin!r} is not an origin like https://staff.example.la (no path, no wildcard)")
    return origins


def _digits(count: int) -> Any:
    def parse(raw: str) -> str:
        value = raw.strip()
        if not re.fullmatch(f"[0-9]{{{count}}}", value):
            raise ValueError(f"expected exactly {count} digits")
        return value

    return parse


def _emv_text(shortest: int, longest: int) -> Any:
    """A LAO QR field: printable ASCII (EMVCo's alphanumeric special set), within the field's length."""

    def parse(raw: str) -> str:
        value = raw.strip()
        if not (shortest <= len(value) <= longest) or not re.fullmatch(r"[ -~]+", value):
            raise ValueError(f"expected {shortest} to {longest} printable ASCII characters")
        return value

    return parse


def _network_list(raw: str) -> tuple[str, ...]:
    """Networks (CIDR) allowed to read the metrics without the token, comma-separated; empty: none."""
    import ipaddress

    networks = _path_list(raw)
    for network in networks:
        ipaddress.ip_network(network, strict=False)  # ValueError names the bad one
    return networks


FIELDS: dict[str, tuple[str, Any]] = {
    "LSSO_ENV": ("env", _choice(*ENVIRONMENTS)),
    "LSSO_DATABASE_URL": ("database_url", str.strip),
    "LSSO_INSTANCE_DIR": ("instance_dir", str.strip),
    "LSSO_SECRET_KEY": ("secret_key", str),
    "LSSO_JWT_PRIVATE_KEY_FILE": ("jwt_private_key_file", str.strip),
    "LSSO_JWT_PUBLIC_KEY_FILES": ("jwt_public_key_files", _path_list),
    "LSSO_JWT_ISSUER": ("jwt_issuer", str.strip),
    "LSSO_JWT_AUDIENCE": ("jwt_audience", str.strip),
    "LSSO_JWT_LEEWAY_SECONDS": ("jwt_leeway_seconds", _non_negative_int),
    "LSSO_ACCESS_TOKEN_MINUTES": ("access_token_minutes", _positive_int),
    "LSSO_REFRESH_TOKEN_DAYS": ("refresh_token_days", _positive_int),
    "LSSO_REDIS_URL": ("redis_url", str.strip),
    "LSSO_QUEUE_PREFIX": ("queue_prefix", str.strip),
    "LSSO_SMS_BACKEND": ("sms_backend", _choice("log", "http")),
    "LSSO_SMS_GATEWAY_URL": ("sms_gateway_url", str.strip),
    "LSSO_SMS_GATEWAY_TOKEN": ("sms_gateway_token", str),
    "LSSO_SMS_WEBHOOK_SECRET": ("sms_webhook_secret", str),
    "LSSO_SMS_FALLBACK_WINDOWS": ("sms_fallback_windows", _windows),
    "LSSO_SMS_DAILY_CAP": ("sms_daily_cap", _non_negative_int),
    "LSSO_SMS_COST_PER_PART": ("sms_cost_per_part", _non_negative_int),
    "LSSO_SMS_LOOKUPS_PER_HOUR": ("sms_lookups_per_hour", _non_negative_int),
    "LSSO_PUSH_BACKEND": ("push_backend", _choice("log", "fcm")),
    "LSSO_FCM_CREDENTIALS": ("fcm_credentials", str.strip),
    "LSSO_FCM_ENDPOINT": ("fcm_endpoint", str.strip),
    "LSSO_FCM_PROJECT_ID": ("fcm_project_id", str.strip),
    "LSSO_FCM_HTTP_TIMEOUT": ("fcm_http_timeout", _positive_float),
    "LSSO_MAX_BODY_BYTES": ("max_body_bytes", _positive_int),
    "LSSO_TRUSTED_PROXIES": ("trusted_proxies", _non_negative_int),
    "LSSO_OTP_SENDS_PER_PHONE": ("otp_sends_per_phone", _positive_int),
    "LSSO_OTP_SENDS_PER_IP": ("otp_sends_per_ip", _positive_int),
    "LSSO_OTP_SENDS_PER_PHONE_PER_IP": ("otp_sends_per_phone_per_ip", _positive_int),
    "LSSO_OTP_WINDOW_MINUTES": ("otp_window_minutes", _positive_int),
    "LSSO_OTP_TTL_MINUTES": ("otp_ttl_minutes", _positive_int),
    "LSSO_OTP_MAX_ATTEMPTS": ("otp_max_attempts", _positive_int),
    "LSSO_LINK_FAILURES_PER_RECORD": ("link_failures_per_record", _positive_int),
    "LSSO_LINK_CODES_PER_RECORD": ("link_codes_per_record", _positive_int),
    "LSSO_LINK_WINDOW_MINUTES": ("link_window_minutes", _positive_int),
    "LSSO_LOGIN_MAX_FAILURES": ("login_max_failures", _positive_int),
    "LSSO_LOGIN_FAILURES_PER_IP": ("login_failures_per_ip", _positive_int),
    "LSSO_LOCKOUT_MINUTES": ("lockout_minutes", _positive_int),
    "LSSO_LOGIN_FAILURE_WINDOW_MINUTES": ("login_failure_window_minutes", _positive_int),
    "LSSO_LOGIN_DELAY_MAX_SECONDS": ("login_delay_max_seconds", _positive_int),
    "LSSO_STAFF_LOGIN_DELAY_MAX_SECONDS": ("staff_login_delay_max_seconds", _positive_int),
    "LSSO_PASSWORD_HASHING": ("password_hashing", _choice("strong", "fast")),
    "LSSO_STAFF_SECOND_FACTOR_ROLES": ("staff_second_factor_roles", _staff_role_list),
    "LSSO_MAX_DEVICES_PER_MEMBER": ("max_devices_per_member", _positive_int),
    "LSSO_DEVICE_STALE_DAYS": ("device_stale_days", _positive_int),
    "LSSO_DELIVERY_LEASE_SECONDS": ("delivery_lease_seconds", _positive_int),
    "LSSO_RELAY_GRACE_SECONDS": ("relay_grace_seconds", _positive_int),
    "LSSO_RELAY_INTERVAL_SECONDS": ("relay_interval_seconds", _positive_int),
    "LSSO_PUSH_MAX_ATTEMPTS": ("push_max_attempts", _positive_int),
    "LSSO_PUSH_RETRY_BASE_SECONDS": ("push_retry_base_seconds", _positive_int),
    "LSSO_REMINDER_DAYS_BEFORE_DUE": ("reminder_days_before_due", _non_negative_int),
    "LSSO_BROADCAST_SLICE_DEVICES": ("broadcast_slice_devices", _positive_int),
    "LSSO_CORS_ORIGINS": ("cors_origins", _origin_list),
    "LSSO_ATTACHMENT_DIR": ("attachment_dir", str.strip),
    "LSSO_ATTACHMENT_MAX_BYTES": ("attachment_max_bytes", _positive_int),
    "LSSO_UPLOAD_MAX_PIXELS": ("upload_max_pixels", _positive_int),
    "LSSO_UNSENT_UPLOADS_MAX_FILES": ("unsent_uploads_max_files", _positive_int),
    "LSSO_UNSENT_UPLOADS_MAX_BYTES": ("unsent_uploads_max_bytes", _positive_int),
    "LSSO_UNSENT_UPLOAD_MINUTES": ("unsent_upload_minutes", _positive_int),
    "LSSO_FIRST_RESPONSE_HOURS": ("first_response_hours", _positive_int),
    "LSSO_MESSAGES_PER_MINUTE": ("messages_per_minute", _positive_int),
    "LSSO_MAX_OPEN_CONVERSATIONS": ("max_open_conversations", _positive_int),
    "LSSO_WRITES_PER_MINUTE": ("writes_per_minute", _positive_int),
    "LSSO_CORE_WRITES_PER_MINUTE": ("core_writes_per_minute", _positive_int),
    "LSSO_ANONYMOUS_WRITES_PER_MINUTE": ("anonymous_writes_per_minute", _positive_int),
    "LSSO_CARD_SIGNING_KEY_FILE": ("card_signing_key_file", str.strip),
    "LSSO_CARD_PUBLIC_KEY_FILES": ("card_public_key_files", _path_list),
    "LSSO_CARD_VALID_DAYS": ("card_valid_days", _positive_int),
    "LSSO_PROMOTER_DAILY_REGISTRATIONS": ("promoter_daily_registrations", _positive_int),
    "LSSO_LOG_LEVEL": ("log_level", _choice("DEBUG", "INFO", "WARNING", "ERROR")),
    "LSSO_PAYMENT_PROVIDER": ("payment_provider", _choice("sandbox", "bank")),
    "LSSO_PAYMENT_PROVIDER_URL": ("payment_provider_url", str.strip),
    "LSSO_PAYMENT_PROVIDER_TOKEN": ("payment_provider_token", str),
    "LSSO_PAYMENT_CALLBACK_SECRET": ("payment_callback_secret", str),
    "LSSO_PAYMENT_CALLBACK_WINDOW_SECONDS": ("payment_callback_window_seconds", _positive_int),
    "LSSO_PAYMENT_PROVIDER_TIMEOUT": ("payment_provider_timeout", _positive_float),
    "LSSO_PAYMENT_FEED_LAG_SECONDS": ("payment_feed_lag_seconds", _non_negative_int),
    "LSSO_BILL_EXPIRY_HOURS": ("bill_expiry_hours", _positive_int),
    "LSSO_LAOQR_PARTICIPANT_ID": ("laoqr_participant_id", _digits(8)),
    "LSSO_LAOQR_MERCHANT_ID": ("laoqr_merchant_id", _emv_text(1, 25)),
    "LSSO_LAOQR_MERCHANT_NAME": ("laoqr_merchant_name", _emv_text(1, 25)),
    "LSSO_LAOQR_MERCHANT_CITY": ("laoqr_merchant_city", _emv_text(1, 15)),
    "LSSO_LAOQR_MCC": ("laoqr_mcc", _digits(4)),
    "LSSO_LOG_FORMAT": ("log_format", _choice("json", "text")),
    "LSSO_METRICS_TOKEN": ("metrics_token", str.strip),
    "LSSO_METRICS_NETWORKS": ("metrics_networks", _network_list),
    "LSSO_WORKER_METRICS_PORT": ("worker_metrics_port", _non_negative_int),
    "LSSO_WORKER_METRICS_BIND": ("worker_metrics_bind", str.strip),
    "LSSO_STORAGE_BACKEND": ("storage_backend", _choice("local", "s3")),
    "LSSO_S3_BUCKET": ("s3_bucket", str.strip),
    "LSSO_S3_ENDPOINT_URL": ("s3_endpoint_url", str.strip),
    "LSSO_S3_REGION": ("s3_region", str.strip),
    "LSSO_S3_PREFIX": ("s3_prefix", str.strip),
    "LSSO_DATABASE_RETRY_AFTER_SECONDS": ("database_retry_after_seconds", _positive_int),
}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings from the environment (``os.environ`` by default), then apply overrides."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith("LSSO_"):
            continue
        if name not in FIELDS:
            raise ConfigError(f"{name} is not a setting of lsso-mobile (see the README's configuration table)")
        field_name, parse = FIELDS[name]
        try:
            values[field_name] = parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{name}={raw!r} is invalid: {exc}") from None
    values.update(overrides)
    settings = Settings(**values)
    return _with_defaults(settings)


def _with_defaults(settings: Settings) -> Settings:
    changes: dict[str, Any] = {}
    instance = Path(settings.instance_dir)
    if not settings.env:
        settings = settings.replace(env=_unstated_environment(settings))
    if not settings.database_url:
        if settings.is_production:
            raise ConfigError("LSSO_DATABASE_URL is required in production")
        changes["database_url"] = f"sqlite:///{(instance / 'lsso.db').resolve()}"
    if settings.staff_second_factor_roles is None:
        changes["staff_second_factor_roles"] = ("ops", "admin") if settings.is_production else ()
    if not settings.attachment_dir:
        changes["attachment_dir"] = str((instance / "attachments").resolve())
    if not settings.log_format:
        changes["log_format"] = "json" if settings.is_production else "text"
    if settings.storage_backend == "s3" and not settings.s3_bucket:
        raise ConfigError("LSSO_S3_BUCKET is required with LSSO_STORAGE_BACKEND=s3")
    if settings.is_production and settings.metrics_token and len(settings.metrics_token) < 24:
        raise ConfigError("LSSO_METRICS_TOKEN must be at least 24 characters in production")
    if settings.is_production:
        for name, value in (
            ("LSSO_SECRET_KEY", settings.secret_key),
            ("LSSO_JWT_PRIVATE_KEY_FILE", settings.jwt_private_key_file),
            ("LSSO_CARD_SIGNING_KEY_FILE", settings.card_signing_key_file),
        ):
            if not value:
                raise ConfigError(f"{name} is required in production and is not set")
        if len(settings.secret_key) < 32:
            raise ConfigError("LSSO_SECRET_KEY must be at least 32 characters in production")
        if settings.password_hashing != "strong":
            raise ConfigError("LSSO_PASSWORD_HASHING=fast is for tests only, not production")
        # Development conveniences that would be unsafe or lose work in production:
        refusals = (
            (settings.database_url.startswith("sqlite"), "LSSO_DATABASE_URL must be PostgreSQL in production"),
            (not settings.redis_url, "LSSO_REDIS_URL is required in production (workers, retries, relay)"),
            (settings.sms_backend != "http", "LSSO_SMS_BACKEND=http is required in production (log writes codes)"),
            (settings.push_backend != "fcm", "LSSO_PUSH_BACKEND=fcm is required in production"),
            (not settings.fcm_credentials, "LSSO_FCM_CREDENTIALS is required in production"),
            (bool(settings.fcm_endpoint), "LSSO_FCM_ENDPOINT is for tests and staging, not production"),
            (
                settings.sms_backend == "http" and not settings.sms_gateway_url.startswith("https://"),
                "LSSO_SMS_GATEWAY_URL must be https:// in production",
            ),
            (settings.payment_provider == "sandbox", "LSSO_PAYMENT_PROVIDER=bank is required in production"),
            (
                settings.payment_provider == "bank" and not settings.payment_provider_url.startswith("https://"),
                "LSSO_PAYMENT_PROVIDER_URL must be https:// in production",
            ),
        )
        for refused, message in refusals:
            if refused:
                raise ConfigError(message)
    if settings.jwt_leeway_seconds > MAX_JWT_LEEWAY_SECONDS:
        raise ConfigError(
            f"LSSO_JWT_LEEWAY_SECONDS must be at most {MAX_JWT_LEEWAY_SECONDS}: it is for clock differences "
            "between machines, and it lengthens every token's life by as much"
        )
    if settings.sms_backend == "http":
        if not settings.sms_gateway_url:
            raise ConfigError("LSSO_SMS_GATEWAY_URL is required with LSSO_SMS_BACKEND=http")
        if not settings.sms_gateway_token:
            raise ConfigError("LSSO_SMS_GATEWAY_TOKEN is required with LSSO_SMS_BACKEND=http")
        if settings.is_production and len(settings.sms_webhook_secret) < 32:
            raise ConfigError(
                "LSSO_SMS_WEBHOOK_SECRET (32+ characters) is required in production: it authenticates the "
                "gateway's delivery reports and inbound SMS"
            )
    if settings.payment_provider == "bank" and (
        len(settings.payment_callback_secret) < 32 or not settings.payment_provider_token
    ):
        raise ConfigError(
            "LSSO_PAYMENT_PROVIDER=bank needs LSSO_PAYMENT_CALLBACK_SECRET (32+ characters) and "
            "LSSO_PAYMENT_PROVIDER_TOKEN"
        )
    if settings.push_backend == "fcm" and not (settings.fcm_credentials or settings.fcm_endpoint):
        raise ConfigError("LSSO_PUSH_BACKEND=fcm needs LSSO_FCM_CREDENTIALS (or LSSO_FCM_ENDPOINT for a test server)")
    # A claimed push must outlive the worst case of the batch waiting behind another and its own
    # send (500 notices x devices each, 500 per call, each call up to the HTTP timeout), or a slow
    # send could be claimed a second time.
    calls_per_batch = -(-500 * settings.max_devices_per_member // 500)
    worst_case = 2 * calls_per_batch * settings.fcm_http_timeout
    if settings.delivery_lease_seconds <= worst_case and settings.env != "test":
        raise ConfigError(
            f"LSSO_DELIVERY_LEASE_SECONDS must exceed {worst_case:.0f} (2 x calls per batch x LSSO_FCM_HTTP_TIMEOUT)"
        )
    if settings.unsent_uploads_max_bytes < settings.attachment_max_bytes:
        raise ConfigError("LSSO_UNSENT_UPLOADS_MAX_BYTES must be at least LSSO_ATTACHMENT_MAX_BYTES (one file)")
    if not settings.secret_key:
        # Development and test only (production refused above): a fixed, clearly fake key.
        changes["secret_key"] = "dev-only-secret-key-not-for-production-use"
    if not settings.payment_callback_secret:
        # The sandbox bank's shared secret (development and test only; ``bank`` requires its own, above).
        changes["payment_callback_secret"] = "sandbox-callback-secret-not-for-production"
    return settings.replace(**changes) if changes else settings


def _unstated_environment(settings: Settings) -> str:
    """LSSO_ENV when it is not set: development, but only on the embedded default (SQLite, no Redis).

    Outside production the service has conveniences that are unsafe where real people are served: codes
    written to the log, a fixed public secret key, a JWT key made per machine. A service on PostgreSQL or
    Redis looks like a real deployment, so it must say what it is: LSSO_ENV=production (and then every
    production check applies), or LSSO_ENV=development / LSSO_ENV=test to say, explicitly, that it is not
    production. It never falls back to development silently."""
    if settings.database_url and not settings.database_url.startswith("sqlite"):
        reason = "LSSO_DATABASE_URL is not SQLite"
    elif settings.redis_url:
        reason = "LSSO_REDIS_URL is set"
    else:
        return "development"
    raise ConfigError(
        f"LSSO_ENV is not set and {reason}: set LSSO_ENV=production for a real deployment (its secrets and "
        "backends are then required), or LSSO_ENV=development or LSSO_ENV=test to say that this is not "
        "production (codes are then logged, and keys may be development defaults)"
    )


def child_environ(settings: Settings | None = None) -> dict[str, str]:
    """This process's environment without its ``LSSO_*`` variables, plus those that reproduce ``settings``:
    the environment for a worker or a server started from here."""
    environ = {name: value for name, value in os.environ.items() if not name.startswith("LSSO_")}
    if settings is not None:
        environ.update(settings_to_environ(settings))
    return environ


def settings_to_environ(settings: Settings) -> dict[str, str]:
    """The ``LSSO_*`` variables that reproduce ``settings`` in another process (a worker, say)."""
    environ: dict[str, str] = {}
    for name, (field_name, _parse) in FIELDS.items():
        value = getattr(settings, field_name)
        if value in ("", None, ()):
            continue
        environ[name] = ",".join(value) if isinstance(value, tuple) else str(value)
    return environ
