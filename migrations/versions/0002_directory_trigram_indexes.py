"""trigram indexes for the directory search on PostgreSQL

The directory matches `phone_e164 LIKE '%digits%'` and
`invite_code LIKE '%CODE%'`; a B-tree cannot serve a pattern that starts
with `%`, so on PostgreSQL these GIN indexes over pg_trgm trigrams do.
SQLite has no such index type and keeps its table scan: this revision does
nothing there. The models do not declare these indexes (create_all would
need the extension first); migrations/env.py keeps autogenerate from
reading them as drift. Patterns shorter than three characters have no
trigram, so such searches still scan. CREATE INDEX locks writes to `users`
while it builds (a few seconds per million rows).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 17:00:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TRIGRAM_INDEXES = {
    "ix_users_phone_e164_trgm": "phone_e164",
    "ix_users_invite_code_trgm": "invite_code",
}


def upgrade():
    if op.get_context().dialect.name != "postgresql":
        return

    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for index_name, column in TRIGRAM_INDEXES.items():
        op.create_index(
            index_name,
            "users",
            [column],
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
        )


def downgrade():
    """Drop the indexes; the extension stays, other objects may use it."""
    if op.get_context().dialect.name != "postgresql":
        return

    for index_name in TRIGRAM_INDEXES:
        op.drop_index(index_name, table_name="users")
