"""The admin area: every account, with deactivation and an audit trail."""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from portal.admin import views  # noqa: E402, F401
