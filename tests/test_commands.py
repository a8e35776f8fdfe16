"""The command line: `flask create-admin` and `flask seed-users`."""

import phonenumbers
import pytest
from sqlalchemy import func, select

from portal import commands
from portal.extensions import db
from portal.models import User
from portal.services import directory, passwords
from tests.conftest import PHONE

ADMIN_PASSWORD = "an admin's long password"


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def all_users() -> list[User]:
    db.session.expire_all()
    return list(db.session.scalars(select(User).order_by(User.id)))


def test_create_admin_reads_the_password_from_stdin(runner):
    result = runner.invoke(
        args=["create-admin", "90 123 45 67", "--password-stdin"],
        input=ADMIN_PASSWORD + "\n",
    )

    assert result.exit_code == 0, result.output
    assert result.output == f"Admin {PHONE} is ready (id 1).\n"
    [admin] = all_users()
    assert (admin.phone_e164, admin.is_admin, admin.is_verified) == (PHONE, True, True)
    assert passwords.verify_password(admin.password_hash, ADMIN_PASSWORD)


def test_create_admin_asks_for_the_password_twice_without_echo(runner):
    result = runner.invoke(
        args=["create-admin", PHONE], input=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n"
    )

    assert result.exit_code == 0, result.output
    assert "Password: \nRepeat for confirmation: \n" in result.output
    assert ADMIN_PASSWORD not in result.output
    [admin] = all_users()
    assert passwords.verify_password(admin.password_hash, ADMIN_PASSWORD)


def test_create_admin_gives_up_when_the_two_passwords_differ(runner):
    result = runner.invoke(
        args=["create-admin", PHONE], input=f"{ADMIN_PASSWORD}\nsomething else\n"
    )

    assert result.exit_code == 1
    assert "The two entered values do not match." in result.output
    assert all_users() == []


@pytest.mark.parametrize(
    "args, complaint",
    [
        ([PHONE, ADMIN_PASSWORD], "Got unexpected extra argument"),
        ([PHONE, "--password", ADMIN_PASSWORD], "No such option '--password'"),
        ([PHONE, f"--password={ADMIN_PASSWORD}"], "No such option '--password'"),
    ],
)
def test_create_admin_never_takes_the_password_on_the_command_line(
    runner, args, complaint
):
    result = runner.invoke(args=["create-admin", *args], input="")

    assert result.exit_code == 2
    assert complaint in result.output
    assert all_users() == []


@pytest.mark.parametrize(
    "phone, password, complaint",
    [
        (PHONE, "12345678", "digits alone"),
        (PHONE, "short", "at least 8"),
        (PHONE, "", "at least 8"),
        ("12", ADMIN_PASSWORD, "phone number"),
    ],
)
def test_create_admin_refuses_bad_input_with_a_message(
    runner, phone, password, complaint
):
    result = runner.invoke(
        args=["create-admin", phone, "--password-stdin"], input=password + "\n"
    )

    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert complaint in result.output.lower()
    assert all_users() == []


def test_create_admin_promotes_an_existing_member(runner, api):
    invite_code = api.member(PHONE)["invite_code"]

    result = runner.invoke(
        args=["create-admin", PHONE, "--password-stdin"], input=ADMIN_PASSWORD
    )

    assert result.exit_code == 0, result.output
    [admin] = all_users()
    assert admin.is_admin is True
    assert admin.invite_code == invite_code
    assert passwords.verify_password(admin.password_hash, ADMIN_PASSWORD)


def test_seed_users_inserts_verified_members_in_batches(runner, monkeypatch):
    monkeypatch.setattr(commands, "SEED_BATCH_SIZE", 10)

    result = runner.invoke(args=["seed-users", "25"])

    assert result.exit_code == 0, result.output
    assert "Inserted 25 members in" in result.output
    users = all_users()
    assert len(users) == 25
    assert all(user.is_member and user.has_signed_in for user in users)
    assert all(not user.has_password for user in users)
    assert all(
        phonenumbers.is_valid_number(phonenumbers.parse(user.phone_e164))
        for user in users
    )
    invite_codes = {user.invite_code for user in users}
    assert len(invite_codes) == 25
    assert all(len(code) == 8 for code in invite_codes)

    page = directory.find_accounts(users[7].invite_code, limit=10, offset=0)
    assert [user.phone_e164 for user in page.users] == [users[7].phone_e164]
    assert directory.find_accounts(limit=10, offset=0).total == 25


def test_seeding_again_adds_members_after_the_last_ones(runner, api):
    api.member(PHONE)

    first = runner.invoke(args=["seed-users", "3"])
    second = runner.invoke(args=["seed-users", "2"])

    assert (first.exit_code, second.exit_code) == (0, 0)
    phones = [user.phone_e164 for user in all_users()]
    assert len(phones) == len(set(phones)) == 6
    assert db.session.scalar(select(func.count()).select_from(User)) == 6


@pytest.mark.parametrize("count", ["0", "many", "10000001"])
def test_seed_users_refuses_a_count_out_of_range(runner, count):
    result = runner.invoke(args=["seed-users", count])

    assert result.exit_code == 2
    assert "Invalid value for 'COUNT'" in result.output
    assert all_users() == []


def test_seed_users_stops_before_numbers_run_out_of_digits(runner):
    db.session.add(User(phone_e164="+998999999990", is_verified=True))
    db.session.commit()

    result = runner.invoke(args=["seed-users", "20"])

    assert result.exit_code == 1
    assert "Only 9 more seeded numbers fit" in result.output
    assert len(all_users()) == 1
