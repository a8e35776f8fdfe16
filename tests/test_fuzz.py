"""No input gets a 500 or an answer outside the OpenAPI document (issue 3.6).

Schemathesis reads /api/v1/openapi.json from the app and generates requests
for every operation, valid and invalid alike, with and without a live
access token; every answer must be a non-5xx that the document describes. The
example count per operation is bounded, so the run takes a minute or two.
"""

import phonenumbers
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal.api.openapi import openapi_document
from portal.errors import ValidationError
from portal.extensions import db
from portal.models import User
from portal.services import tokens
from portal.services.phones import normalize_phone
from tests.conftest import OTHER_PHONE

EXAMPLES_PER_OPERATION = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
OPERATIONS = [
    (method.upper(), path)
    for path, methods in openapi_document()["paths"].items()
    for method in methods
]
REFRESH_PATHS = {"/auth/refresh/", "/auth/verify-token/", "/auth/logout/"}


@pytest.mark.parametrize("with_token", [False, True], ids=["anonymous", "token"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_fuzzed_requests_get_documented_answers(app, api, method, path, with_token):
    api.member(OTHER_PHONE)
    member = db.session.scalar(db.select(User).where(User.phone_e164 == OTHER_PHONE))
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operation = schema[path][method]

    @given(
        case=operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
        | operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    )
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check_one_request(case):
        headers = {}
        if with_token:
            db.session.refresh(member)
            pair = tokens.issue_pair(member)
            headers["Authorization"] = f"Bearer {pair['access']}"
            if path in REFRESH_PATHS and isinstance(case.body, dict):
                case.body = {**case.body, "refresh": pair["refresh"]}

        response = case.call(headers=headers)

        case.validate_response(response, checks=CHECKS, headers=headers)

    check_one_request()


UZ_MOBILE_PREFIXES = ["90", "91", "93", "94", "95", "97", "98", "99", "33", "88"]
SEPARATORS = st.sampled_from(["", " ", "-", ".", "  "])


@st.composite
def typed_forms_of_a_number(draw):
    """A valid Uzbek mobile number, and a way a person might type it."""
    national = draw(st.sampled_from(UZ_MOBILE_PREFIXES)) + draw(
        st.text("0123456789", min_size=7, max_size=7)
    )
    number = phonenumbers.parse("+998" + national)
    if not phonenumbers.is_valid_number(number):
        national = "901234567"
    digits = list(national)
    groups = [digits[:2], digits[2:5], digits[5:7], digits[7:]]
    body = draw(SEPARATORS).join("".join(group) for group in groups)
    if draw(st.booleans()):
        body = f"({body[:2]}){body[2:]}"
    prefix = draw(st.sampled_from(["+998", "+998 ", "00998", "00 998 ", ""]))
    padding = draw(st.sampled_from(["", " ", "  "]))
    return "+998" + national, f"{padding}{prefix}{body}{padding}"


@given(typed_forms_of_a_number())
@settings(max_examples=300, deadline=None, database=None)
def test_every_accepted_form_of_a_number_gives_the_same_e164(app_for_properties, pair):
    expected, typed = pair
    with app_for_properties.app_context():
        assert normalize_phone(typed) == expected


@given(st.text(max_size=40))
@settings(max_examples=300, deadline=None, database=None)
def test_any_text_is_a_number_or_a_field_error(app_for_properties, text):
    with app_for_properties.app_context():
        try:
            e164 = normalize_phone(text)
        except ValidationError as exc:
            assert list(exc.errors) == ["phone_number"]
            return
    assert e164.startswith("+") and e164[1:].isdigit()
    assert normalize_phone_again(app_for_properties, e164) == e164


def normalize_phone_again(app, e164: str) -> str:
    with app.app_context():
        return normalize_phone(e164)


@pytest.fixture(scope="module")
def app_for_properties():
    """One app for the property tests: they read config, never the database."""
    from tests.conftest import make_app

    return make_app("sqlite://")
