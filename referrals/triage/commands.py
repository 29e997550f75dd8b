"""Command-line tasks for triage: ``flask --app wsgi backfill-matching-keys``."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from portal import db
from portal.access_log import EventType, SubjectRef
from portal.families.records import backfill_blocking_keys
from portal.gate import record_system


@click.command("backfill-matching-keys")
@with_appcontext
def backfill_matching_keys() -> None:
    """Fill the matching keys of people written before migration 0007 (safe to re-run).

    Matching nominated people looks candidates up by keyed hashes of date of birth, postcode and family
    name with year of birth; a migration cannot compute them (it has no key ring), so this does, and
    logs the people it read as system entries in the same transaction.
    """
    session = db.session()
    filled = backfill_blocking_keys(session)
    if filled:
        record_system(
            session,
            EventType.MATCHING_KEYS_BACKFILLED,
            [SubjectRef(person_id=person_id) for person_id in filled],
            {"source": "backfill-matching-keys", "rows": str(len(filled))},
        )
    session.commit()
    click.echo(f"Matching keys filled for {len(filled)} {'person' if len(filled) == 1 else 'people'}.")
