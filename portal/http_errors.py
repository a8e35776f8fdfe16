"""Turn every error into the right answer: JSON under /api, a page elsewhere."""

import math
import time

from flask import Flask, jsonify, make_response, render_template, request
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.errors import PortalError
from portal.extensions import db, limiter
from portal.security_log import security_logger

log = security_logger(__name__)

MESSAGES = {
    400: "The request could not be understood.",
    401: "Sign in first.",
    403: "You are not allowed to do that.",
    404: "There is nothing here.",
    405: "This method is not allowed here.",
    413: "The request body is too large.",
    415: "Send the body as application/json.",
    429: "Too many requests. Please wait a little and try again.",
    500: "Something went wrong on our side.",
    503: "The service is unavailable right now.",
}


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(
    status: int,
    message: str,
    errors: dict | None = None,
    retry_after: int | None = None,
):
    """The one place that shapes an error for either face."""
    if wants_json():
        response = jsonify({"message": message, "errors": errors or {}})
        response.status_code = status
    else:
        page = render_template(
            "errors/error.html", status=status, message=message, errors=errors or {}
        )
        response = make_response(page, status)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def retry_after_for(exc: RateLimitExceeded) -> int:
    """Seconds until the limit that was hit lets a request through again."""
    window = int(exc.limit.limit.get_expiry())
    breached = limiter.current_limit
    if breached is not None and breached.breached:
        # The storage rounds the reset time up to whole seconds.
        return max(min(math.ceil(breached.reset_at - time.time()), window), 1)
    return max(window, 1)


def register(app: Flask) -> None:
    @app.errorhandler(PortalError)
    def handle_portal_error(exc: PortalError):
        return error_response(exc.status_code, exc.message, exc.errors, exc.retry_after)

    @app.errorhandler(RateLimitExceeded)
    def handle_rate_limit(exc: RateLimitExceeded):
        log.warning("rate limited path=%s", request.path)
        return error_response(429, MESSAGES[429], retry_after=retry_after_for(exc))

    @app.errorhandler(CSRFError)
    def handle_csrf_error(exc: CSRFError):
        log.warning("csrf refused path=%s", request.path)
        return error_response(
            400,
            "The form expired or was sent from another site. "
            "Reload the page and try again.",
        )

    @app.errorhandler(HTTPException)
    def handle_http_error(exc: HTTPException):
        status = exc.code or 500
        return error_response(status, MESSAGES.get(status, exc.description))

    @app.errorhandler(InternalServerError)
    def handle_server_error(exc: InternalServerError):
        db.session.rollback()
        log.exception("unhandled error path=%s", request.path)
        return error_response(500, MESSAGES[500])
