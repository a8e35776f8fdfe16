"""gunicorn settings, for `make serve` and the container.

The settings that differ between machines come from the environment (see
.env.example); an empty variable means the default.
"""

import multiprocessing
import os

from dotenv import load_dotenv

# The same .env that wsgi.py reads, so its GUNICORN_* lines count too.
load_dotenv(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".env"))

# Where to listen: loopback by default; the container sets 0.0.0.0:8000.
bind = os.environ.get("GUNICORN_BIND") or "127.0.0.1:8000"

# Processes: the usual two per core plus one, unless WEB_CONCURRENCY says.
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)

# Threads per process: a request may wait seconds on the SMS provider, and
# threads keep the other requests of that process moving meanwhile.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS") or 4)

# A worker silent this long is restarted; the SMS call alone can take up to
# INFOBIP_TIMEOUT times (INFOBIP_RETRIES + 1) seconds.
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or 30)
graceful_timeout = 30
keepalive = 5

# Recycle each worker after a while, so a slow leak never grows for long.
max_requests = 2000
max_requests_jitter = 200

# One line per request as SPEC §6 asks: method, path, status, milliseconds.
# %(U)s is the path without its query string, so nothing a client puts in a
# URL's query reaches the log; no header (cookies, Authorization, Referer)
# is logged either.
accesslog = "-"
access_log_format = "%(m)s %(U)s %(s)s %(M)sms"
errorlog = "-"

# No control socket: Portal does not use it, and two servers on one machine
# would fight over its one default path in the home folder.
control_socket_disable = True

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {
            "level": "INFO",
            "handlers": ["console"],
            "propagate": False,
        },
        "gunicorn.access": {
            "level": "INFO",
            "handlers": ["access"],
            "propagate": False,
        },
        # gunicorn's access line is the request line here; the app's own one
        # (for `flask run`) would say the same thing twice.
        "portal.requests": {"level": "WARNING"},
        "alembic": {"level": "WARNING"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "generic",
            "stream": "ext://sys.stderr",
        },
        "access": {
            "class": "logging.StreamHandler",
            "formatter": "access",
            "stream": "ext://sys.stdout",
        },
    },
    "formatters": {
        "generic": {
            "format": "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s"
        },
        "access": {"format": "%(asctime)s [%(process)d] access %(message)s"},
    },
}
