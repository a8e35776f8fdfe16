"""SQL statements per request, counted with a SQLAlchemy event listener.

The app runs in this process on the benchmark database (Flask's test client,
CSRF off so a form post needs no token); every statement SQLAlchemy sends
while one request is handled is counted. The connection pool's pre-ping, a
`SELECT 1` at checkout, goes round SQLAlchemy's events and is not counted.
"""

import re
from contextlib import contextmanager

from sqlalchemy import event

from portal import create_app
from portal.extensions import db

MAX_STATEMENT_TEXT = 200


def brief(statement: str) -> str:
    """One line, with a long column list shortened to `…`."""
    line = " ".join(statement.split())
    line = re.sub(
        r"^SELECT (\w+\.\w+, ){3,}\w+\.\w+(, \w+_\d+\.\w+)* FROM", "SELECT … FROM", line
    )
    return line if len(line) <= MAX_STATEMENT_TEXT else line[:MAX_STATEMENT_TEXT] + " …"


@contextmanager
def counting(engine, statements: list[str]):
    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(brief(statement))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", record)


def measure(phone: str, password: str, invite_account: dict) -> dict:
    """Statements for each kind of request, at its first and its second run."""
    app = create_app({"WTF_CSRF_ENABLED": False})
    client = app.test_client()
    web_client = app.test_client()
    login = {"phone_number": phone, "password": password}
    with app.app_context():
        engine = db.engine

    def count(send) -> dict:
        first_statements: list[str] = []
        with counting(engine, first_statements):
            send()
        statements: list[str] = []
        with counting(engine, statements):
            response = send()
        assert response.status_code in (200, 302), response.status_code
        return {
            "count": len(statements),
            "first": len(first_statements),
            "statements": statements,
        }

    access = client.post("/api/v1/auth/login/", json=login).get_json()["access"]
    bearer = {"Authorization": f"Bearer {access}"}
    web_client.post("/login", data=login)
    partial = {"HX-Request": "true"}

    figures = {
        "me": count(lambda: client.get("/api/v1/users/me/", headers=bearer)),
        "list, empty query": count(
            lambda: client.get("/api/v1/users/list/", headers=bearer)
        ),
        "list, search": count(
            lambda: client.get("/api/v1/users/list/?search=4567", headers=bearer)
        ),
        "html partial, search": count(
            lambda: web_client.get("/users?search=4567", headers=partial)
        ),
        "password login": count(lambda: client.post("/api/v1/auth/login/", json=login)),
    }

    statements: list[str] = []
    with counting(engine, statements):
        response = client.post("/api/v1/auth/login/", json=invite_account)
    assert response.status_code == 200, response.get_json()
    figures["invite login"] = {"count": len(statements), "statements": statements}
    return figures
