"""Portal: phone-number sign-up with SMS codes, invite codes and a directory."""

import logging
import os
import secrets
import time
from collections.abc import Mapping

from flask import Flask, g, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.config import DEFAULT_SECRET_KEY, Config, DevConfig

log = logging.getLogger("portal.requests")

MIN_SECRET_KEY_LENGTH = 32
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
)


class PortalJSONProvider(DefaultJSONProvider):
    """Flask's JSON, except that a body nested too deeply for the parser is
    bad JSON (a 400) rather than a RecursionError (a 500)."""

    def loads(self, s, **kwargs):
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("The JSON is nested too deeply.") from None


def create_app(config: type[Config] | Mapping | None = None) -> Flask:
    """Build the application; `config` is a config class or a mapping of overrides."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder="../templates",
        static_folder="../static",
    )
    app.json = PortalJSONProvider(app)
    load_config(app, config)
    check_secret_key(app)

    configure_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    register_request_hooks(app)

    if app.config["PROXY_COUNT"] > 0:
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)
    return app


def load_config(app: Flask, config: type[Config] | Mapping | None) -> None:
    debug_requested = os.environ.get("FLASK_DEBUG", "").lower() in {"1", "true"}
    if isinstance(config, Mapping):
        app.config.from_object(DevConfig if debug_requested else Config)
        app.config.update(config)
    else:
        app.config.from_object(config or (DevConfig if debug_requested else Config))

    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        os.makedirs(app.instance_path, exist_ok=True)
        database_path = os.path.join(app.instance_path, "portal.sqlite3")
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{database_path}"
    app.debug = app.config["DEBUG"]


def check_secret_key(app: Flask) -> None:
    """Refuse a missing, default or short key outside debug and tests.

    In debug the public default is swapped for a random key kept in the
    instance folder, so tokens and cookies of a dev server cannot be forged
    with a key anyone can read in this repository.
    """
    secret_key = app.config["SECRET_KEY"]
    if app.config["TESTING"]:
        return

    if app.config["DEBUG"]:
        if secret_key in (None, "", DEFAULT_SECRET_KEY):
            app.config["SECRET_KEY"] = dev_secret_key(app.instance_path)
        return

    advice = (
        "Set it to a long random value, for example the output of: "
        "python -c 'import secrets; print(secrets.token_hex(32))'"
    )
    if secret_key in (None, "", DEFAULT_SECRET_KEY):
        raise RuntimeError("SECRET_KEY is not set. " + advice)
    if len(secret_key) < MIN_SECRET_KEY_LENGTH:
        raise RuntimeError(
            f"SECRET_KEY is shorter than {MIN_SECRET_KEY_LENGTH} characters. " + advice
        )


def dev_secret_key(instance_path: str) -> str:
    """A random key made once per checkout, for development only."""
    key_path = os.path.join(instance_path, "dev-secret-key")
    if not os.path.exists(key_path):
        os.makedirs(instance_path, exist_ok=True)
        descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as key_file:
            key_file.write(secrets.token_hex(32))
    with open(key_path) as key_file:
        return key_file.read().strip()


def configure_logging(app: Flask) -> None:
    portal_logger = logging.getLogger("portal")
    portal_logger.setLevel(app.config["LOG_LEVEL"])
    # SQL rows hold hashes and invite codes: a DEBUG root logger must not print
    # them. SQLALCHEMY_ECHO still works, as it sets the engine's own logger.
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    if not logging.getLogger().handlers and not portal_logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        portal_logger.addHandler(handler)


def register_extensions(app: Flask) -> None:
    from portal import auth
    from portal.extensions import csrf, db, limiter, login_manager, migrate
    from portal.services.sms import init_sms

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(app.root_path, "..", "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    auth.init_login_manager(login_manager)
    init_sms(app)


def register_blueprints(app: Flask) -> None:
    from portal.admin import bp as admin_bp
    from portal.api import bp as api_bp
    from portal.extensions import csrf
    from portal.web import bp as web_bp

    csrf.exempt(api_bp)
    app.register_blueprint(web_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(admin_bp)


def register_errorhandlers(app: Flask) -> None:
    from portal.http_errors import register

    register(app)


def register_commands(app: Flask) -> None:
    from portal.commands import register

    register(app)


def register_request_hooks(app: Flask) -> None:
    @app.before_request
    def start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def finish_request(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")

        started = g.get("request_started")
        elapsed_ms = (time.perf_counter() - started) * 1000 if started else 0.0
        log.info(
            "%s %s %s %.1fms",
            request.method,
            request.path,
            response.status_code,
            elapsed_ms,
        )
        return response
