"""sharing register version: a counter the database bumps whenever a protocol or a notice version changes

Revision ID: 0006_sharing_register_version
Revises: 0005_nominations
Create Date: 2026-12-01 08:10:00

Every app process keeps the sharing register (protocols with their parties and flows, notice versions
with their coverage) in memory, because the gate consults it on every request and it changes only when
the register is imported. Each request reads this counter with its facts, in the same statement, and a
process whose copy is older reloads it: so suspending a protocol still stops its flows at once, in every
process. The triggers bump the counter on any change to those tables, by any writer (the import, a
future management screen, a DBA's UPDATE), so no code path can forget to.
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0006_sharing_register_version"
down_revision = "0005_nominations"
branch_labels = None
depends_on = None

STATE = "sharing_register_state"
#: the tables whose rows the in-memory register is built from
WATCHED = ("sharing_protocol", "protocol_party", "protocol_flow", "notice_version", "notice_coverage")


def upgrade() -> None:
    state = op.create_table(
        STATE,
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_sharing_register_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_register_state")),
    )
    # a random start: a process that cached the register of a database that was then dropped and
    # rebuilt under the same address must not find the same counter there
    op.bulk_insert(state, [{"id": 1, "version": secrets.randbits(40)}])
    bump = f"UPDATE {STATE} SET version = version + 1 WHERE id = 1"  # noqa: S608 - module constants only
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION sharing_register_bump() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                {bump};
                RETURN NULL;
            END
            $$
            """
        )
        for table in WATCHED:
            op.execute(
                f"CREATE TRIGGER {table}_bumps_register AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION sharing_register_bump()"
            )
    else:
        for table in WATCHED:
            for action in ("INSERT", "UPDATE", "DELETE"):
                name = f"{table}_bumps_register_{action.lower()}"
                op.execute(f"CREATE TRIGGER {name} AFTER {action} ON {table} BEGIN {bump}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_bumps_register ON {table}")
        op.execute("DROP FUNCTION IF EXISTS sharing_register_bump()")
    else:
        for table in WATCHED:
            for action in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_bumps_register_{action}")
    op.drop_table(STATE)
