"""What /healthz reports: the database and, when configured, Redis."""

import logging

import redis
from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.extensions import db

log = logging.getLogger(__name__)


def check() -> dict:
    report = {"status": "ok", "database": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        report["status"] = report["database"] = "unavailable"

    redis_url = redis_url_in_use()
    if redis_url:
        client = redis.Redis.from_url(
            redis_url, socket_timeout=1, socket_connect_timeout=1, retry=None
        )
        try:
            client.ping()
            report["redis"] = "ok"
        except redis.RedisError as exc:
            log.warning("healthz redis unavailable error=%s", type(exc).__name__)
            report["status"] = report["redis"] = "unavailable"
        finally:
            client.close()
    return report


def redis_url_in_use() -> str:
    """REDIS_URL, or the limiter's storage when that is Redis."""
    storage_uri = current_app.config["RATELIMIT_STORAGE_URI"]
    if current_app.config["REDIS_URL"]:
        return current_app.config["REDIS_URL"]
    return storage_uri if storage_uri.startswith(("redis://", "rediss://")) else ""
