"""The access log's tables.

The log records who touched whose data; it must outlive the users, organisations and people it names,
so ids are plain strings with no foreign keys. Times are integer microseconds since the Unix epoch in
UTC: integers hash identically on SQLite and PostgreSQL and cost nothing to format.

``info={"immutable": True}`` marks tables whose rows are never rewritten (a database trigger refuses
UPDATE, DELETE and TRUNCATE); jobs that rewrite rows, such as key rotation, skip them.

Indexes serve the DPO's searches, newest first: every filter column leads a composite index that
ends in (at_us, seq), so "this user's entries, newest first, page 1" is an index range read at any
size of log.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, SmallInteger, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base

IMMUTABLE = {"immutable": True}


class AccessLogEntry(Base):
    """One access (or refusal) to personal data, chained to the one before by its hash."""

    __tablename__ = "access_log_entry"
    __table_args__ = (
        Index("ix_access_log_entry_at_us_seq", "at_us", "seq"),
        Index("ix_access_log_entry_actor_user_id_at_us_seq", "actor_user_id", "at_us", "seq"),
        Index("ix_access_log_entry_actor_organisation_id_at_us_seq", "actor_organisation_id", "at_us", "seq"),
        Index("ix_access_log_entry_outcome_at_us_seq", "outcome", "at_us", "seq"),
        Index("ix_access_log_entry_event_at_us_seq", "event", "at_us", "seq"),
        {"info": IMMUTABLE},
    )

    #: position in the chain: 1, 2, 3... with no gaps, assigned under the chain head's lock
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    #: when the access happened: UTC microseconds since 1970-01-01
    at_us: Mapped[int] = mapped_column(BigInteger)
    event: Mapped[str] = mapped_column(String(64))
    #: permitted, denied or break_glass
    outcome: Mapped[str] = mapped_column(String(16))
    #: the acting user's id (no foreign key: the log outlives users); None when unknown (failed sign-in)
    actor_user_id: Mapped[str | None] = mapped_column(String(36))
    actor_organisation_id: Mapped[str | None] = mapped_column(String(36))
    #: comma-joined role codes, sorted
    actor_roles: Mapped[str] = mapped_column(Text)
    purpose: Mapped[str] = mapped_column(String(64))
    #: comma-joined data categories touched, sorted
    categories: Mapped[str] = mapped_column(Text)
    #: comma-joined reason codes of the decision, in the decision's order ("!code" for a failed one)
    reasons: Mapped[str] = mapped_column(Text)
    #: comma-joined sharing protocol references relied on
    protocol_refs: Mapped[str] = mapped_column(Text)
    #: comma-joined fair processing notice references relied on
    notice_refs: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str] = mapped_column(String(64))
    #: the client's IP address (personal data about the member of staff, kept for the audit trail)
    ip: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(300))
    #: canonical JSON object of event-specific string values (sorted keys, ASCII, no spaces)
    detail: Mapped[str] = mapped_column(Text)
    #: how many subjects the entry touched: the number of records in its access_log_subject row
    subject_count: Mapped[int] = mapped_column(Integer)
    #: the previous entry's hash (64 zeros for entry 1)
    prev_hash: Mapped[str] = mapped_column(String(64))
    #: SHA-256 (hex) of prev_hash followed by this entry's canonical encoding
    hash: Mapped[str] = mapped_column(String(64))


class AccessLogSubject(Base):
    """The people and families an entry touched, all in one row: exactly the bytes the entry's hash
    covers after its own fields (see ``portal.access_log.format``), so verification streams one row per entry.

    An entry without subjects has no row here. On PostgreSQL the DPO's searches by person and by family
    use GIN indexes on the ids in ``records``, extracted by SQL functions that migration 0004 creates;
    SQLite (development) has neither and scans.
    """

    __tablename__ = "access_log_subject"
    __table_args__ = (
        Index(
            "ix_access_log_subject_person_ids", func.access_log_person_ids(text("records")), postgresql_using="gin"
        ).ddl_if(dialect="postgresql"),
        Index(
            "ix_access_log_subject_family_ids", func.access_log_family_ids(text("records")), postgresql_using="gin"
        ).ddl_if(dialect="postgresql"),
        {"info": IMMUTABLE},
    )

    #: the entry's seq (no foreign key, so tampering shows up in verification rather than as an error)
    entry_seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    #: per subject, in the order the caller gave them: RS, then ordinal, person_id, family_id, tier and
    #: comma-joined categories joined by US (a NULL id as ""); ``format.parse_records`` splits it
    records: Mapped[str] = mapped_column(Text)


class AccessLogCheckpoint(Base):
    """An Ed25519 signature over (seq, hash): the chain up to ``seq`` can no longer be rewritten
    without the signing key, which lives outside the database."""

    __tablename__ = "access_log_checkpoint"
    __table_args__ = ({"info": IMMUTABLE},)

    #: the entry this checkpoint seals
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    #: that entry's hash, as signed
    hash: Mapped[str] = mapped_column(String(64))
    signed_at_us: Mapped[int] = mapped_column(BigInteger)
    #: which key signed it: the first 16 hex digits of SHA-256 of the raw public key (a hint only:
    #: verification uses only keys from configuration)
    key_id: Mapped[str] = mapped_column(String(32))
    #: base64 Ed25519 signature over portal.access_log.signing.checkpoint_message(seq, hash)
    signature: Mapped[str] = mapped_column(String(128))


class AccessLogChainHead(Base):
    """The one row whose ``UPDATE ... SET seq = seq + 1 ... RETURNING seq, hash`` serialises appends.

    Updating one row takes a row lock on PostgreSQL and the write lock on SQLite, so concurrent
    appenders (threads, gunicorn workers, machines) queue here and each gets the next number; the
    waiter re-reads the row after the holder commits, so the chain cannot fork. Appending chains from
    the head's hash, not from the newest entry row, so the log keeps recording even after someone has
    removed entries (verification reports the damage). Verification also compares the head with the
    newest entry, which exposes entries removed from the end.
    """

    __tablename__ = "access_log_chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    #: the last sequence number handed out (committed or in a transaction still open)
    seq: Mapped[int] = mapped_column(BigInteger)
    #: that entry's hash, which the next entry chains from (64 zeros before the first)
    hash: Mapped[str] = mapped_column(String(64))
