"""Appending to the hash-chained access log, in the caller's transaction.

Serialising appends
-------------------
One row, ``access_log_chain_head``, holds the last sequence number handed out and its hash. An append
runs ``UPDATE access_log_chain_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash`` in the caller's
transaction. On PostgreSQL the row lock makes concurrent appenders queue, and under READ COMMITTED a
waiter re-reads the row as committed by the holder, so it gets the next number and the holder's hash:
the chain cannot fork (unlike ``SELECT ... ORDER BY seq DESC LIMIT 1 FOR UPDATE``, where a waiter wakes
on the old tail). On SQLite the UPDATE takes the database write lock, which serialises writers across
processes the same way. The lock is held until the caller commits or rolls back, so callers append
last, just before committing; everything else about the entry is prepared before the lock is taken.
On PostgreSQL the same happens in one statement (``_PG_APPEND``): the head row is locked with
``SELECT ... FOR UPDATE`` (which, like the UPDATE, returns the row as its holder committed it), and the
entry, its subject row and the new head are written by data-modifying CTEs, with the hash computed by
the server and checked by Python against ``chain_hash``: one round trip instead of four, on every page.
A rolled-back transaction takes its entry and the head's advance with it, so sequence numbers have no
gaps. Appending needs READ COMMITTED (PostgreSQL's default): under REPEATABLE READ a waiter would fail
with a serialisation error instead of waiting its turn.
"""

from __future__ import annotations

import time

from sqlalchemy import insert, text, update
from sqlalchemy.orm import Session

from portal.access_log import signing
from portal.access_log.format import US, NewEntry, chain_hash
from portal.access_log.models import AccessLogChainHead, AccessLogCheckpoint, AccessLogEntry, AccessLogSubject
from portal.access_log.signing import Sealer
from portal.db import fetch

_ENTRY = AccessLogEntry.__table__
_SUBJECT = AccessLogSubject.__table__
_CHECKPOINT = AccessLogCheckpoint.__table__
_HEAD = AccessLogChainHead.__table__
_ADVANCE = update(_HEAD).where(_HEAD.c.id == 1).values(seq=_HEAD.c.seq + 1).returning(_HEAD.c.seq, _HEAD.c.hash)
_SET_HEAD_HASH = update(_HEAD).where(_HEAD.c.id == 1)
_INSERT_ENTRY = insert(_ENTRY)
_INSERT_SUBJECT = insert(_SUBJECT)
_INSERT_CHECKPOINT = insert(_CHECKPOINT)


_ROW_COLUMNS = tuple(c.name for c in _ENTRY.columns if c.name not in ("seq", "prev_hash", "hash"))
# PostgreSQL: the whole append in one round trip. The head row is locked (FOR UPDATE on the one-row
# head table, never on the entry table's tail), the next number and the hash are computed by the server
# (sha256 of prev_hash, seq, US and the body, UTF-8: what chain_hash computes), the entry, its subject
# row and the new head are written, and seq, prev_hash and hash come back for Python to check. Under READ
# COMMITTED a waiter's FOR UPDATE returns the head as its holder committed it, so the chain cannot fork.
# Built from this module's constant column names only.
_PG_PARAMS = ", ".join(
    f"CAST(:{name} AS {'bigint' if name == 'at_us' else 'integer' if name == 'subject_count' else 'text'})"
    for name in _ROW_COLUMNS
)
_PG_APPEND = text(
    "WITH head AS (SELECT seq + 1 AS seq, hash AS prev_hash FROM access_log_chain_head WHERE id = 1 FOR UPDATE),"  # noqa: S608
    " new AS (SELECT seq, prev_hash,"
    " encode(sha256(convert_to(prev_hash || seq::text || chr(31) || CAST(:body AS text), 'UTF8')), 'hex')"
    " AS hash FROM head),"
    f" entry AS (INSERT INTO access_log_entry (seq, prev_hash, hash, {', '.join(_ROW_COLUMNS)})"
    f" SELECT seq, prev_hash, hash, {_PG_PARAMS} FROM new RETURNING seq),"
    " subject AS (INSERT INTO access_log_subject (entry_seq, records)"
    " SELECT seq, CAST(:records AS text) FROM entry WHERE CAST(:records AS text) <> ''),"
    " moved AS (UPDATE access_log_chain_head SET seq = new.seq, hash = new.hash FROM new"
    " WHERE access_log_chain_head.id = 1)"
    " SELECT seq, prev_hash, hash FROM new"
)


class ChainError(RuntimeError):
    """The log cannot be appended to (its chain head row is missing): nothing may be served."""


def append(session: Session, entry: NewEntry, *, sealer: Sealer | None = None) -> int:
    """Add ``entry`` to the end of the chain in the caller's transaction and return its sequence number.

    The caller commits (the entry becomes durable with the data it records) or rolls back (the entry
    goes with it). Call it last before committing: from here to the commit, other appenders wait.
    When the new entry completes a checkpoint interval, the signed checkpoint is written too.

    Args:
        session: the caller's session; its pending changes are flushed before the chain is locked.
        entry: the validated entry.
        sealer: the checkpoint key and interval (default: the current app's, see ``signing.init_app``).

    Raises:
        ChainError: the chain head row is missing.
        sqlalchemy.exc.SQLAlchemyError: the database refused the write.
    """
    sealer = sealer or signing.sealer()
    session.flush()  # the caller's own writes first, so they are not done while holding the chain lock
    if session.get_bind().dialect.name == "postgresql":
        seq, digest = _append_postgresql(session, entry)
    else:
        head = session.execute(_ADVANCE).one_or_none()
        if head is None:
            raise ChainError("the access log's chain head row is missing; run `flask audit-verify`")
        seq, prev_hash = int(head[0]), str(head[1])
        digest = chain_hash(prev_hash, f"{seq}{US}{entry.body}")
        session.execute(_INSERT_ENTRY, {**entry.row, "seq": seq, "prev_hash": prev_hash, "hash": digest})
        if entry.records:
            session.execute(_INSERT_SUBJECT, {"entry_seq": seq, "records": entry.records})
        session.execute(_SET_HEAD_HASH, {"hash": digest})
    if sealer.due(seq):
        session.execute(
            _INSERT_CHECKPOINT,
            {
                "seq": seq,
                "hash": digest,
                "signed_at_us": time.time_ns() // 1000,
                "key_id": sealer.key_id,
                "signature": sealer.sign(seq, digest),
            },
        )
    return seq


def _append_postgresql(session: Session, entry: NewEntry) -> tuple[int, str]:
    """One round trip (see ``_PG_APPEND``); the server's hash is checked against ``chain_hash``."""
    rows = fetch(session, _PG_APPEND, {**entry.row, "body": entry.body, "records": entry.records})
    head = rows[0] if rows else None
    if head is None:
        raise ChainError("the access log's chain head row is missing; run `flask audit-verify`")
    seq, prev_hash, digest = int(head[0]), str(head[1]), str(head[2])
    if digest != chain_hash(prev_hash, f"{seq}{US}{entry.body}"):
        # e.g. a database whose encoding is not UTF-8: refuse rather than write an unverifiable chain
        raise ChainError(f"the database computed a different hash for entry {seq}; nothing was appended")
    return seq, digest
