"""Sending SMS through one interface with several backends (SPEC §3)."""

import logging

import requests
from flask import Flask, current_app
from requests.adapters import HTTPAdapter
from sqlalchemy import delete, select
from urllib3.util.retry import Retry

from portal.extensions import db
from portal.models import OutboxMessage
from portal.services.phones import mask_phone

log = logging.getLogger(__name__)


class SmsSendError(Exception):
    """The provider did not take the message."""


def compose_message(
    confirmation_code: str | None = None, invite_code: str | None = None
) -> str:
    """Name the product and label each value; WebOTP line when a host is set."""
    parts = []
    if confirmation_code:
        parts.append(f"confirmation code {confirmation_code}")
    if invite_code:
        parts.append(f"invite code {invite_code}")
    text = "Portal: " + ", ".join(parts)

    public_host = current_app.config["PUBLIC_HOST"]
    if confirmation_code and public_host:
        text += f"\n\n@{public_host} #{confirmation_code}"
    return text


class MemoryBackend:
    """Keeps messages in a list on the backend, for tests."""

    def __init__(self, app: Flask) -> None:
        self.messages: list[dict[str, str]] = []

    def send(self, to: str, text: str) -> None:
        self.messages.append({"to": to, "text": text})


class ConsoleBackend:
    """Stores messages in the database outbox, which every worker can read.

    The log gets one line per message without its text, so codes never reach
    the log; the text is readable at `/dev/outbox` in debug mode.
    """

    def __init__(self, app: Flask) -> None:
        self.outbox_size = app.config["OUTBOX_SIZE"]

    def send(self, to: str, text: str) -> None:
        db.session.add(OutboxMessage(to=to, text=text))
        db.session.flush()
        newest_ids = (
            select(OutboxMessage.id)
            .order_by(OutboxMessage.id.desc())
            .limit(self.outbox_size)
        )
        db.session.execute(
            delete(OutboxMessage).where(OutboxMessage.id.not_in(newest_ids))
        )
        log.info("sms written to the dev outbox to=%s", mask_phone(to))


class InfobipBackend:
    """Infobip's SMS API over `requests`, with timeouts and bounded retries.

    Connection errors and 5xx answers are retried INFOBIP_RETRIES times with a
    short backoff; a timed-out read is not, since the provider may already
    have sent that SMS. The number goes in Infobip's documented form, the
    international digits without `+`.
    """

    def __init__(self, app: Flask) -> None:
        self.url = app.config["INFOBIP_BASE_URL"].rstrip("/") + "/sms/2/text/advanced"
        self.sender = app.config["INFOBIP_SENDER"]
        self.timeout = app.config["INFOBIP_TIMEOUT"]
        self.session = requests.Session()
        self.session.headers["Authorization"] = "App " + app.config["INFOBIP_API_KEY"]
        retry = Retry(
            total=app.config["INFOBIP_RETRIES"],
            connect=app.config["INFOBIP_RETRIES"],
            read=0,
            status=app.config["INFOBIP_RETRIES"],
            status_forcelist=(500, 502, 503, 504),
            allowed_methods=None,
            backoff_factor=0.2,
            raise_on_status=False,
        )
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        self.session.mount("http://", HTTPAdapter(max_retries=retry))

    def send(self, to: str, text: str) -> None:
        body = {
            "messages": [
                {
                    "destinations": [{"to": to.removeprefix("+")}],
                    "from": self.sender,
                    "text": text,
                }
            ]
        }
        try:
            response = self.session.post(self.url, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            log.error(
                "sms provider unreachable to=%s error=%s",
                mask_phone(to),
                type(exc).__name__,
            )
            raise SmsSendError from exc

        if response.status_code >= 300:
            log.error(
                "sms provider refused to=%s status=%s reason=%s",
                mask_phone(to),
                response.status_code,
                _provider_reason(response),
            )
            raise SmsSendError

        rejection = _rejection(response)
        if rejection:
            log.error(
                "sms provider rejected to=%s reason=%s", mask_phone(to), rejection
            )
            raise SmsSendError

        log.info("sms accepted by provider to=%s", mask_phone(to))


def _provider_reason(response: requests.Response) -> str:
    """Pull Infobip's own words out of an error body, if it has any."""
    try:
        error_body = response.json()
        exception = error_body["requestError"]["serviceException"]
        return f"{exception.get('messageId', '')} {exception.get('text', '')}".strip()
    except (ValueError, KeyError, TypeError, AttributeError):
        return response.reason or "unknown"


def _rejection(response: requests.Response) -> str:
    """Infobip answers 200 even for a message it rejects; its status says so."""
    try:
        status = response.json()["messages"][0]["status"]
    except (ValueError, KeyError, IndexError, TypeError):
        return ""
    if not isinstance(status, dict) or status.get("groupName") != "REJECTED":
        return ""
    return f"{status.get('name', '')} {status.get('description', '')}".strip()


BACKENDS = {
    "console": ConsoleBackend,
    "memory": MemoryBackend,
    "infobip": InfobipBackend,
}


def init_sms(app: Flask) -> None:
    backend_name = app.config["SMS_BACKEND"]
    if backend_name not in BACKENDS:
        raise RuntimeError(
            f"SMS_BACKEND={backend_name!r} is not one of {', '.join(BACKENDS)}."
        )
    if backend_name == "infobip" and not (
        app.config["INFOBIP_BASE_URL"] and app.config["INFOBIP_API_KEY"]
    ):
        raise RuntimeError("SMS_BACKEND=infobip needs INFOBIP_BASE_URL and API_KEY.")
    app.extensions["portal_sms"] = BACKENDS[backend_name](app)


def sms_backend():
    return current_app.extensions["portal_sms"]


def send_sms(to: str, text: str) -> None:
    sms_backend().send(to, text)


def recent_outbox() -> list[OutboxMessage]:
    return list(
        db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc()))
    )
