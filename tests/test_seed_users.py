"""`flask seed-users`: fake members for demos and benchmarks, on both databases."""

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import User
from portal.services import codes


def test_seed_users_adds_members_with_unique_phones_and_codes(app, api):
    runner = app.test_cli_runner()

    first = runner.invoke(args=["seed-users", "25"])
    second = runner.invoke(args=["seed-users", "15"])

    assert first.exit_code == 0, first.output
    assert "Inserted 25 members" in first.output
    assert second.exit_code == 0, second.output
    seeded = db.session.scalars(select(User).order_by(User.id)).all()
    assert len(seeded) == 40
    assert len({user.phone_e164 for user in seeded}) == 40
    assert len({user.invite_code for user in seeded}) == 40
    assert seeded[0].phone_e164 == "+998900000000"
    assert seeded[-1].phone_e164 == "+998900000039"
    assert all(user.is_member and user.has_signed_in for user in seeded)
    assert all(
        user.invite_code_hash == codes.keyed_hash("invite", user.invite_code)
        for user in seeded
    )

    listing = api.get("/users/list/", token=api.member()["access"]).get_json()
    assert listing["count"] == 41


def test_seeded_members_are_found_by_phone_digits(app, api):
    app.test_cli_runner().invoke(args=["seed-users", "12"])

    listing = api.get(
        "/users/list/", token=api.member()["access"], search="00 01"
    ).get_json()

    assert db.session.scalar(select(func.count()).select_from(User)) == 13
    assert [user["phone_number"] for user in listing["results"]] == [
        "+998900000001",
        "+998900000010",
        "+998900000011",
    ]
