"""The Infobip SMS backend at its HTTP edge (SPEC §3).

Most tests answer for the provider with `responses`, which intercepts the
session's adapter. It honours that adapter's urllib3 Retry for status codes
(a 500 is retried as in production, minus the backoff sleep), but it
raises an exception given as a body straight away, so retries after
connection errors cannot be seen through it. Those (against a closed
loopback port), a real read timeout, and the 500-then-200 retry once more
run through urllib3 itself, against a real HTTP server on a loopback port.
"""

import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import responses
from responses.registries import OrderedRegistry

from portal.extensions import db
from portal.models import User
from tests.conftest import PHONE, codes_sent_to

BASE_URL = "https://infobip.example.test"
SEND_URL = f"{BASE_URL}/sms/2/text/advanced"
API_KEY = "test-infobip-key"
SMS_FAILED = "We could not send the SMS right now. Please try again in a minute."
ACCEPTED = {
    "bulkId": "bulk-1",
    "messages": [
        {
            "messageId": "message-1",
            "to": "998901234567",
            "status": {"groupId": 1, "groupName": "PENDING", "id": 26},
        }
    ],
}
UNAUTHORIZED = {
    "requestError": {
        "serviceException": {
            "messageId": "UNAUTHORIZED",
            "text": "Invalid login details",
        }
    }
}


@pytest.fixture
def config_overrides():
    return {
        "SMS_BACKEND": "infobip",
        "INFOBIP_BASE_URL": BASE_URL,
        "INFOBIP_API_KEY": API_KEY,
        "INFOBIP_SENDER": "Portal",
        "INFOBIP_RETRIES": 2,
        "INFOBIP_TIMEOUT": 5.0,
    }


@pytest.fixture
def provider(app):
    """Infobip as `responses` plays it; answers are given in call order."""
    with responses.RequestsMock(registry=OrderedRegistry) as mock:
        yield mock


def register(client, phone: str = PHONE):
    return client.post("/api/v1/auth/register/", json={"phone_number": phone})


def sent_bodies(provider) -> list[dict]:
    return [json.loads(call.request.body) for call in provider.calls]


def sms_as_outbox(provider) -> list[dict]:
    """The provider's calls in the shape `codes_sent_to` reads."""
    outbox = []
    for body in sent_bodies(provider):
        message = body["messages"][0]
        phone = "+" + message["destinations"][0]["to"]
        outbox.append({"to": phone, "text": message["text"]})
    return outbox


def test_register_posts_one_message_to_infobip(client, provider):
    provider.post(SEND_URL, json=ACCEPTED)

    response = register(client)

    assert response.status_code == 201
    assert len(provider.calls) == 1
    request = provider.calls[0].request
    assert request.url == SEND_URL
    assert request.headers["Authorization"] == f"App {API_KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.req_kwargs["timeout"] == 5.0

    confirmation_code, invite_code = codes_sent_to(sms_as_outbox(provider), PHONE)
    assert json.loads(request.body) == {
        "messages": [
            {
                "destinations": [{"to": "998901234567"}],
                "from": "Portal",
                "text": (
                    f"Portal: confirmation code {confirmation_code}, "
                    f"invite code {invite_code}"
                ),
            }
        ]
    }


def test_the_code_sent_through_infobip_confirms_the_number(client, provider):
    provider.post(SEND_URL, json=ACCEPTED)
    register(client)
    confirmation_code, _ = codes_sent_to(sms_as_outbox(provider), PHONE)

    response = client.post(
        "/api/v1/auth/verify-code/",
        json={"phone_number": PHONE, "code": confirmation_code},
    )

    assert response.status_code == 200


def test_provider_401_is_a_503_and_a_log_line_with_its_reason(client, provider, caplog):
    caplog.set_level(logging.INFO, logger="portal")
    provider.post(SEND_URL, status=401, json=UNAUTHORIZED)

    response = register(client)

    assert response.status_code == 503
    assert response.get_json() == {"message": SMS_FAILED, "errors": {}}
    assert len(provider.calls) == 1
    assert (
        "sms provider refused to=+9989******67 status=401 "
        "reason=UNAUTHORIZED Invalid login details"
    ) in caplog.text

    confirmation_code, invite_code = codes_sent_to(sms_as_outbox(provider), PHONE)
    assert confirmation_code not in caplog.text
    assert invite_code not in caplog.text
    assert API_KEY not in caplog.text


def test_a_failed_send_keeps_the_account_and_the_right_to_ask_again(
    app, client, provider
):
    provider.post(SEND_URL, status=401, json=UNAUTHORIZED)
    provider.post(SEND_URL, json=ACCEPTED)

    assert register(client).status_code == 503
    user = db.session.scalar(db.select(User).where(User.phone_e164 == PHONE))
    assert user is not None
    assert user.last_code_sent_at is None

    assert register(client).status_code == 201
    assert len(provider.calls) == 2


def test_a_500_is_retried_and_the_second_answer_counts(client, provider):
    provider.post(SEND_URL, status=500, json={"error": "internal"})
    provider.post(SEND_URL, json=ACCEPTED)

    response = register(client)

    assert response.status_code == 201
    assert len(provider.calls) == 2
    assert sent_bodies(provider)[0] == sent_bodies(provider)[1]


def test_retries_are_bounded_then_the_user_gets_503(client, provider, caplog):
    for _ in range(3):
        provider.post(SEND_URL, status=503, body="busy")

    response = register(client)

    assert response.status_code == 503
    assert len(provider.calls) == 3  # the first try and INFOBIP_RETRIES=2 more
    assert "status=503 reason=Service Unavailable" in caplog.text


def test_a_timeout_is_a_503_and_is_not_retried(client, provider, caplog):
    provider.post(SEND_URL, body=requests.exceptions.ReadTimeout("read timed out"))

    response = register(client)

    assert response.status_code == 503
    assert response.get_json()["message"] == SMS_FAILED
    assert len(provider.calls) == 1
    assert "sms provider unreachable to=+9989******67 error=ReadTimeout" in (
        caplog.text
    )


def test_a_message_infobip_rejects_with_200_is_a_503(client, provider, caplog):
    rejected = {
        "messages": [
            {
                "to": "998901234567",
                "status": {
                    "groupName": "REJECTED",
                    "name": "REJECTED_DESTINATION",
                    "description": "Destination not registered",
                },
            }
        ]
    }
    provider.post(SEND_URL, json=rejected)

    response = register(client)

    assert response.status_code == 503
    assert "reason=REJECTED_DESTINATION Destination not registered" in caplog.text


def test_nothing_is_sent_to_a_number_outside_the_allowed_regions(client, provider):
    response = register(client, "+7 912 345 67 89")

    assert response.status_code == 400
    assert response.get_json()["errors"] == {
        "phone_number": ["Portal cannot send codes to phone numbers in this country."]
    }
    assert len(provider.calls) == 0
    assert db.session.scalar(db.select(db.func.count()).select_from(User)) == 0


class ScriptedProvider(BaseHTTPRequestHandler):
    """Answers each POST with the next scripted (status, delay) and records it."""

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        self.server.bodies.append(json.loads(self.rfile.read(length)))
        status, delay = self.server.script.pop(0) if self.server.script else (200, 0)
        time.sleep(delay)
        payload = json.dumps(ACCEPTED if status == 200 else {}).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up first, as the timeout test intends

    def log_message(self, format, *args):
        pass


@pytest.fixture
def local_provider():
    """A real HTTP server on a free loopback port, stopped after the test."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedProvider)
    server.daemon_threads = True
    server.script, server.bodies = [], []
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def use_provider_at(app, base_url: str, **settings) -> None:
    from portal.services.sms import init_sms

    app.config.update(INFOBIP_BASE_URL=base_url, **settings)
    init_sms(app)


def test_urllib3_retries_a_500_from_a_real_server(app, client, local_provider):
    host, port = local_provider.server_address
    use_provider_at(app, f"http://{host}:{port}")
    local_provider.script = [(500, 0), (200, 0)]

    response = register(client)

    assert response.status_code == 201
    assert len(local_provider.bodies) == 2


def test_a_slow_provider_times_out_once_without_a_second_sms(
    app, client, local_provider
):
    host, port = local_provider.server_address
    use_provider_at(app, f"http://{host}:{port}", INFOBIP_TIMEOUT=0.2)
    local_provider.script = [(200, 1.0)]

    started = time.monotonic()
    response = register(client)

    assert response.status_code == 503
    assert time.monotonic() - started < 1.0
    assert len(local_provider.bodies) == 1


def test_connection_errors_are_retried_then_the_user_gets_503(app, client, caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    use_provider_at(app, f"http://127.0.0.1:{closed_port}")
    caplog.set_level(logging.WARNING, logger="urllib3")

    response = register(client)

    assert response.status_code == 503
    retries = [r for r in caplog.records if r.getMessage().startswith("Retrying")]
    assert len(retries) == 2  # INFOBIP_RETRIES, each after a refused connection
    assert all("Connection refused" in r.getMessage() for r in retries)
    assert "sms provider unreachable to=+9989******67 error=ConnectionError" in (
        caplog.text
    )
