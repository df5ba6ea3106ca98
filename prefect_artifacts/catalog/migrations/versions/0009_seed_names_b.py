"""Seed names (Dioptra, IVCAP): a schema registry for metadata aspects.

``aspect_schemas`` holds JSON Schemas registered under URNs (immutable once
registered); an aspect whose ``$schema`` is a registered URN is validated against it.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from prefect_artifacts.catalog.schema import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "aspect_schemas",
        sa.Column("urn", sa.String(255), primary_key=True),
        sa.Column("schema", sa.JSON, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("aspect_schemas")
