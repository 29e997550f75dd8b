"""Verifying the access log: recompute the whole chain, check every checkpoint, name the first bad entry.

This module reads what the walk along the entries needs (the chain head, the checkpoints, entries
whose id columns hold ""), in one snapshot when it can, and picks the walk: the tuned binary COPY on
PostgreSQL (``verify_postgresql``), the readable reference everywhere else (``verify_reference``).
Both report through ``verify_report.Walk``. Afterwards it looks for subject rows that name no entry.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from portal.access_log import verify_postgresql, verify_reference
from portal.access_log.verify_report import VerifyReport, Walk, Walker

# The statements below are constants and, for bounds, an int.
_BLANK_ID_QUERIES = (
    ("SELECT seq FROM access_log_entry WHERE actor_user_id = ''", "seq"),
    ("SELECT seq FROM access_log_entry WHERE actor_organisation_id = ''", "seq"),
)


def _bounded(sql: str, column: str, bound: int | None, joiner: str = "WHERE") -> str:
    """A constant statement limited to ``column <= bound`` when there is a bound (an int)."""
    return sql if bound is None else f"{sql} {joiner} {column} <= {int(bound)}"


def walker_for(dialect: str) -> Walker:
    """The walk ``verify`` uses on this database: the tuned one on PostgreSQL, else the reference."""
    return verify_postgresql.walk if dialect == "postgresql" else verify_reference.walk


def verify(
    bind: Engine | Connection | Session,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    *,
    walker: Walker | None = None,
) -> VerifyReport:
    """Recompute the whole chain and check every checkpoint; name the first bad entry.

    Checks, in sequence order: numbering is 1, 2, 3... without gaps; each entry's prev_hash is the
    previous entry's hash; each hash recomputes from the stored values and subject records; each
    checkpoint is signed by a trusted key and seals the hash its entry has. Then: nothing was removed
    after the newest checkpoint, no subject rows belong to missing entries or to entries without
    subjects, and the chain head agrees with the newest entry.

    Args:
        bind: an Engine (verification takes its own snapshot: use this while the portal is running),
            or a Connection / Session (reads in that transaction; entries committed by others after the
            chain head was read are left for the next run).
        trusted_keys: key id -> Ed25519 public key, from configuration only (``signing.trusted_keys()``).
        walker: the walk along the entries (default ``walker_for`` the database); the tests pass the
            reference on PostgreSQL to hold the tuned walk to its reports.

    Returns:
        A ``VerifyReport``; ``report.intact`` is False when anything was found.
    """
    with _reader(bind) as (dbapi, dialect, snapshot):
        cursor = dbapi.cursor()
        cursor.execute("SELECT seq, hash FROM access_log_chain_head WHERE id = 1")
        head = cursor.fetchone()
        # Without a snapshot each statement sees more commits than the last. Appends commit in sequence
        # order (the head lock is held to the commit), so bounding every read by the head read first
        # gives a consistent view; tampering beyond the head is then left to a snapshot run.
        bound = int(head[0]) if head is not None and not snapshot else None
        cursor.execute(_bounded("SELECT seq, hash, key_id, signature FROM access_log_checkpoint", "seq", bound))
        checkpoints = {int(r[0]): (str(r[1]), str(r[2]), str(r[3])) for r in cursor.fetchall()}
        cursor.close()
        # an id column never holds "" (absent is NULL), and "" would hash like NULL: find any directly,
        # one indexed equality per column (an OR, or min(), tempts the planner into a full scan)
        blank = [
            int(seq)
            for sql, column in _BLANK_ID_QUERIES
            for (seq,) in _rows(dbapi, _bounded(sql, column, bound, "AND"))
        ]
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="access-log-signatures")
        try:
            walk = Walk(checkpoints, head, trusted_keys, min(blank, default=None), pool)
            report = (walker or walker_for(dialect))(dbapi, bound, walk)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        if report.intact:
            report = _check_subject_rows(dbapi, report, bound)
        return report


@contextmanager
def _reader(bind: Engine | Connection | Session) -> Iterator[tuple[Any, str, bool]]:
    """Yield (DBAPI connection, dialect name, whether all reads share one snapshot).

    Given an Engine, verification opens its own read-only snapshot (REPEATABLE READ on PostgreSQL, a
    read transaction on SQLite), so appends committed meanwhile cannot show it a half-state. Given a
    Connection or Session, it reads in the caller's transaction.
    """
    if isinstance(bind, Engine):
        raw = bind.raw_connection()
        try:
            dbapi = raw.driver_connection
            cursor = dbapi.cursor()
            if bind.dialect.name == "postgresql":
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            else:
                cursor.execute("BEGIN")
            cursor.close()
            yield dbapi, bind.dialect.name, True
        finally:
            raw.rollback()
            raw.close()
        return
    connection = bind.connection() if isinstance(bind, Session) else bind
    dbapi = connection.connection.driver_connection
    name = connection.dialect.name
    if name == "postgresql":
        cursor = dbapi.cursor()
        cursor.execute("SHOW transaction_isolation")
        snapshot = cursor.fetchone()[0] in {"repeatable read", "serializable"}
        cursor.close()
    else:
        snapshot = bool(dbapi.in_transaction)
    yield dbapi, name, snapshot


def _rows(dbapi: Any, sql: str) -> list[tuple[Any, ...]]:
    cursor = dbapi.cursor()
    try:
        cursor.execute(sql)
        return cursor.fetchall()
    finally:
        cursor.close()


def _scalar(dbapi: Any, sql: str) -> Any:
    cursor = dbapi.cursor()
    try:
        cursor.execute(sql)
        row = cursor.fetchone()
        return None if row is None else row[0]
    finally:
        cursor.close()


def _check_subject_rows(dbapi: Any, report: VerifyReport, bound: int | None) -> VerifyReport:
    """Subject rows that name no entry. The walk read the row of every entry from 1 to the last (an
    empty one, which append never writes, counts as a change), so only rows outside that range can
    be left: two index lookups find them."""
    tail = report.intact_up_to
    lowest = _scalar(dbapi, _bounded("SELECT min(entry_seq) FROM access_log_subject", "entry_seq", bound))
    if lowest is not None and int(lowest) < 1:
        problem = f"subject rows name entry {lowest}, which is not in the log"
    else:
        beyond = _scalar(
            dbapi,
            _bounded(
                f"SELECT min(entry_seq) FROM access_log_subject WHERE entry_seq > {int(tail)}",  # noqa: S608
                "entry_seq",
                bound,
                "AND",
            ),
        )
        if beyond is None:
            return report
        problem = f"entries after {tail} were removed (subject rows remain for entry {beyond})"
    return VerifyReport(tail, tail + 1, problem, report.entries, report.subjects, report.checkpoints, report.head_seq)
