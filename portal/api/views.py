"""JSON endpoints: parse input, call one service, return a dict and a status."""

from flask import current_app, g, jsonify, render_template, request, url_for

from portal.api import bp
from portal.api.input import (
    MAX_TOKEN_LENGTH,
    bearer_required,
    int_query,
    json_body,
    string_field,
)
from portal.api.openapi import openapi_document
from portal.errors import ValidationError
from portal.limits import signup_limits, user_limits
from portal.models import User
from portal.services import accounts, directory, referrals, tokens


def route(rule: str, **options):
    """Keep the original service's trailing slash; the bare path answers too."""
    return bp.route(rule, strict_slashes=False, **options)


def message(text: str, status: int = 200):
    return jsonify({"message": text}), status


def refresh_field(body: dict) -> str:
    return string_field(body, "refresh", max_length=MAX_TOKEN_LENGTH)


def code_json(code: str | None) -> dict | None:
    return {"code": code} if code else None


def user_json(user: User) -> dict:
    return {
        "id": user.id,
        "phone_number": user.phone_e164,
        "invite_code": code_json(user.invite_code),
        "date_joined": user.date_joined.isoformat(),
    }


def me_json(user: User) -> dict:
    inviter = user.invited_by
    return {
        "id": user.id,
        "phone_number": user.phone_e164,
        "invite_code": code_json(user.invite_code),
        "is_verified": user.is_verified,
        "has_password": user.has_password,
        "date_joined": user.date_joined.isoformat(),
        "activated_invite_code": code_json(inviter.invite_code if inviter else None),
        "invited_users": [
            {"id": member.id, "phone_number": member.phone_e164}
            for member in user.invitees
        ],
    }


@route("/auth/register/", methods=["POST"])
@signup_limits
def register():
    body = json_body()
    accounts.register(
        string_field(body, "phone_number"),
        string_field(body, "referral_code", required=False),
    )
    return message(
        "We sent a confirmation code and your invite code by SMS.", status=201
    )


@route("/auth/verify-code/", methods=["POST"])
@signup_limits
def verify_code():
    body = json_body()
    accounts.verify_phone(
        string_field(body, "phone_number"), string_field(body, "code")
    )
    return message("Your phone number is confirmed. Sign in with your invite code.")


@route("/auth/get-code/", methods=["POST"])
@signup_limits
def get_code():
    body = json_body()
    user = accounts.get_code(string_field(body, "phone_number"))
    if user.is_verified:
        return message("We sent you a new invite code by SMS.")
    return message("We sent you a new confirmation code and invite code by SMS.")


@route("/auth/login/", methods=["POST"])
@signup_limits
def login():
    body = json_body()
    phone = string_field(body, "phone_number")
    invite_code = string_field(body, "invite_code", required=False)
    password = string_field(body, "password", required=False)
    if invite_code and password:
        raise ValidationError(
            "Send either an invite code or a password, not both.",
            {"invite_code": ["Send either this or password."]},
        )
    if invite_code:
        sign_in = accounts.login_with_invite_code(phone, invite_code)
    elif password:
        sign_in = accounts.login_with_password(phone, password)
    else:
        raise ValidationError(
            "Send an invite code or a password.",
            {"password": ["Send a password, or an invite_code for a first sign-in."]},
        )

    pair = tokens.issue_pair(sign_in.user)
    if sign_in.referral_problem:
        pair["referral_problem"] = sign_in.referral_problem
    return jsonify(pair)


@route("/auth/verify-token/", methods=["POST"])
@route("/auth/refresh/", methods=["POST"])
@user_limits
def refresh():
    body = json_body()
    return jsonify(tokens.rotate(refresh_field(body)))


@route("/auth/logout/", methods=["POST"])
@user_limits
def logout():
    body = json_body()
    tokens.logout(refresh_field(body))
    return "", 204


@route("/auth/reset-password/", methods=["POST"])
@signup_limits
def reset_password():
    body = json_body()
    accounts.request_password_reset(string_field(body, "phone_number"))
    return message(
        "If this number has an account, we sent it a code to set a new password."
    )


@route("/auth/reset-password/confirm/", methods=["POST"])
@signup_limits
def reset_password_confirm():
    body = json_body()
    user = accounts.confirm_password_reset(
        string_field(body, "phone_number"),
        string_field(body, "code"),
        string_field(body, "password"),
    )
    return jsonify({"message": "Your new password is set.", **tokens.issue_pair(user)})


@route("/users/set-password/", methods=["POST"])
@user_limits
@bearer_required
def set_password():
    body = json_body()
    user = accounts.set_password(g.api_user, string_field(body, "password"))
    return jsonify({"message": "Your password is set.", **tokens.issue_pair(user)})


@route("/users/me/", methods=["GET"])
@user_limits
@bearer_required(load=[referrals.with_invited_members()])
def me():
    return jsonify(me_json(g.api_user))


@route("/users/activate-invite/", methods=["POST"])
@user_limits
@bearer_required
def activate_invite():
    body = json_body()
    user = referrals.activate_invite_code(g.api_user, string_field(body, "invite_code"))
    return jsonify({"message": "The invite code is activated.", "user": me_json(user)})


@route("/users/list/", methods=["GET"])
@user_limits
@bearer_required
def list_users():
    limit = int_query("limit", current_app.config["API_PAGE_SIZE"], 1, 100)
    offset = int_query("offset", 0, 0, None)
    search = request.args.get("search", "")[: directory.MAX_QUERY_LENGTH]
    invited_by = request.args.get("invited_by")
    page = directory.find_accounts(
        search, invited_by_code=invited_by, limit=limit, offset=offset
    )

    def page_url(page_offset: int) -> str:
        params = {k: v for k, v in request.args.items() if k not in {"offset", "limit"}}
        return url_for(
            "api.list_users", _external=True, limit=limit, offset=page_offset, **params
        )

    next_url = page_url(offset + limit) if offset + limit < page.total else None
    previous_url = page_url(max(offset - limit, 0)) if offset > 0 else None
    return jsonify(
        {
            "count": page.total,
            "next": next_url,
            "previous": previous_url,
            "results": [user_json(user) for user in page.users],
        }
    )


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@bp.get("/docs")
def docs():
    return render_template("api/docs.html")
