"""the access log: chained entries, their subjects, signed checkpoints, the chain head; append-only triggers

Revision ID: 0002_access_log
Revises: 0001_foundation
Create Date: 2026-11-24 10:00:00

The triggers make the log append-only for everyone who connects normally, the application included:
PostgreSQL refuses UPDATE and DELETE row by row and TRUNCATE per statement; SQLite refuses UPDATE and
DELETE (it has no TRUNCATE). They are a guard against mistakes and casual tampering, not against a
database superuser, who can disable triggers: that is what the hash chain and signed checkpoints are for.
The chain head is updated on every append, so only its deletion is refused.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_access_log"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None

IMMUTABLE_TABLES = ("access_log_entry", "access_log_subject", "access_log_checkpoint")
HEAD = "access_log_chain_head"
GENESIS = "0" * 64


def upgrade() -> None:
    op.create_table(
        "access_log_entry",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("actor_user_id", sa.String(length=36), nullable=True),
        sa.Column("actor_organisation_id", sa.String(length=36), nullable=True),
        sa.Column("actor_roles", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("protocol_refs", sa.Text(), nullable=False),
        sa.Column("notice_refs", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("subject_count", sa.Integer(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_access_log_entry")),
        info={"immutable": True},
    )
    op.create_index("ix_access_log_entry_at_us_seq", "access_log_entry", ["at_us", "seq"])
    op.create_index(
        "ix_access_log_entry_actor_user_id_at_us_seq", "access_log_entry", ["actor_user_id", "at_us", "seq"]
    )
    op.create_index(
        "ix_access_log_entry_actor_organisation_id_at_us_seq",
        "access_log_entry",
        ["actor_organisation_id", "at_us", "seq"],
    )
    op.create_index("ix_access_log_entry_outcome_at_us_seq", "access_log_entry", ["outcome", "at_us", "seq"])
    op.create_index("ix_access_log_entry_event_at_us_seq", "access_log_entry", ["event", "at_us", "seq"])

    op.create_table(
        "access_log_subject",
        sa.Column("entry_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ordinal", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=True),
        sa.Column("family_id", sa.String(length=36), nullable=True),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("entry_seq", "ordinal", name=op.f("pk_access_log_subject")),
        info={"immutable": True},
    )
    op.create_index("ix_access_log_subject_person_id_entry_seq", "access_log_subject", ["person_id", "entry_seq"])
    op.create_index("ix_access_log_subject_family_id_entry_seq", "access_log_subject", ["family_id", "entry_seq"])

    op.create_table(
        "access_log_checkpoint",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at_us", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_access_log_checkpoint")),
        info={"immutable": True},
    )

    head = op.create_table(
        HEAD,
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_access_log_chain_head_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_log_chain_head")),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": GENESIS}])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION access_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'the access log is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
                    USING ERRCODE = 'raise_exception',
                          HINT = 'Entries are never changed or removed; record a new entry instead.';
            END
            $$
            """
        )
        for table in IMMUTABLE_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_refuse_update_delete BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION access_log_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_refuse_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION access_log_refuse_change()"
            )
        op.execute(
            f"CREATE TRIGGER {HEAD}_refuse_delete BEFORE DELETE ON {HEAD} "
            "FOR EACH ROW EXECUTE FUNCTION access_log_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {HEAD}_refuse_truncate BEFORE TRUNCATE ON {HEAD} "
            "FOR EACH STATEMENT EXECUTE FUNCTION access_log_refuse_change()"
        )
    else:
        for table in IMMUTABLE_TABLES:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_refuse_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'the access log is append-only: {action} on {table} is not allowed'); "
                    "END"
                )
        op.execute(
            f"CREATE TRIGGER {HEAD}_refuse_delete BEFORE DELETE ON {HEAD} "
            f"BEGIN SELECT RAISE(ABORT, 'the access log is append-only: DELETE on {HEAD} is not allowed'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in IMMUTABLE_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_refuse_update_delete ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_refuse_truncate ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {HEAD}_refuse_delete ON {HEAD}")
        op.execute(f"DROP TRIGGER IF EXISTS {HEAD}_refuse_truncate ON {HEAD}")
        op.execute("DROP FUNCTION IF EXISTS access_log_refuse_change()")
    else:
        for table in IMMUTABLE_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_refuse_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_refuse_delete")
        op.execute(f"DROP TRIGGER IF EXISTS {HEAD}_refuse_delete")

    op.drop_table(HEAD)
    op.drop_table("access_log_checkpoint")
    op.drop_index("ix_access_log_subject_family_id_entry_seq", table_name="access_log_subject")
    op.drop_index("ix_access_log_subject_person_id_entry_seq", table_name="access_log_subject")
    op.drop_table("access_log_subject")
    for name in (
        "ix_access_log_entry_event_at_us_seq",
        "ix_access_log_entry_outcome_at_us_seq",
        "ix_access_log_entry_actor_organisation_id_at_us_seq",
        "ix_access_log_entry_actor_user_id_at_us_seq",
        "ix_access_log_entry_at_us_seq",
    ):
        op.drop_index(name, table_name="access_log_entry")
    op.drop_table("access_log_entry")
