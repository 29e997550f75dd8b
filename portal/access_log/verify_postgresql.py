"""The tuned walk along the access log on PostgreSQL: one binary COPY, parsed by hand.

Its target is 400,000 entries a second, near the cost of merely streaming the rows, so there are no
ORM objects and no per-row formatting in Python: one binary ``COPY ... TO STDOUT`` streams, per entry,
seq, subject_count, the size of its stored subject records, its hash, and the bytes to hash: prev_hash,
the entry's fields joined by US (concat_ws), then the records. The entry table is merge-joined 1:1 with
its subject row on the two primary keys, no aggregation. The server formats while Python hashes, on
another core.

It checks what the reference walk (``verify_reference``) checks, and must report what the reference
reports on the same chain, tampered or not (``tests/integration/test_access_log_verifiers.py``). The
quick checks decide whether an entry is good; an entry that fails them is explained by ``Walk`` from
its stored prev_hash, read once the COPY has ended, because the bytes of a damaged row cannot say
where its prev_hash ends.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

import psycopg
from psycopg import pq

from portal.access_log.format import ENTRY_FIELDS, RS
from portal.access_log.verify_report import VerifyReport, Walk

_RS = RS.encode()

# The statements below are built from the format's constant names and, for bounds, an int.
#: prev_hash followed by the entry's payload fields: the bytes hashed, up to the subject records
#: (concat_ws skips NULLs, so every value is coalesced: a NOT NULL constraint dropped by an attacker
#: must not remove a separator)
_PG_BODY = (
    "coalesce(e.prev_hash, '') || concat_ws(E'\\x1f', "
    + ", ".join(
        f"coalesce(e.{name}::text, '')" if name in ("seq", "at_us", "subject_count") else f"coalesce(e.{name}, '')"
        for name in ENTRY_FIELDS
    )
    + ")"
)
#: the entry's stored subject records ("" when it has no subject row)
_PG_RECORD = "coalesce(s.records, '')"
# Binary, so the server sends the text as it is (text format escapes it byte by byte, and the client
# would have to undo that): a third of the server's work. No field is NULL, so the head of each row has
# a fixed size: the records' size is -1 when the entry has no subject row, a NULL forced into
# subject_count (by altering the table) counts no subjects, as in the reference, and the hash is sent
# as "" when it is NULL or when prev_hash is not 64 bytes long. The hashed bytes start with prev_hash,
# and the walk compares their first 64 bytes with the previous entry's hash: a hash of 64 bytes tells it
# that those 64 bytes are the whole prev_hash, so a shorter one can never borrow digits of seq.
_PG_STREAM = (
    "COPY (SELECT e.seq, coalesce(e.subject_count, 0), coalesce(octet_length(s.records), -1),"
    " CASE WHEN octet_length(e.prev_hash) = 64 THEN coalesce(e.hash, '') ELSE '' END, {body} || {record}"
    " FROM access_log_entry e LEFT JOIN access_log_subject s ON s.entry_seq = e.seq{subject_bound}"
    "{entry_bound} ORDER BY e.seq) TO STDOUT (FORMAT binary)"
)
#: a row's head: field count, then length and value of seq, subject_count, records' size and hash, then
#: the length of the hashed bytes and their start, the prev_hash
_PG_ROW = struct.Struct(">2x4xq4xi4xii64s4x64s")
_PG_SEQ = struct.Struct(">2x4xq")
#: signature, flags (no OIDs), header extension length
_PG_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)


def statement(bound: int | None) -> str:
    """The COPY statement, limited to entries and subject rows up to ``bound`` when there is one."""
    return _PG_STREAM.format(
        body=_PG_BODY,
        record=_PG_RECORD,
        subject_bound="" if bound is None else f" AND s.entry_seq <= {int(bound)}",
        entry_bound="" if bound is None else f" WHERE e.seq <= {int(bound)}",
    )


def walk(dbapi: Any, bound: int | None, walk: Walk) -> VerifyReport:
    """Stream the log with one binary COPY and check each entry as its row arrives.

    Each row is, in COPY's binary format (a field count, then per field a length and the raw bytes, no
    escapes): seq (int8), subject_count (int4), the length of the stored subject records (int4), hash
    (64 bytes), and the bytes hashed: prev_hash, the entry's fields joined by US, then the records. So
    from a fixed offset the rest of the row is exactly what is hashed, starting with the prev_hash
    (``_PG_ROW`` reads the head up to there), and the records are its last bytes.
    """
    pgconn = _start(dbapi, statement(bound))
    bad_seq, failed = _check_rows(pgconn, walk)
    if bad_seq is not None:
        return walk.bad_entry(bad_seq, _stored_prev_hash(dbapi, bad_seq))
    return walk.end() if failed is None else failed


def _start(dbapi: Any, sql: str) -> Any:
    """Send the COPY on the connection's libpq handle, in the caller's transaction."""
    cursor = dbapi.cursor()
    try:
        # JIT compilation costs more than it saves on one streaming pass, and a parallel plan gains
        # nothing on a merge join that must come out in seq order. Both settings last only to the end
        # of this transaction.
        cursor.execute(
            "SELECT set_config('jit', 'off', true), set_config('max_parallel_workers_per_gather', '0', true)"
        )
    finally:
        cursor.close()
    # The rows are read straight from libpq (psycopg's documented ``Connection.pgconn``): psycopg's own
    # COPY iterator costs about a fifth of the whole walk in per-row bookkeeping.
    pgconn = dbapi.pgconn
    pgconn.send_query(sql.encode())
    _expect(pgconn, pq.ExecStatus.COPY_OUT)
    return pgconn


def _check_rows(pgconn: Any, walk: Walk) -> tuple[int | None, VerifyReport | None]:
    """The quick checks on every row: (the seq of the first entry failing them, or a checkpoint's
    report; None for both when every entry passed, with ``walk`` advanced past the last).

    Structure (see ``verify_report``): no RS before the records, and the records empty or starting with
    one. The loop is the hot path, kept flat on purpose: one unpack, one memchr and one SHA-256 per
    entry, and no copy but the row itself.
    """
    sha256, unpack, start = hashlib.sha256, _PG_ROW.unpack_from, _PG_ROW.size - 64
    rs, rs_byte = _RS, _RS[0]
    sealed, blank_seq = walk.sealed, walk.blank_seq
    expected, prev, subjects = walk.expected, walk.prev, walk.subjects
    get = pgconn.get_copy_data
    bad_seq: int | None = None
    failed: VerifyReport | None = None
    size, data = get(0)
    try:
        # the first message starts with the binary format's header; the last is its two-byte trailer
        if size < 0 or bytes(data[: len(_PG_COPY_HEADER)]) != _PG_COPY_HEADER:
            raise psycopg.OperationalError("access log verification query returned no binary COPY header")
        data = data[len(_PG_COPY_HEADER) :]
        line = bytes(data)
        while len(line) > 2:
            try:
                seq, rows, records, hash_size, entry_hash, prev_hash = unpack(line)
            except struct.error:  # too short to hold a prev_hash: only tampering makes such a row
                seq, rows, records, hash_size, entry_hash, prev_hash = _PG_SEQ.unpack_from(line)[0], 0, -1, 0, b"", b""
            fields_end = len(line) - records  # past the end when there is no subject row (-1)
            if (
                seq != expected
                or hash_size != 64
                or prev_hash != prev
                or seq == blank_seq
                or line.find(rs, start, fields_end) >= 0
                or records == 0
                or (records > 0 and line[fields_end] != rs_byte)
                or sha256(data[start:]).hexdigest().encode() != entry_hash
            ):
                bad_seq = seq
                break
            subjects += rows
            if seq in sealed:
                walk.expected, walk.prev, walk.subjects = expected, prev, subjects
                failed = walk.checkpoint(seq, entry_hash)
                if failed is not None:
                    break
            prev = entry_hash
            expected += 1
            size, data = get(0)
            line = bytes(data)
    finally:
        _finish(pgconn, size)
    walk.expected, walk.prev, walk.subjects = expected, prev, subjects
    return bad_seq, failed


def _finish(pgconn: Any, size: int) -> None:
    """Read any rest rather than cancel: a cancelled COPY would abort the caller's transaction."""
    while size >= 0:
        size, _data = pgconn.get_copy_data(0)
    if size == -2:
        raise psycopg.OperationalError(pgconn.get_error_message())
    _expect(pgconn, pq.ExecStatus.COMMAND_OK)


def _expect(pgconn: Any, status: pq.ExecStatus) -> None:
    """Read the next result, which must have ``status``, and then (but for a COPY) the end of results."""
    result = pgconn.get_result()
    problem = None
    if result is None or result.status != status:
        problem = pgconn.get_error_message() if result is None else result.get_error_message()
    if status != pq.ExecStatus.COPY_OUT or problem is not None:
        while pgconn.get_result() is not None:
            pass
    if problem is not None:
        raise psycopg.OperationalError(f"access log verification query failed: {problem}")


def _stored_prev_hash(dbapi: Any, seq: int) -> bytes:
    """Entry ``seq``'s prev_hash as stored ("" for NULL), which names what is wrong with it."""
    cursor = dbapi.cursor()
    try:
        cursor.execute("SELECT coalesce(prev_hash, '') FROM access_log_entry WHERE seq = %s", (seq,))
        row = cursor.fetchone()
    finally:
        cursor.close()
    return b"" if row is None else str(row[0]).encode()
