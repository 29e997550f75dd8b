"""Appends per second: the portable four-statement append (what SQLite runs) against PostgreSQL's one
statement (``chain._PG_APPEND``), with 1 and 8 threads each appending and committing.

    PYTHONPATH=. .venv/bin/python bench/append_ab.py postgresql+psycopg://postgres@127.0.0.1:5432/DBNAME

It appends real entries to that database's log, so use a scratch one (a data set kept with
``bench/build_dataset.py --keep`` is a good one: its log already holds the entries and indexes the portal
appends to). Client CPU per append is this process's CPU time divided by the appends.
"""

from __future__ import annotations

import argparse
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from portal.access_log import chain, signing
from portal.access_log.events import EventType

#: never due within a run, so neither path signs a checkpoint
SEALER = signing.Sealer(Ed25519PrivateKey.generate(), interval=1_000_000_000)


def four_statements(session: Session, entry: chain.NewEntry) -> None:
    """The portable path, as ``chain.append`` runs it on SQLite."""
    session.flush()
    seq, prev = session.execute(chain._ADVANCE).one()
    digest = chain.chain_hash(prev, f"{seq}{chain.US}{entry.body}")
    session.execute(chain._INSERT_ENTRY, {**entry.row, "seq": seq, "prev_hash": prev, "hash": digest})
    if entry.records:
        session.execute(chain._INSERT_SUBJECT, {"entry_seq": seq, "records": entry.records})
    session.execute(chain._SET_HEAD_HASH, {"hash": digest})


def one_statement(session: Session, entry: chain.NewEntry) -> None:
    chain.append(session, entry, sealer=SEALER)


def an_entry() -> chain.NewEntry:
    """A flag view with one subject: what most portal requests append."""
    return chain.NewEntry(
        event=EventType.FLAG_VIEWED,
        outcome="permitted",
        occurred_at=datetime.now(UTC),
        actor_user_id=str(uuid.uuid4()),
        actor_organisation_id=str(uuid.uuid4()),
        actor_roles=["practitioner"],
        purpose="support_coordination",
        categories=["health"],
        reasons=["role_permitted"],
        request_id=uuid.uuid4().hex,
        ip="127.0.0.1",
        user_agent="bench",
        detail={},
        subjects=[
            chain.SubjectRef(person_id=str(uuid.uuid4()), family_id=str(uuid.uuid4()), tier=2, categories=["health"])
        ],
    )


def run(
    engine: Engine, append: Callable[[Session, chain.NewEntry], None], threads: int, seconds: float
) -> tuple[float, float]:
    """(appends per second, client CPU ms per append) for ``threads`` writers over ``seconds``."""
    counts: list[int] = []
    stop = time.monotonic() + seconds
    cpu = time.process_time()

    def work() -> None:
        done = 0
        while time.monotonic() < stop:
            entry = an_entry()
            with Session(engine) as session:
                append(session, entry)
                session.commit()
            done += 1
        counts.append(done)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    total = sum(counts)
    return total / seconds, (time.process_time() - cpu) / max(total, 1) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("database_url")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    engine = create_engine(args.database_url, pool_size=10)
    for _ in range(args.rounds):
        for name, append in (("four statements", four_statements), ("one statement", one_statement)):
            for threads in (1, 8):
                rate, cpu = run(engine, append, threads, args.seconds)
                print(f"{name:16} threads={threads}: {rate:6.0f} appends/s, client CPU {cpu:.2f} ms/append", flush=True)


if __name__ == "__main__":
    main()
