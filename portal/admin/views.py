"""Admin pages: every account, filters, search, paging and account actions."""

from functools import wraps

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from portal.admin import bp
from portal.admin.forms import AccountActionForm
from portal.errors import PortalError
from portal.limits import user_limits
from portal.models import MAX_ROW_ID
from portal.pages import page_number
from portal.services import admin, directory

LIST_ARGS = ("status", "search", "invited_by", "page")


def list_args() -> dict[str, str]:
    """The account list's filters, kept through an action and back."""
    return {name: request.args[name] for name in LIST_ARGS if request.args.get(name)}


def admin_required(view):
    @wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


@bp.get("/users")
@admin_required
@user_limits
def users():
    search = request.args.get("search", "")[: directory.MAX_QUERY_LENGTH]
    status = request.args.get("status", "all")
    if status not in directory.ACCOUNT_STATUSES:
        status = "all"
    invited_by = request.args.get("invited_by") or None
    page = page_number()
    page_size = current_app.config["DIRECTORY_PAGE_SIZE"]
    result = directory.find_accounts(
        search,
        members_only=False,
        status=status,
        invited_by_code=invited_by,
        limit=page_size,
        offset=(page - 1) * page_size,
    )
    return render_template(
        "admin/users.html",
        search=search,
        status=status,
        statuses=directory.ACCOUNT_STATUSES,
        invited_by=invited_by,
        result=result,
        page=page,
        has_next=page * page_size < result.total,
        form=AccountActionForm(),
        list_args=list_args(),
    )


ACCOUNT_ACTION_RULE = (
    f"/users/<int(min=1, max={MAX_ROW_ID}):user_id>"
    "/<any(deactivate, reactivate):action>"
)


@bp.route(ACCOUNT_ACTION_RULE, methods=["GET", "POST"])
@admin_required
@user_limits
def change_account(user_id: int, action: str):
    target = admin.get_account(user_id)
    form = AccountActionForm()
    if not (form.validate_on_submit() and form.confirmed.data == "yes"):
        return render_template(
            "admin/confirm.html",
            target=target,
            action=action,
            form=form,
            back_args=list_args(),
        )

    try:
        admin.change_account(current_user, target, active=action == "reactivate")
        flash(f"{target.phone_e164} is {action}d.", "success")
    except PortalError as exc:
        flash(exc.message, "error")
    return redirect(url_for("admin.users", **list_args()))


@bp.get("/audit")
@admin_required
@user_limits
def audit():
    page = page_number()
    entries = admin.audit_page(page)
    return render_template(
        "admin/audit.html",
        entries=entries[: admin.AUDIT_PAGE_SIZE],
        page=page,
        has_next=len(entries) > admin.AUDIT_PAGE_SIZE,
    )
