"""lsso-mobile: the backend of the Lao Social Security Office member app."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest.spec.plugins import integerconverter2paramschema
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter, ValidationError

from lsso_mobile.config import Settings, load_settings

__all__ = ["create_app"]


class RowIdConverter(IntegerConverter):
    """``<int:...>`` in paths: ids fit the 32-bit columns; anything larger is a 404, not a database error."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        from lsso_mobile.api.schemas import MAX_ROW_ID

        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(url_map, *args, **kwargs)

    def to_python(self, value: str) -> Any:
        # Out of range is "no such row" for every method: werkzeug's own refusal (a ValidationError) lets
        # the router answer 405 when another method's rule shares the path.
        try:
            return super().to_python(value)
        except ValidationError:
            raise NotFound() from None


def create_app(settings: Settings | None = None) -> Flask:
    """The application factory. ``settings`` defaults to the ``LSSO_*`` environment."""
    from lsso_mobile.api import register_blueprints
    from lsso_mobile.api.bodies import BoundedJSONProvider
    from lsso_mobile.api.error_docs import document_error_codes
    from lsso_mobile.api.errors import register_error_handlers
    from lsso_mobile.api.examples import add_examples
    from lsso_mobile.api.openapi import allow_null_in_nullable_enums, build_api
    from lsso_mobile.api.rate_limits import install_rate_limits
    from lsso_mobile.api.security import install_security
    from lsso_mobile.bootstrap import start_runtime
    from lsso_mobile.console import install_console
    from lsso_mobile.logs import configure_logging
    from lsso_mobile.observability import install_observability
    from lsso_mobile.services.cards import card_signer_from_settings
    from lsso_mobile.services.tokens import KeyRing

    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = Flask(__name__)
    app.url_map.converters["int"] = RowIdConverter
    app.json = BoundedJSONProvider(app)  # request.get_json refuses over-deep nesting too
    if settings.trusted_proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Behind N proxies the client's address is the Nth from the right in X-Forwarded-For.
        proxied = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies)
        app.wsgi_app = proxied  # type: ignore[method-assign]
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        API_TITLE="LSSO Mobile API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="/api/swagger-ui/",  # served from the swagger-ui-bundle package: no CDN
        OPENAPI_REDOC_PATH=None,
        JSON_SORT_KEYS=False,
        COMPRESS_MIMETYPES=["application/json", "text/html", "text/css", "text/javascript", "application/javascript"],
        COMPRESS_MIN_SIZE=500,  # bytes; smaller answers are not worth the CPU
        COMPRESS_ALGORITHM=["gzip"],
    )
    runtime = start_runtime(settings)
    app.extensions["lsso_runtime"] = runtime
    app.extensions["lsso_keyring"] = KeyRing.from_settings(settings)
    app.extensions["lsso_card_signer"] = card_signer_from_settings(settings)

    install_observability(app, settings, runtime)  # first: its after_request sees every other hook's answer
    api = build_api(app, _API_DESCRIPTION)
    api.register_converter(RowIdConverter, integerconverter2paramschema)  # documented with its maximum
    register_blueprints(api)
    document_error_codes(app, api)
    add_examples(api.spec)  # after every route: composed from each schema where a route gave none
    allow_null_in_nullable_enums(api.spec)
    register_error_handlers(app)
    install_security(app, settings)
    install_console(app, settings)
    install_rate_limits(app, settings)
    from flask_compress import Compress

    Compress(app)
    app.register_blueprint(_swagger_ui_assets())
    app.extensions["lsso_api"] = api

    @app.teardown_appcontext
    def _end_session(_exc: Any) -> None:
        runtime.db.remove_session()

    if not settings.uses_redis:
        app.logger.info("LSSO_REDIS_URL is not set: background jobs run in-process")
    if settings.push_backend == "log":
        app.logger.warning("LSSO_PUSH_BACKEND=log: pushes are written to the log, not sent to FCM")
    return app


def _swagger_ui_assets() -> Any:
    from flask import Blueprint
    from swagger_ui_bundle import swagger_ui_path

    return Blueprint("swagger_ui_assets", __name__, static_folder=swagger_ui_path, static_url_path="/api/swagger-ui")


_API_DESCRIPTION = (
    "Members sign up with a Lao mobile number, a code sent by SMS and a 6-digit PIN; staff sign in with "
    "username and password. Send the access token as `Authorization: Bearer <token>`. Every error has the "
    "shape `{code, status, message, errors}`."
)
