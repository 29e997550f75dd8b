"""The reference walk along the access log: every entry recomputed as the format defines it.

Read this one to know what verification checks; ``verify_postgresql`` checks the same, tuned for
PostgreSQL, and ``tests/integration/test_access_log_verifiers.py`` holds the two to the same reports on
the same chains, tampered ones included. It runs on any database through a plain DB-API cursor: SQLite
verifies with it, and PostgreSQL could (its cursor holds the whole result in memory, so it is not what
PostgreSQL runs).

Each entry is joined with its subject row and encoded in Python (a NULL as ""), and checked in
sequence order (see ``verify_report`` for why the structure checks are needed as well as the hash).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from portal.access_log.format import ENTRY_FIELDS, RS, US, chain_hash, field_text
from portal.access_log.verify_report import VerifyReport, Walk

FETCH = 20_000

# built from the format's constant names and, for the bound, an int
_ROWS = (
    f"SELECT {', '.join(('e.prev_hash', 'e.hash', *(f'e.{name}' for name in ENTRY_FIELDS)))}, s.records"  # noqa: S608
    " FROM access_log_entry e LEFT JOIN access_log_subject s ON s.entry_seq = e.seq"
)


def statement(bound: int | None) -> str:
    """Every entry (up to ``bound``) with its stored subject records, in sequence order."""
    where = "" if bound is None else f" WHERE e.seq <= {int(bound)}"
    return f"{_ROWS}{where} ORDER BY e.seq"


def _rows(cursor: Any) -> Iterator[tuple[Any, ...]]:
    return itertools.chain.from_iterable(iter(lambda: cursor.fetchmany(FETCH), []))


def walk(dbapi: Any, bound: int | None, walk: Walk) -> VerifyReport:
    """Check every entry up to ``bound`` in sequence order; the report names the first bad one."""
    cursor = dbapi.cursor()
    try:
        cursor.execute(statement(bound))
        for prev_hash, entry_hash, *values, stored_records in _rows(cursor):
            seq, subject_count = values[0], values[-1]
            prev_text = field_text(prev_hash)
            linked_to = prev_text.encode()
            stored_hash = field_text(entry_hash).encode()
            fields = US.join(field_text(value) for value in values)  # F(seq) US ... US F(subject_count)
            records = field_text(stored_records)  # "" when the entry has no subject row
            good = (
                seq == walk.expected  # numbered 1, 2, 3... without gaps
                and linked_to == walk.prev  # chained to the entry before
                and seq != walk.blank_seq  # no id column holds "", which would hash like NULL
                and RS not in fields  # the fields end where the records begin...
                and records[:1] in ("", RS)  # ...and the records start with a separator
                and stored_records != ""  # append never writes an empty subject row
                and chain_hash(prev_text, fields + records).encode() == stored_hash
            )
            if not good:
                return walk.bad_entry(seq, linked_to)
            # its digits are in the hash; a NULL (only a rewrite that rehashes can keep one) counts none
            walk.subjects += int(subject_count or 0)
            if seq in walk.sealed:
                failed = walk.checkpoint(seq, stored_hash)
                if failed is not None:
                    return failed
            walk.prev = stored_hash
            walk.expected += 1
    finally:
        cursor.close()
    return walk.end()
