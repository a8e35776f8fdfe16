"""Domain errors: services raise them, and each face turns them into answers."""


class PortalError(Exception):
    """A failure the person can understand, carried with its HTTP status."""

    status_code = 400

    def __init__(
        self,
        message: str,
        errors: dict[str, list[str]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        self.retry_after = retry_after


class ValidationError(PortalError):
    status_code = 400


class AuthenticationError(PortalError):
    status_code = 401


class PermissionDenied(PortalError):
    status_code = 403


class NotFound(PortalError):
    status_code = 404


class Conflict(PortalError):
    status_code = 409


class RateLimited(PortalError):
    status_code = 429


class SmsUnavailable(PortalError):
    status_code = 503


def field_error(field: str, message: str) -> ValidationError:
    """Build the common case: one message on one field."""
    return ValidationError(message, {field: [message]})
