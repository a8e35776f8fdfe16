"""Browser sessions through Flask-Login, shared by the web and admin faces."""

from flask_login import LoginManager

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


def init_login_manager(login_manager: LoginManager) -> None:
    login_manager.user_loader(load_session_user)
    login_manager.login_view = "web.login"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "basic"
