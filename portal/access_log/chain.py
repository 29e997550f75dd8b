"""The hash-chained access log: append an entry, verify the whole chain.

One name for callers, who write ``chain.append``, ``chain.verify`` and ``chain.NewEntry``; the parts
live where each can be read on its own:

- ``format``: the entry's canonical bytes and hash (format v1, the text an auditor needs), and the
  typed input ``NewEntry`` / ``SubjectRef`` that builds them;
- ``appending``: ``append``, serialised by the one-row chain head, in one statement on PostgreSQL;
- ``verification``: ``verify``, which reads the head and the checkpoints and walks the entries with
  ``verify_reference`` (readable, any database: SQLite runs it) or ``verify_postgresql`` (tuned: one
  binary COPY parsed by hand), both reporting through ``verify_report``.
"""

from portal.access_log.appending import _ADVANCE as _ADVANCE
from portal.access_log.appending import _INSERT_ENTRY as _INSERT_ENTRY
from portal.access_log.appending import _INSERT_SUBJECT as _INSERT_SUBJECT
from portal.access_log.appending import _PG_APPEND as _PG_APPEND
from portal.access_log.appending import _SET_HEAD_HASH as _SET_HEAD_HASH
from portal.access_log.appending import ChainError, append
from portal.access_log.format import (
    ENTRY_FIELDS,
    EPOCH,
    GENESIS,
    LIMITS,
    MAX_DETAIL,
    RS,
    SUBJECT_FIELDS,
    US,
    NewEntry,
    SubjectRef,
    canonical_detail,
    canonical_payload,
    chain_hash,
    clean_text,
    encode_records,
    from_us,
    parse_records,
    to_us,
)
from portal.access_log.verification import verify, walker_for
from portal.access_log.verify_postgresql import _PG_BODY as _PG_BODY
from portal.access_log.verify_postgresql import _PG_RECORD as _PG_RECORD
from portal.access_log.verify_postgresql import _PG_STREAM as _PG_STREAM
from portal.access_log.verify_report import VerifyReport

# The private statements imported above are what bench/ measures (verify_speed.py, append_ab.py,
# inprocess.py): they stay reachable here so the benchmarks time the statements the portal runs.

__all__ = [
    "ENTRY_FIELDS",
    "EPOCH",
    "GENESIS",
    "LIMITS",
    "MAX_DETAIL",
    "RS",
    "SUBJECT_FIELDS",
    "US",
    "ChainError",
    "NewEntry",
    "SubjectRef",
    "VerifyReport",
    "append",
    "canonical_detail",
    "canonical_payload",
    "chain_hash",
    "clean_text",
    "encode_records",
    "from_us",
    "parse_records",
    "to_us",
    "verify",
    "walker_for",
]
