"""Name searches read a partial, covering index of live artifacts.

A name-prefix search (``name:abc*``) sorted by time and its total count then touch
only index entries of live artifacts, without a table lookup per match.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _create(live_only: bool) -> None:
    where = " WHERE deleted IS NULL" if live_only else ""
    columns = "(name COLLATE NOCASE, created, id)" if live_only else "(name COLLATE NOCASE, created)"
    if op.get_bind().dialect.name != "sqlite":
        columns = columns.replace("name COLLATE NOCASE", "lower(name) text_pattern_ops")
    op.execute(f"CREATE INDEX ix_artifacts_name_ci ON artifacts {columns}{where}")


def upgrade() -> None:
    op.execute("DROP INDEX ix_artifacts_name_ci")
    _create(live_only=True)


def downgrade() -> None:
    op.execute("DROP INDEX ix_artifacts_name_ci")
    _create(live_only=False)
