"""HTML pages: guard, build the form, validate, call a service, redirect."""

from urllib.parse import urlsplit

from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user

from portal.errors import PortalError
from portal.limits import signup_limits, user_limits
from portal.pages import page_number
from portal.security_log import security_logger
from portal.services import accounts, directory, health, referrals
from portal.services.codes import normalize_invite_code
from portal.services.sms import recent_outbox
from portal.web import bp
from portal.web.forms import (
    ActivateInviteForm,
    LoginForm,
    PostForm,
    RegisterForm,
    ResendForm,
    ResetConfirmForm,
    ResetRequestForm,
    SetPasswordForm,
    VerifyForm,
)

log = security_logger(__name__)


def show_errors(form, exc: PortalError) -> None:
    """Put a service's field errors beside their fields; the rest is flashed."""
    placed = False
    for field_name, messages in exc.errors.items():
        field = getattr(form, field_name, None)
        if field is not None:
            field.errors = list(field.errors) + list(messages)
            placed = True
    if not placed or exc.status_code != 400:
        flash(exc.message, "error")


def failed(template: str, exc: PortalError | None = None, **context):
    """Render a form again with the status the API would answer."""
    status = exc.status_code if exc else 400
    response = current_app.make_response((render_template(template, **context), status))
    if exc is not None and exc.retry_after:
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def form_page(template: str, **context):
    """Show a form: 200 on GET, 400 after a POST that did not validate."""
    if request.method == "POST":
        return failed(template, **context)
    return render_template(template, **context)


def is_safe_next(target: str | None) -> bool:
    """Only paths on this site: no scheme, host, backslash or control character."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return False
    if "\\" in target or any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc


@bp.get("/")
def index():
    return render_template("web/index.html")


@bp.get("/healthz")
def healthz():
    report = health.check()
    return jsonify(report), 200 if report["status"] == "ok" else 503


@bp.route("/register", methods=["GET", "POST"])
@signup_limits
def register():
    if current_user.is_authenticated:
        return redirect(url_for("web.me"))

    form = RegisterForm()
    if request.method == "GET":
        form.referral_code.data = request.args.get("referral_code", "")[:16]
    if not form.validate_on_submit():
        return form_page("web/register.html", form=form)

    try:
        user = accounts.register(form.phone_number.data, form.referral_code.data)
    except PortalError as exc:
        show_errors(form, exc)
        return failed("web/register.html", exc, form=form)

    flash("We sent a confirmation code and your invite code by SMS.", "success")
    return redirect(url_for("web.verify", phone_number=user.phone_e164))


@bp.route("/verify", methods=["GET", "POST"])
@signup_limits
def verify():
    form = VerifyForm()
    if request.method == "GET":
        form.phone_number.data = request.args.get("phone_number", "")
    resend_form = ResendForm(phone_number=form.phone_number.data)

    if not form.validate_on_submit():
        return form_page("web/verify.html", form=form, resend_form=resend_form)

    try:
        user = accounts.verify_phone(form.phone_number.data, form.code.data)
    except PortalError as exc:
        show_errors(form, exc)
        return failed("web/verify.html", exc, form=form, resend_form=resend_form)

    flash("Your phone number is confirmed. Sign in with your invite code.", "success")
    return redirect(url_for("web.login", phone_number=user.phone_e164))


@bp.post("/verify/resend")
@signup_limits
def resend_code():
    form = ResendForm()
    phone_number = form.phone_number.data or ""
    if form.validate_on_submit():
        try:
            user = accounts.get_code(phone_number)
            phone_number = user.phone_e164
            flash("We sent you a new code by SMS.", "success")
        except PortalError as exc:
            flash(exc.message, "error")
    else:
        flash("Enter your phone number first.", "error")
    return redirect(url_for("web.verify", phone_number=phone_number))


@bp.route("/login", methods=["GET", "POST"])
@signup_limits
def login():
    next_path = request.args.get("next")
    if current_user.is_authenticated:
        return redirect(next_path if is_safe_next(next_path) else url_for("web.me"))

    form = LoginForm()
    if request.method == "GET":
        form.phone_number.data = request.args.get("phone_number", "")
    if not form.validate_on_submit():
        return form_page("web/login.html", form=form)

    try:
        if form.invite_code.data:
            sign_in = accounts.login_with_invite_code(
                form.phone_number.data, form.invite_code.data
            )
        elif form.password.data:
            sign_in = accounts.login_with_password(
                form.phone_number.data, form.password.data
            )
        else:
            form.password.errors = ["Enter your password, or your invite code."]
            return failed("web/login.html", form=form)
    except PortalError as exc:
        show_errors(form, exc)
        return failed("web/login.html", exc, form=form)

    login_user(sign_in.user)
    if sign_in.referral_problem:
        flash(sign_in.referral_problem, "error")
    if sign_in.first_sign_in:
        flash("Welcome to Portal! Set a password for your next sign-in.", "success")
        return redirect(url_for("web.set_password"))

    return redirect(next_path if is_safe_next(next_path) else url_for("web.me"))


@bp.post("/logout")
def logout():
    form = PostForm()
    if form.validate_on_submit():
        if current_user.is_authenticated:
            log.info("logout user_id=%s", current_user.id)
        logout_user()
        flash("You are signed out.", "success")
    return redirect(url_for("web.index"))


@bp.route("/me", methods=["GET", "POST"])
@login_required
@user_limits
def me():
    member = current_user._get_current_object()
    form = ActivateInviteForm()
    page = page_number()
    page_size = current_app.config["INVITED_PAGE_SIZE"]
    status = 200
    if form.validate_on_submit():
        try:
            referrals.activate_invite_code(member, form.invite_code.data)
            flash("The invite code is activated.", "success")
            return redirect(url_for("web.me"))
        except PortalError as exc:
            show_errors(form, exc)
            status = exc.status_code
    elif request.method == "POST":
        status = 400

    invited = referrals.invited_members(
        member, limit=page_size + 1, offset=(page - 1) * page_size
    )
    page_html = render_template(
        "web/me.html",
        form=form,
        invited=invited[:page_size],
        page=page,
        has_next=len(invited) > page_size,
    )
    return page_html, status


@bp.route("/set-password", methods=["GET", "POST"])
@login_required
@user_limits
def set_password():
    form = SetPasswordForm()
    if not form.validate_on_submit():
        return form_page("web/set_password.html", form=form)

    try:
        user = accounts.set_password(
            current_user._get_current_object(), form.password.data
        )
    except PortalError as exc:
        show_errors(form, exc)
        return failed("web/set_password.html", exc, form=form)

    login_user(user)
    flash("Your password is set. Other sessions were signed out.", "success")
    return redirect(url_for("web.me"))


@bp.route("/reset-password", methods=["GET", "POST"])
@signup_limits
def reset_password():
    form = ResetRequestForm()
    if not form.validate_on_submit():
        return form_page("web/reset_password.html", form=form)

    try:
        accounts.request_password_reset(form.phone_number.data)
    except PortalError as exc:
        show_errors(form, exc)
        return failed("web/reset_password.html", exc, form=form)

    flash("If this number has an account, we sent it a code by SMS.", "success")
    return redirect(
        url_for("web.reset_password_confirm", phone_number=form.phone_number.data)
    )


@bp.route("/reset-password/confirm", methods=["GET", "POST"])
@signup_limits
def reset_password_confirm():
    form = ResetConfirmForm()
    if request.method == "GET":
        form.phone_number.data = request.args.get("phone_number", "")
    if not form.validate_on_submit():
        return form_page("web/reset_password_confirm.html", form=form)

    try:
        user = accounts.confirm_password_reset(
            form.phone_number.data, form.code.data, form.password.data
        )
    except PortalError as exc:
        show_errors(form, exc)
        return failed("web/reset_password_confirm.html", exc, form=form)

    login_user(user)
    flash("Your new password is set. Other sessions were signed out.", "success")
    return redirect(url_for("web.me"))


@bp.get("/users")
@login_required
@user_limits
def users():
    search = request.args.get("search", "")[: directory.MAX_QUERY_LENGTH]
    invited_by = request.args.get("invited_by", "")[: directory.MAX_QUERY_LENGTH]
    invited_by = normalize_invite_code(invited_by) or None
    page = page_number()
    page_size = current_app.config["DIRECTORY_PAGE_SIZE"]
    result = directory.find_accounts(
        search,
        invited_by_code=invited_by,
        limit=page_size,
        offset=(page - 1) * page_size,
    )
    context = {
        "search": search,
        "invited_by": invited_by,
        "result": result,
        "page": page,
        "has_next": page * page_size < result.total,
    }
    if request.headers.get("HX-Request"):
        return render_template("web/_results.html", **context)
    return render_template("web/users.html", **context)


@bp.get("/dev/outbox")
def outbox():
    if not current_app.debug:
        abort(404)
    return render_template("web/outbox.html", messages=recent_outbox())


@bp.get("/dev/outbox.json")
def outbox_json():
    if not current_app.debug:
        abort(404)
    return jsonify(
        [
            {
                "to": message.to,
                "text": message.text,
                "sent_at": message.sent_at.isoformat(),
            }
            for message in recent_outbox()
        ]
    )
