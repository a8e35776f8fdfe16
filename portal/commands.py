"""Command line: `flask create-admin` and `flask seed-users`."""

import sys
import time
from datetime import datetime

import click
from flask import Flask
from sqlalchemy import func, insert, select

from portal.errors import PortalError
from portal.extensions import db
from portal.models import User, utcnow
from portal.services import accounts, codes

SEED_BATCH_SIZE = 10_000
# Uzbek mobile numbers +998 9X XXX XX XX: eight digits after the prefix.
SEED_PREFIX = "+9989"
SEED_DIGITS = 8


def register(app: Flask) -> None:
    app.cli.add_command(create_admin)
    app.cli.add_command(seed_users)


@click.command("create-admin")
@click.argument("phone")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input instead of a prompt.",
)
def create_admin(phone: str, password_stdin: bool) -> None:
    """Create an admin account for PHONE, or make that account an admin."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)

    try:
        user = accounts.create_admin(phone, password)
    except PortalError as exc:
        details = "; ".join(m for messages in exc.errors.values() for m in messages)
        raise click.ClickException(f"{exc.message} {details}".strip()) from None

    click.echo(f"Admin {user.phone_e164} is ready (id {user.id}).")


@click.command("seed-users")
@click.argument("count", type=click.IntRange(min=1, max=10_000_000))
def seed_users(count: int) -> None:
    """Insert COUNT fake verified members who have signed in once, in batches.

    Their numbers follow the highest number that starts with SEED_PREFIX, so
    seeding twice adds more members; they have no password, and their invite
    codes are public. On PostgreSQL each batch goes in with COPY, the fastest
    way in.
    """
    started = time.perf_counter()
    next_number = _first_free_seed_number()
    room = 10**SEED_DIGITS - next_number
    if count > room:
        raise click.ClickException(
            f"Only {room} more seeded numbers fit after the highest {SEED_PREFIX} "
            "number in the database."
        )

    now = utcnow()
    use_copy = db.engine.dialect.name == "postgresql"
    inserted = 0
    with click.progressbar(length=count, label="Seeding members") as progress:
        while inserted < count:
            batch_size = min(SEED_BATCH_SIZE, count - inserted)
            rows = _without_taken_codes(
                [
                    _seed_row(f"{SEED_PREFIX}{number:0{SEED_DIGITS}d}", now)
                    for number in range(next_number, next_number + batch_size)
                ]
            )
            if use_copy:
                _copy_rows(rows)
            else:
                db.session.execute(insert(User), rows)
            db.session.commit()
            next_number += batch_size
            inserted += len(rows)
            progress.update(len(rows))

    elapsed = time.perf_counter() - started
    click.echo(f"Inserted {inserted} members in {elapsed:.1f} s.")


def _seed_row(phone_e164: str, now: datetime) -> dict:
    invite_code = codes.new_invite_code()
    return {
        "phone_e164": phone_e164,
        "is_verified": True,
        "is_active": True,
        "is_admin": False,
        "invite_code": invite_code,
        "invite_code_hash": codes.keyed_hash("invite", invite_code),
        "token_version": 0,
        "date_joined": now,
        "first_login_at": now,
        "last_login_at": now,
    }


def _copy_rows(rows: list[dict]) -> None:
    """Stream rows into the users table with PostgreSQL's COPY, in this session's
    transaction; the caller commits."""
    if not rows:
        return
    columns = list(rows[0])
    driver_connection = db.session.connection().connection.driver_connection
    statement = f"COPY users ({', '.join(columns)}) FROM STDIN"
    with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([row[column] for column in columns])


def _first_free_seed_number() -> int:
    highest = db.session.scalar(
        select(func.max(User.phone_e164)).where(User.phone_e164.like(SEED_PREFIX + "%"))
    )
    if highest is None:
        return 0
    return int(highest[len(SEED_PREFIX) :]) + 1


def _without_taken_codes(rows: list[dict]) -> list[dict]:
    """Drop the rare row whose random invite code is already someone's."""
    batch_codes = [row["invite_code"] for row in rows]
    taken = set(
        db.session.scalars(
            select(User.invite_code).where(User.invite_code.in_(batch_codes))
        )
    )
    seen: set[str] = set()
    kept = []
    for row in rows:
        if row["invite_code"] in taken or row["invite_code"] in seen:
            continue
        seen.add(row["invite_code"])
        kept.append(row)
    return kept
