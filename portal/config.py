"""Configuration read from the environment, with one class per way of running."""

import os

DEFAULT_SECRET_KEY = "dev-only-change-me"


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _env_bool(name: str, default: bool) -> bool:
    raw_value = os.environ.get(name)
    if raw_value is None:
        return default
    return raw_value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str) -> list[str]:
    raw_value = os.environ.get(name, default)
    return [item.strip().upper() for item in raw_value.split(",") if item.strip()]


class Config:
    """Production settings; every tunable is an environment variable."""

    DEBUG = False
    TESTING = False

    SECRET_KEY = os.environ.get("SECRET_KEY", DEFAULT_SECRET_KEY)
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL") or None
    # hide_parameters: SQL logging never shows values (hashes, invite codes).
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, "hide_parameters": True}
    MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 64 * 1024)

    PORTAL_DEFAULT_REGION = os.environ.get("PORTAL_DEFAULT_REGION", "UZ").upper()
    PORTAL_ALLOWED_REGIONS = _env_list(
        "PORTAL_ALLOWED_REGIONS", os.environ.get("PORTAL_DEFAULT_REGION", "UZ")
    )

    CODE_TTL = _env_int("CODE_TTL", 10 * 60)
    CODE_MAX_ATTEMPTS = _env_int("CODE_MAX_ATTEMPTS", 5)
    CODE_RESEND_COOLDOWN = _env_int("CODE_RESEND_COOLDOWN", 60)
    CODES_PER_PHONE_PER_DAY = _env_int("CODES_PER_PHONE_PER_DAY", 10)

    JWT_ACCESS_TTL = _env_int("JWT_ACCESS_TTL", 15 * 60)
    JWT_REFRESH_TTL = _env_int("JWT_REFRESH_TTL", 7 * 24 * 3600)

    SMS_BACKEND = os.environ.get("SMS_BACKEND", "console")
    INFOBIP_BASE_URL = os.environ.get("INFOBIP_BASE_URL", "")
    INFOBIP_API_KEY = os.environ.get("INFOBIP_API_KEY", "")
    INFOBIP_SENDER = os.environ.get("INFOBIP_SENDER", "Portal")
    INFOBIP_TIMEOUT = float(os.environ.get("INFOBIP_TIMEOUT", "5"))
    INFOBIP_RETRIES = _env_int("INFOBIP_RETRIES", 2)
    PUBLIC_HOST = os.environ.get("PUBLIC_HOST", "")
    OUTBOX_SIZE = _env_int("OUTBOX_SIZE", 50)

    DIRECTORY_PAGE_SIZE = _env_int("DIRECTORY_PAGE_SIZE", 20)
    INVITED_PAGE_SIZE = _env_int("INVITED_PAGE_SIZE", 20)
    API_PAGE_SIZE = _env_int("API_PAGE_SIZE", 10)
    API_MAX_PAGE_SIZE = 100
    # From this many rows (PostgreSQL's estimate), the unfiltered directory's
    # member count is cached per process; see directory.member_count.
    DIRECTORY_COUNT_CACHE_FROM = _env_int("DIRECTORY_COUNT_CACHE_FROM", 100_000)
    DIRECTORY_COUNT_CACHE_SECONDS = _env_int("DIRECTORY_COUNT_CACHE_SECONDS", 60)

    PROXY_COUNT = _env_int("PROXY_COUNT", 0)
    REDIS_URL = os.environ.get("REDIS_URL", "")

    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    # Off: Flask-Limiter would put Retry-After on every answer; the 429
    # handler sets it, with the time left, on the answers that need it.
    RATELIMIT_HEADERS_ENABLED = False
    RATELIMIT_PER_IP = os.environ.get("RATELIMIT_PER_IP", "30/minute;300/hour")
    RATELIMIT_PER_PHONE = os.environ.get("RATELIMIT_PER_PHONE", "10/minute;50/hour")
    RATELIMIT_PER_USER = os.environ.get("RATELIMIT_PER_USER", "120/minute")

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", True)
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    WTF_CSRF_TIME_LIMIT = None

    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")


class DevConfig(Config):
    """Local development: debug pages, console SMS, cookies over plain HTTP."""

    DEBUG = True
    SESSION_COOKIE_SECURE = False


class TestConfig(Config):
    """The test suite: fresh in-memory state, memory SMS, limits off by default."""

    TESTING = True
    SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256"
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    SMS_BACKEND = "memory"
    RATELIMIT_ENABLED = False
    RATELIMIT_STORAGE_URI = "memory://"
    SESSION_COOKIE_SECURE = False
    PORTAL_DEFAULT_REGION = "UZ"
    PORTAL_ALLOWED_REGIONS = ["UZ"]
    PUBLIC_HOST = ""
    PROXY_COUNT = 0
    REDIS_URL = ""
    LOG_LEVEL = "INFO"
