"""Folders belong to groups: only the owning group's writers create names in a folder.

An existing folder goes to the group of the oldest artifact in it or below it (the
group that made it, as far as the catalog can tell); the root "/" and folders with no
artifact stay unowned. Folders are also indexed case-insensitively, so a look-alike
"/Team-A" is found next to "/team-a".

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _ancestors(folder: str) -> list[str]:
    """A folder and its ancestors below the root, which stays unowned: /a/b gives /a, /a/b."""
    parts = [p for p in folder.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def upgrade() -> None:
    op.add_column("folders", sa.Column("group_id", sa.String(64)))
    op.create_index("ix_folders_path_ci", "folders", [sa.text("lower(path)")])
    conn = op.get_bind()
    # One row per (folder, group): the first artifact of each group in each folder.
    firsts = conn.execute(sa.text(
        "SELECT folder, group_id, MIN(created) AS first FROM artifacts GROUP BY folder, group_id")).fetchall()
    owners: dict[str, str] = {}
    for folder, group, _first in sorted(firsts, key=lambda row: (row[2], row[0], row[1])):
        for path in _ancestors(folder):
            owners.setdefault(path, group)
    paths = conn.execute(sa.text("SELECT path FROM folders")).scalars().all()
    updates = [{"path": p, "group_id": owners[p]} for p in paths if p in owners]
    if updates:
        conn.execute(sa.text("UPDATE folders SET group_id = :group_id WHERE path = :path"), updates)


def downgrade() -> None:
    op.drop_index("ix_folders_path_ci", "folders")
    with op.batch_alter_table("folders") as batch:
        batch.drop_column("group_id")
