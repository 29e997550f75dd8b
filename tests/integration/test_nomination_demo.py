"""The demo nominations, on SQLite and PostgreSQL under both framework files: every state, by the demo
school and GP users, logged as one system entry, and a second run writes nothing."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from sqlalchemy import func, select, text

from portal import db
from referrals.journey import service
from referrals.journey.demo import seed_demo_nominations
from referrals.models import Nomination
from tests.builders import call, context_of, framework_of
from tests.conftest import FRAMEWORKS

pytestmark = pytest.mark.parametrize("framework_name", FRAMEWORKS)


def seed(app) -> int:
    with app.app_context():
        written = seed_demo_nominations(db.session(), framework_of(app), date.today())
        db.session().commit()
        return written.nominations


def test_the_demo_has_a_nomination_in_every_state_and_a_second_run_writes_nothing(app):
    assert seed(app) == 7
    with app.app_context():
        statuses = Counter(n.status.value for n in db.session().scalars(select(Nomination)))
    assert statuses == Counter(
        {"draft": 2, "submitted": 1, "more_information_requested": 1, "not_accepted": 1, "linked": 1, "accepted": 1}
    )
    with app.app_context():
        entries = (
            db.session()
            .execute(text("SELECT event, detail FROM access_log_entry WHERE event = 'demo_data_seeded' ORDER BY seq"))
            .all()
        )
    assert '"what":"nominations"' in entries[-1].detail
    assert seed(app) == 0
    with app.app_context():
        assert db.session().scalar(select(func.count()).select_from(Nomination)) == 7


def test_the_demo_users_see_their_nominations_and_the_updates(app):
    seed(app)
    school, gp = context_of(app, "school.practitioner"), context_of(app, "gp.practitioner")
    listed = {i.status for i in call(app, service.list_nominations, school, framework_of(app))}
    assert listed == {"draft", "submitted", "more_information_requested", "accepted"}
    assert {u.status_label for u in call(app, service.unseen_updates, school.user_id)} == {
        "More information requested",
        "Accepted",
    }
    assert [u.status_label for u in call(app, service.unseen_updates, gp.user_id)] == ["Not accepted"]
    declined = next(i for i in call(app, service.list_nominations, gp, framework_of(app)) if i.status == "not_accepted")
    assert declined.decision_reason.startswith("The family already has a social worker")
