"""Browser sessions through Flask-Login, shared by the web and admin faces."""

from flask import flash, make_response, redirect, request
from flask_login import LoginManager, login_url

from portal.extensions import db
from portal.models import User, is_row_id


def load_session_user(session_id: str) -> User | None:
    """Accept a session only while its token version is the account's current one."""
    user_id, _, version = session_id.partition(".")
    if not (is_row_id(user_id) and version.isascii() and version.isdigit()):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.is_active or user.token_version != int(version):
        return None
    return user


def send_to_login():
    """Signed-out visitors go to the login page, htmx requests included.

    An htmx request would follow a plain redirect and put the whole login
    page inside the results region, so it gets HX-Redirect instead.
    """
    target = login_url("web.login", next_url=request.url)
    if request.headers.get("HX-Request"):
        response = make_response("", 401)
        response.headers["HX-Redirect"] = target
        return response

    flash("Please sign in to see that page.", "info")
    return redirect(target)


def init_login_manager(login_manager: LoginManager) -> None:
    login_manager.user_loader(load_session_user)
    login_manager.unauthorized_handler(send_to_login)
    login_manager.login_view = "web.login"
    login_manager.session_protection = "basic"
