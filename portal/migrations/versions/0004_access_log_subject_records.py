"""the access log keeps each entry's subjects in one row: the records its hash covers, as they are hashed

Revision ID: 0004_access_log_subject_records
Revises: 0003_families
Create Date: 2026-11-24 14:00:00

``access_log_subject`` held one row per subject per entry (5.6 a entry on average: a list page logs up to
50 people), so verification had the server aggregate 5.6 million rows per million entries. It now holds
one row per entry with subjects: ``records``, the subject records exactly as the canonical payload
appends them (per subject, RS and then ordinal, person_id, family_id, tier and categories joined by US,
a NULL id as ""). The hash format does not change, so every existing hash stays valid: the existing
rows are converted with an ordered aggregate that writes those same bytes.

On PostgreSQL the DPO's searches by person and by family use GIN indexes on the ids extracted from
``records`` by two IMMUTABLE SQL functions. The table is append-only like the rest of the log: the same
triggers as in 0002 (PostgreSQL: UPDATE, DELETE and TRUNCATE refused; SQLite: UPDATE and DELETE).

The table keeps its name, so everything that names the log's tables (the append-only checks, the key
rotation's skip list through ``info={"immutable": True}``) still applies to it.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_access_log_subject_records"
down_revision = "0003_families"
branch_labels = None
depends_on = None

TABLE = "access_log_subject"
US = "\x1f"
RS = "\x1e"
#: the ids of an entry's subjects, from its records: field 2 (person_id) or 3 (family_id) of each record
#: that is not "" (an absent id). string_to_array's first item is the "" before the first RS.
ID_FUNCTIONS = {
    "access_log_person_ids": 2,
    "access_log_family_ids": 3,
}
OLD_INDEXES = {
    "ix_access_log_subject_person_id_entry_seq": ["person_id", "entry_seq"],
    "ix_access_log_subject_family_id_entry_seq": ["family_id", "entry_seq"],
}


def _gin_index(function: str) -> str:
    return f"ix_{TABLE}_{function.removeprefix('access_log_')}"


def _drop_triggers(table: str, postgresql: bool) -> None:
    if postgresql:
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_refuse_update_delete ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_refuse_truncate ON {table}")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_refuse_update")
        op.execute(f"DROP TRIGGER IF EXISTS {TABLE}_refuse_delete")


def _create_triggers(postgresql: bool) -> None:
    """As 0002 does for every append-only table (its function ``access_log_refuse_change`` is reused)."""
    if postgresql:
        op.execute(
            f"CREATE TRIGGER {TABLE}_refuse_update_delete BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION access_log_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_refuse_truncate BEFORE TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION access_log_refuse_change()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {TABLE}_refuse_{action.lower()} BEFORE {action} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, 'the access log is append-only: {action} on {TABLE} is not allowed'); "
                "END"
            )


def _set_aside(postgresql: bool, suffix: str) -> str:
    """Rename the current table out of the way (with its primary key's name) and return its new name."""
    aside = f"{TABLE}_{suffix}"
    op.rename_table(TABLE, aside)
    if postgresql:
        op.execute(f"ALTER TABLE {aside} RENAME CONSTRAINT pk_{TABLE} TO pk_{aside}")
    return aside


def upgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    _drop_triggers(TABLE, postgresql)
    for name in OLD_INDEXES:
        op.drop_index(name, table_name=TABLE)
    old = _set_aside(postgresql, "v1")

    new = op.create_table(
        TABLE,
        sa.Column("entry_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("records", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("entry_seq", name=op.f(f"pk_{TABLE}")),
        info={"immutable": True},
    )
    if postgresql:
        # Keep rows of up to ~8 kB (a list page's 50 subjects are ~4.5 kB) in the table, uncompressed:
        # by default PostgreSQL moves values past ~2 kB out to the TOAST table, and fetching them from
        # there was a third of verification's time on the server.
        op.execute(f"ALTER TABLE {TABLE} SET (toast_tuple_target = 8160)")
        # string_agg in ordinal order; concat_ws writes ints as decimal digits, as the canonical payload
        op.execute(
            f"INSERT INTO {TABLE} (entry_seq, records) "  # noqa: S608 - constant names
            "SELECT entry_seq, string_agg(concat_ws(E'\\x1f', E'\\x1e' || ordinal, coalesce(person_id, ''), "
            "coalesce(family_id, ''), tier, categories), '' ORDER BY ordinal) "
            f"FROM {old} GROUP BY entry_seq"
        )
    else:
        # SQLite before 3.44 cannot order an aggregate's input: encode here (a development database)
        rows = bind.execute(
            sa.text(
                f"SELECT entry_seq, ordinal, person_id, family_id, tier, categories FROM {old} "  # noqa: S608
                "ORDER BY entry_seq, ordinal"
            )
        )
        records: dict[int, list[str]] = {}
        for entry_seq, *values in rows:
            fields = ("" if v is None else str(v) for v in values)
            records.setdefault(entry_seq, []).append(RS + US.join(fields))
        if records:
            op.bulk_insert(new, [{"entry_seq": seq, "records": "".join(parts)} for seq, parts in records.items()])
    op.drop_table(old)

    if postgresql:
        for function, field in ID_FUNCTIONS.items():
            op.execute(
                f"CREATE FUNCTION {function}(records text) RETURNS text[] "  # noqa: S608 - constant names
                "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ "
                "SELECT coalesce(array_agg(id), '{}') FROM ("
                f"SELECT split_part(record, E'\\x1f', {field}) AS id "
                "FROM unnest(string_to_array(records, E'\\x1e')) AS record) AS ids WHERE id <> '' $$"
            )
            op.execute(f"CREATE INDEX {_gin_index(function)} ON {TABLE} USING gin ({function}(records))")
    _create_triggers(postgresql)


def downgrade() -> None:
    bind = op.get_bind()
    postgresql = bind.dialect.name == "postgresql"
    _drop_triggers(TABLE, postgresql)
    if postgresql:
        for function in ID_FUNCTIONS:
            op.execute(f"DROP INDEX IF EXISTS {_gin_index(function)}")
            op.execute(f"DROP FUNCTION IF EXISTS {function}(text)")
    new = _set_aside(postgresql, "v2")

    old = op.create_table(
        TABLE,
        sa.Column("entry_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ordinal", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("person_id", sa.String(length=36), nullable=True),
        sa.Column("family_id", sa.String(length=36), nullable=True),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("categories", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("entry_seq", "ordinal", name=op.f(f"pk_{TABLE}")),
        info={"immutable": True},
    )
    if postgresql:
        op.execute(
            f"INSERT INTO {TABLE} (entry_seq, ordinal, person_id, family_id, tier, categories) "  # noqa: S608
            "SELECT entry_seq, split_part(record, E'\\x1f', 1)::integer, "
            "nullif(split_part(record, E'\\x1f', 2), ''), nullif(split_part(record, E'\\x1f', 3), ''), "
            "split_part(record, E'\\x1f', 4)::integer, split_part(record, E'\\x1f', 5) "
            f"FROM {new}, unnest(string_to_array(substr(records, 2), E'\\x1e')) AS record"
        )
    else:
        rows = []
        for entry_seq, records in bind.execute(sa.text(f"SELECT entry_seq, records FROM {new}")):  # noqa: S608
            for record in records[1:].split(RS) if records else ():
                ordinal, person_id, family_id, tier, categories = record.split(US)
                rows.append(
                    {
                        "entry_seq": entry_seq,
                        "ordinal": int(ordinal),
                        "person_id": person_id or None,
                        "family_id": family_id or None,
                        "tier": int(tier),
                        "categories": categories,
                    }
                )
        if rows:
            op.bulk_insert(old, rows)
    op.drop_table(new)
    for name, columns in OLD_INDEXES.items():
        op.create_index(name, TABLE, columns)
    _create_triggers(postgresql)
