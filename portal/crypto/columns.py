"""Encrypted column types, and re-encrypting what is stored under an old data key.

Values are encrypted by the column type on the way into the database and decrypted on the way out,
with the app's key ring (``keyfiles.keyring``); ``raw`` hands list pages the stored tokens to decrypt
many at once. Rotation (``keys-rotate``) makes a new key active; ``reencrypt_all`` then rewrites every
stored value still under an older key, except in immutable tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Column, MetaData, Table, Text, and_, not_, select, tuple_, type_coerce, update
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from portal.crypto.keyfiles import keyring
from portal.crypto.ring import TOKEN_VERSION, DecryptionError, KeyRing, associated_data


class _EncryptedComparator(TypeDecorator.Comparator[Any], Text.Comparator[Any]):
    """Refuse SQL comparisons on ciphertext: they would compare against a fresh random token and
    silently match nothing. Only ``IS NULL`` / ``IS NOT NULL`` make sense; search a blind index."""

    def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
        from sqlalchemy.sql import operators

        null_check = op in (operators.is_, operators.is_not) or (
            op in (operators.eq, operators.ne) and len(other) == 1 and other[0] is None
        )
        if not null_check:
            raise TypeError(
                "encrypted columns cannot be compared or searched in SQL (every token is different); "
                "store and search a blind index instead"
            )
        return super().operate(op, *other, **kwargs)


class EncryptedText(TypeDecorator[str]):
    """A ``str`` column stored as an encrypted token (``TEXT``); ``None`` stays ``NULL``.

    ``context`` must be unique to the column, conventionally ``"table.column"``, and must never change
    once data is stored (it is authenticated with every value).
    """

    impl = Text
    cache_ok = True
    comparator_factory = _EncryptedComparator

    def __init__(self, context: str) -> None:
        associated_data(context)  # validate now, when the model is defined, not at first write
        super().__init__()
        self.context = context

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(f"{self.context} holds text, not {type(value).__name__}")
        return keyring().encrypt(value, self.context)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keyring().decrypt(value, self.context)

    def decode(self, ring: KeyRing, value: str | None) -> str | None:
        """What ``process_result_value`` returns, with the ring given: for code that selects the raw
        tokens of many rows (``raw``) and decrypts them with one look-up of the ring."""
        return None if value is None else ring.decrypt(value, self.context)

    def process_literal_param(self, value: Any, dialect: Dialect) -> str:
        raise TypeError("encrypted values are never rendered into SQL text")

    def __repr__(self) -> str:  # Alembic autogenerate renders types by repr; keep the context
        return f"{type(self).__name__}({self.context!r})"

    @property
    def python_type(self) -> type:
        return str


class EncryptedDate(TypeDecorator[dt.date]):
    """A ``datetime.date`` column (a date of birth) stored as an encrypted ISO date (``TEXT``)."""

    impl = Text
    cache_ok = True
    comparator_factory = _EncryptedComparator

    def __init__(self, context: str) -> None:
        associated_data(context)
        super().__init__()
        self.context = context

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        # a datetime is a date too, but its time (and zone) would be lost or leak; refuse it
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            raise TypeError(f"{self.context} holds a datetime.date, not {type(value).__name__}")
        return keyring().encrypt(value.isoformat(), self.context)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.date | None:
        return self.decode(keyring(), value)

    def decode(self, ring: KeyRing, value: str | None) -> dt.date | None:
        """See ``EncryptedText.decode``."""
        if value is None:
            return None
        plain = ring.decrypt(value, self.context)
        try:
            return dt.date.fromisoformat(plain)
        except ValueError:
            raise DecryptionError(f"{self.context} did not decrypt to an ISO date") from None

    def process_literal_param(self, value: Any, dialect: Dialect) -> str:
        raise TypeError("encrypted values are never rendered into SQL text")

    def __repr__(self) -> str:  # Alembic autogenerate renders types by repr; keep the context
        return f"{type(self).__name__}({self.context!r})"

    @property
    def python_type(self) -> type:
        return dt.date


ENCRYPTED_TYPES = (EncryptedText, EncryptedDate)


def raw(column: Column[Any]) -> Any:
    """The column's stored token, not decrypted by the column type (decrypt it with ``.type.decode``).

    List pages decrypt a few hundred values: one look-up of the key ring for all of them, instead of
    one per value inside SQLAlchemy's result processing, halved the cost of loading a page of people.
    """
    return type_coerce(column, Text).label(column.key)


# -- re-encryption ------------------------------------------------------------------------------


def encrypted_columns(metadata: MetaData) -> Iterator[tuple[Table, Column[Any]]]:
    """Every (table, column) whose type is an encrypted type, in dependency order."""
    for table in metadata.sorted_tables:
        for col in table.columns:
            if isinstance(col.type, ENCRYPTED_TYPES):
                yield table, col


def is_immutable(table: Table) -> bool:
    """Tables marked ``info={"immutable": True}`` (the access log) are never updated, not even to
    re-encrypt: their rows are hash-chained and the database refuses UPDATE on them. Their old keys
    must therefore stay in the key ring for as long as those rows are kept."""
    return bool(table.info.get("immutable"))


def reencrypt_all(
    connection_or_session: Connection | Session,
    metadata: MetaData,
    ring: KeyRing,
    batch_size: int = 500,
) -> dict[str, int]:
    """Re-encrypt every stored value not under the active key; returns counts by ``table.column``.

    Works on the raw stored tokens through SQLAlchemy Core with plain ``Text`` columns, so the
    column types' own encryption is not applied a second time. Each batch is its own transaction
    (committed before the next), so a long run holds no long locks and can be interrupted and
    re-run: it is idempotent, as rows already under the active key are not selected again.
    Each UPDATE also requires the stored token to be unchanged, so a value the app rewrote meanwhile
    is never overwritten with an older one. A value that fails to decrypt stops the run with an error
    naming the table, column and row, rather than being skipped silently.

    Immutable tables (``info={"immutable": True}``) are skipped: see ``is_immutable``.
    Blind indexes are untouched: they use the separate index key, which data-key rotation keeps.

    The connection or session must not be inside a transaction when passed in (its batches are
    committed, and committing someone else's pending work would be a surprise).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if connection_or_session.in_transaction():
        raise RuntimeError("reencrypt_all commits in batches: pass a connection or session with no open transaction")
    counts: dict[str, int] = {}
    for table, col in encrypted_columns(metadata):
        if is_immutable(table):
            continue
        name = f"{table.fullname}.{col.name}"
        counts[name] = _reencrypt_column(connection_or_session, table, col, ring, batch_size)
    return counts


def _reencrypt_column(
    conn: Connection | Session, table: Table, col: Column[Any], ring: KeyRing, batch_size: int
) -> int:
    context = col.type.context  # type: ignore[attr-defined]
    pk_cols = list(table.primary_key.columns)
    if any(isinstance(pk.type, ENCRYPTED_TYPES) for pk in pk_cols):
        raise ValueError(f"{table.fullname}: an encrypted primary key cannot be re-encrypted (or looked up)")
    raw = sql_table(
        table.name,
        sql_column(col.name, Text),
        *(sql_column(pk.name, pk.type) for pk in pk_cols),
        schema=table.schema,
    )
    value = raw.c[col.name]
    keys = [raw.c[pk.name] for pk in pk_cols]
    stale = and_(value.is_not(None), not_(value.startswith(f"{TOKEN_VERSION}.{ring.active_key_id}.", autoescape=True)))
    total = 0
    last: tuple[Any, ...] | None = None
    while True:
        query = select(value, *keys).where(stale)
        if keys:
            if last is not None:
                query = query.where(tuple_(*keys) > tuple_(*last) if len(keys) > 1 else keys[0] > last[0])
            query = query.order_by(*keys)
        rows = conn.execute(query.limit(batch_size)).all()
        if not rows:
            break
        changed = 0
        try:
            for row in rows:
                token, ids = row[0], tuple(row[1:])
                try:
                    fresh = ring.encrypt(ring.decrypt(token, context), context)
                except DecryptionError as exc:
                    where = f" row {dict(zip([pk.name for pk in pk_cols], ids, strict=True))}" if keys else ""
                    raise DecryptionError(f"{table.fullname}.{col.name}{where}: {exc}") from None
                match = [value == token, *(k == i for k, i in zip(keys, ids, strict=True))]
                result = conn.execute(update(raw).where(*match).values({col.name: fresh}))
                changed += result.rowcount or 0
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        total += changed
        if keys:
            last = tuple(rows[-1][1:])
        elif changed == 0:
            break  # without a key to page by, stop rather than loop if nothing could be updated
    return total
