"""The whole demo seed, nominations included, as `make run` writes it (`flask seed-demo`).

Most tests seed without the demo nominations and build the ones they need; this is the seed a council
sees on first run: both demos' nominations (the partners' and the triaged ones) go in together, a second
run writes nothing, and every write is in an intact access log.
"""

from __future__ import annotations

from sqlalchemy import func, select, text

from portal import db
from portal.access_log import chain, signing
from portal.auth.dev_idp import issuer
from portal.demo.seed import seed_demo
from referrals.journey.demo import REFERENCES as JOURNEY_REFERENCES
from referrals.models import Nomination, NominationStatus
from referrals.triage.demo import REFERENCES as TRIAGE_REFERENCES


def test_the_demo_has_nominations_in_every_state_and_a_second_seed_writes_nothing(app):
    with app.app_context():
        session = db.session()
        first = seed_demo(session, issuer(app))
        session.commit()
        rows = session.execute(select(Nomination.reference, Nomination.status)).all()
        entries = session.execute(text("SELECT count(*) FROM access_log_entry")).scalar_one()
        again = seed_demo(session, issuer(app))
        session.commit()
        assert session.execute(text("SELECT count(*) FROM access_log_entry")).scalar_one() == entries
        assert session.scalar(select(func.count()).select_from(Nomination)) == len(rows)
    assert first["nominations"] > 0 and first["triaged_nominations"] == len(TRIAGE_REFERENCES)
    assert again["nominations"] == again["triaged_nominations"] == 0
    assert set(JOURNEY_REFERENCES) | set(TRIAGE_REFERENCES) <= {reference for reference, _ in rows}
    assert {status for _, status in rows} == set(NominationStatus)  # a draft (no reference yet), every state
    report = chain.verify(app.extensions["db_engine"], signing.trusted_keys(app))
    assert report.intact, report.problem
