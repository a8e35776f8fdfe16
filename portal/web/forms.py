"""Forms of the HTML pages; field names match the JSON API's."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

PHONE_ATTRS = {
    "autocomplete": "tel",
    "inputmode": "tel",
    "placeholder": "+998 90 123 45 67",
}
CODE_ATTRS = {
    "autocomplete": "one-time-code",
    "inputmode": "numeric",
    "pattern": "[0-9]*",
    "maxlength": "6",
}
INVITE_ATTRS = {
    "autocapitalize": "characters",
    "autocomplete": "off",
    "maxlength": "16",
}


def phone_field() -> StringField:
    return StringField(
        "Phone number",
        validators=[DataRequired("Enter your phone number."), Length(max=32)],
        render_kw=PHONE_ATTRS,
    )


def code_field() -> StringField:
    return StringField(
        "Confirmation code from the SMS",
        validators=[DataRequired("Enter the code from the SMS."), Length(max=16)],
        render_kw=CODE_ATTRS,
    )


def new_password_fields() -> tuple[PasswordField, PasswordField]:
    password = PasswordField(
        "New password",
        validators=[DataRequired("Choose a password."), Length(max=256)],
        render_kw={"autocomplete": "new-password"},
    )
    password_confirm = PasswordField(
        "New password again",
        validators=[
            DataRequired("Type the password again."),
            EqualTo("password", "The two passwords differ."),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    return password, password_confirm


class RegisterForm(FlaskForm):
    phone_number = phone_field()
    referral_code = StringField(
        "Invite code of the member who invited you (optional)",
        validators=[Optional(), Length(max=16)],
        render_kw=INVITE_ATTRS,
    )


class VerifyForm(FlaskForm):
    phone_number = phone_field()
    code = code_field()


class ResendForm(FlaskForm):
    phone_number = HiddenField(validators=[DataRequired("Enter your phone number.")])


class LoginForm(FlaskForm):
    phone_number = phone_field()
    password = PasswordField(
        "Password",
        validators=[Optional(), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )
    invite_code = StringField(
        "Or, for your first sign-in, the invite code from the SMS",
        validators=[Optional(), Length(max=16)],
        render_kw=INVITE_ATTRS,
    )


class SetPasswordForm(FlaskForm):
    password, password_confirm = new_password_fields()


class ResetRequestForm(FlaskForm):
    phone_number = phone_field()


class ResetConfirmForm(FlaskForm):
    phone_number = phone_field()
    code = code_field()
    password, password_confirm = new_password_fields()


class ActivateInviteForm(FlaskForm):
    invite_code = StringField(
        "A member's invite code",
        validators=[DataRequired("Enter an invite code."), Length(max=16)],
        render_kw=INVITE_ATTRS,
    )


class PostForm(FlaskForm):
    """A button that only needs CSRF protection (sign out, admin actions)."""
