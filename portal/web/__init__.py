"""HTML pages for people in a browser."""

from flask import Blueprint

bp = Blueprint("web", __name__)

from portal.web import views  # noqa: E402, F401
