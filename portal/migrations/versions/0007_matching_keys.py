"""matching keys: blind indexes of date of birth, postcode and family name with year of birth on person

Blocking keys for matching nominated people to known ones without decrypting everyone
(``referrals.matching``). They are keyed hashes, so this migration cannot compute them (it has no key
ring): existing people get theirs from ``flask --app wsgi backfill-matching-keys``, which is safe to
re-run; every code path that writes a person fills them from then on.

Revision ID: 0007_matching_keys
Revises: 0006_sharing_register_version
Create Date: 2026-11-24 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_matching_keys"
# the journey branch adds 0006; when both are merged this becomes "0006_..." (the lead rechains it)
down_revision = "0006_sharing_register_version"
branch_labels = None
depends_on = None

COLUMNS = ("dob_block_index", "postcode_block_index", "name_year_block_index")


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.String(length=64), nullable=True))
            batch_op.create_index(batch_op.f(f"ix_person_{name}"), [name], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_index(batch_op.f(f"ix_person_{name}"))
            batch_op.drop_column(name)
