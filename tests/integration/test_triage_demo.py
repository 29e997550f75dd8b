"""The demo nominations (``referrals.triage.demo``): one in every state, made through the triage
services, idempotent, and the accepted family's flags seen by the partners who serve it."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from portal import db
from portal.access_log import chain, signing
from portal.families import service as flags_service
from portal.families.models import Flag
from referrals.models import Nomination, NominationStatus
from referrals.triage.demo import REFERENCES, seed_demo_nominations
from tests.builders import context
from tests.conftest import FRAMEWORKS

pytestmark = pytest.mark.parametrize("framework_name", FRAMEWORKS)


def test_the_demo_has_a_nomination_in_every_state_and_running_it_twice_adds_nothing(app):
    with app.app_context():
        session = db.session()
        seed_demo_nominations(session, date.today())  # the demo seed may have run it already
        session.commit()
        rows = {n.reference: n for n in session.scalars(select(Nomination).where(Nomination.reference.in_(REFERENCES)))}
        assert {r: n.status for r, n in rows.items()} == {
            "SFN-DEMO01": NominationStatus.SUBMITTED,
            "SFN-DEMO02": NominationStatus.MORE_INFORMATION_REQUESTED,
            "SFN-DEMO03": NominationStatus.ACCEPTED,
            "SFN-DEMO04": NominationStatus.NOT_ACCEPTED,
            "SFN-DEMO05": NominationStatus.LINKED,
        }
        assert rows["SFN-DEMO04"].decision_reason and rows["SFN-DEMO05"].family_id is not None
        accepted = rows["SFN-DEMO03"]
        flags = session.scalar(select(func.count()).select_from(Flag).where(Flag.family_id == accepted.family_id))
        assert flags == 2

        again = seed_demo_nominations(session, date.today())
        session.commit()
        assert again.nominations == 0
        assert (
            session.scalar(select(func.count()).select_from(Nomination).where(Nomination.reference.in_(REFERENCES)))
            == 5
        )

        gp = {
            p.name
            for p in flags_service.list_flagged(session, context(session, "gp.practitioner"), query="Carter").people
        }
        school = {
            p.name
            for p in flags_service.list_flagged(session, context(session, "school.practitioner"), query="Carter").people
        }
        rsl = {
            p.name
            for p in flags_service.list_flagged(session, context(session, "rsl.practitioner"), query="Carter").people
        }
        session.commit()
        assert gp == {"Nicola Carter", "Jayden Carter"} and school == {"Jayden Carter"} and rsl == {"Nicola Carter"}
        report = chain.verify(app.extensions["db_engine"], signing.trusted_keys(app))
        assert report.intact, report.problem
