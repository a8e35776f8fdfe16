"""Database time of each directory search, from EXPLAIN ANALYZE.

Request latency on a shared machine mostly measures how much CPU the Python
workers got; the statements' own execution time shows how the search scales
with the table. Each search is run through directory.find_accounts once to
capture its statements, then each statement is run under EXPLAIN ANALYZE.
"""

import json

from sqlalchemy import event

from portal import create_app
from portal.extensions import db
from portal.services import directory


def measure(searches: dict[str, str], runs: int) -> dict:
    """Planning plus execution milliseconds per search, one figure per run."""
    app = create_app()
    figures = {}
    with app.app_context():
        for name, text in searches.items():
            directory.find_accounts(text, limit=10, offset=0)  # fill the count cache
            statements = capture(lambda text=text: find(text))
            figures[name] = [explain_total(statements) for _ in range(runs)]
        db.session.remove()
        db.engine.dispose()
    return figures


def find(text: str) -> None:
    directory.find_accounts(text, limit=10, offset=0)


def capture(run) -> list[tuple[str, object]]:
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return statements


def explain_total(statements) -> float:
    total_ms = 0.0
    connection = db.session.connection()
    for statement, parameters in statements:
        result = connection.exec_driver_sql(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
        ).scalar()
        plan = (json.loads(result) if isinstance(result, str) else result)[0]
        total_ms += plan["Planning Time"] + plan["Execution Time"]
    db.session.rollback()
    return round(total_ms, 3)
