"""The bare baselines, served beside the portal on the same stack: Flask, SQLAlchemy Core, psycopg 3,
gunicorn sync workers, the same PostgreSQL database.

- ``GET /b/<person id>``: B, read one row by primary key (the ``person`` row, a pooled connection, one
  transaction, no decryption) and answer with a few bytes.
- ``GET /c/<person id>``: C, B plus one hash-chained access-log entry in the same transaction, written
  by the portal's own ``portal.access_log.chain.append`` (chain-head ``UPDATE ... RETURNING``, entry and
  subject inserts, checkpoint every 1,000, head hash update) into the same 1,000,000-entry table and
  signed with the same key, so the chain still verifies afterwards. The entry is built with
  ``chain.NewEntry`` like a flag view's (one subject), so its validation and encoding are counted too.

Because every portal request appends to the log, C is the ceiling a gated page is compared with.

    BENCH_DATABASE_URL=postgresql+psycopg://... BENCH_SIGNING_KEY=/path/audit_signing_key.pem \\
        gunicorn --pythonpath bench -w 2 -k sync bare_app:app
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

from flask import Flask, request
from sqlalchemy import Text, bindparam, create_engine, select, type_coerce
from sqlalchemy.orm import Session

from portal.access_log import chain, signing
from portal.access_log.events import EventType, Outcome
from portal.families.models import Person

ENCRYPTED = {"nhs_number", "upn", "given_name", "family_name", "date_of_birth", "postcode"}

PERSON = Person.__table__
#: the whole row as stored (the encrypted columns read as their tokens: the bare read decrypts nothing)
READ = select(*(type_coerce(c, Text) if c.name in ENCRYPTED else c for c in PERSON.c)).where(
    PERSON.c.id == bindparam("id")
)

app = Flask(__name__)
engine = create_engine(os.environ["BENCH_DATABASE_URL"], pool_size=5, max_overflow=5)
_key, _development = signing.read_private_key_file(os.environ["BENCH_SIGNING_KEY"])
SEALER = signing.Sealer(_key, int(os.environ.get("BENCH_CHECKPOINT_INTERVAL", "1000")))
ACTOR_USER = os.environ.get("BENCH_ACTOR_USER", str(uuid.UUID(int=1)))
ACTOR_ORGANISATION = os.environ.get("BENCH_ACTOR_ORGANISATION", str(uuid.UUID(int=2)))


def _read(connection, person_id: uuid.UUID):  # type: ignore[no-untyped-def]
    return connection.execute(READ, {"id": person_id}).first()


@app.get("/b/<uuid:person_id>")
def read_one(person_id: uuid.UUID) -> tuple[str, int]:
    with engine.begin() as connection:
        row = _read(connection, person_id)
    return ("found" if row else "missing"), (200 if row else 404)


@app.get("/c/<uuid:person_id>")
def read_and_log(person_id: uuid.UUID) -> tuple[str, int]:
    entry = chain.NewEntry(
        event=EventType.FLAG_VIEWED,
        outcome=Outcome.PERMITTED,
        occurred_at=datetime.now(UTC),
        actor_user_id=ACTOR_USER,
        actor_organisation_id=ACTOR_ORGANISATION,
        actor_roles=("practitioner",),
        purpose="support_coordination",
        categories=("health",),
        reasons=("role_permitted", "relationship_live", "protocol_in_force", "notice_covers", "no_objection"),
        protocol_refs=("ISP-SF-GP v2",),
        notice_refs=("FPN-SF v2",),
        request_id=uuid.uuid4().hex,
        ip=request.remote_addr,
        user_agent=request.user_agent.string,
        subjects=(chain.SubjectRef(person_id=person_id, tier=2, categories=("health",)),),
    )
    with Session(engine) as session, session.begin():
        row = _read(session.connection(), person_id)
        seq = chain.append(session, entry, sealer=SEALER)
    return (f"found {seq}" if row else "missing"), (200 if row else 404)
