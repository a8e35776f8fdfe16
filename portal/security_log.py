"""Loggers for security events: every line ends with the client's IP.

The IP is the one the rate limits count (the socket's peer, or what
ProxyFix derived behind PROXY_COUNT trusted proxies). Lines carry ids and
outcomes only, never a code, an invite code, a password or a token.
"""

import logging

from flask import has_request_context, request


def client_ip() -> str:
    """The current request's client IP, or "-" outside a request."""
    if has_request_context():
        return request.remote_addr or "-"
    return "-"


class ClientIpLogger(logging.LoggerAdapter):
    """A logger that appends `ip=...` to each line it writes."""

    def log(self, level, msg, *args, **kwargs):
        if self.isEnabledFor(level):
            # Name the caller's line, not this method's.
            kwargs.setdefault("stacklevel", 2)
            self.logger.log(level, f"{msg} ip=%s", *args, client_ip(), **kwargs)


def security_logger(name: str) -> ClientIpLogger:
    return ClientIpLogger(logging.getLogger(name), {})
