"""Admin forms: actions are POSTs that need only CSRF protection."""

from flask_wtf import FlaskForm
from wtforms import HiddenField


class AccountActionForm(FlaskForm):
    """Deactivate or reactivate one account, after a confirmation page."""

    confirmed = HiddenField()
