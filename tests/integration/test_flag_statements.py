"""The partners' tuned flag statements (``portal.families.flags_sql``) return exactly what the plain
reference queries beside them say, on the demo data (families, and the triaged nominations' flags), on
SQLite and PostgreSQL: for every organisation and lead professional, searches narrowed to some people,
every person's flag page, and the loaded flags with each choice of identifiers and of granted categories.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from portal import db
from portal.auth.dev_idp import issuer
from portal.crypto import keyring
from portal.db import fetch
from portal.demo.seed import seed_demo
from portal.families import flags_sql
from portal.families.models import Flag, Person
from portal.organisations.models import User


@pytest.fixture
def demo(app):
    with app.app_context():
        seed_demo(db.session(), issuer(app))  # the triaged nominations too: flags raised through triage
        db.session().commit()
        yield db.session()


def ordered(rows):
    return sorted(rows, key=lambda r: (r.raised_at, r.person_id, r.flag_id))


def newest_first(rows) -> bool:
    keys = [(-r.raised_at.timestamp(), str(r.person_id)) for r in rows]
    return keys == sorted(keys)


def test_the_candidate_statements_agree_with_the_reference(demo):
    session, on = demo, date.today()
    users = session.scalars(select(User)).all()
    assert len(users) > 5
    people = sorted(session.scalars(select(Person.id)))
    some = people[::3]
    compared = 0
    for user in users:
        params = {"on": on, "organisation": user.organisation_id, "user": user.id}
        tuned = flags_sql.candidate_rows(fetch(session, flags_sql.candidates_served(session), params))
        reference = flags_sql.reference_candidates(
            session, on=on, organisation_id=user.organisation_id, user_id=user.id
        )
        assert ordered(tuned) == ordered(reference) and newest_first(tuned), user.subject
        among = flags_sql.candidate_rows(
            fetch(session, flags_sql.candidates_served_among(session), {**params, "people": some})
        )
        assert ordered(among) == ordered(
            flags_sql.reference_candidates(
                session, on=on, organisation_id=user.organisation_id, user_id=user.id, among=some
            )
        )
        compared += len(tuned)
    assert compared > 50  # the demo's partners and leads do see flags
    for person_id in people:
        tuned = flags_sql.candidate_rows(
            fetch(session, flags_sql.candidates_of_person(session), {"on": on, "person": person_id})
        )
        assert ordered(tuned) == ordered(flags_sql.reference_candidates(session, on=on, person_id=person_id))
        assert newest_first(tuned)


@pytest.mark.parametrize("identifiers", sorted(flags_sql.IDENTIFIERS))
def test_the_loaded_flags_agree_with_the_reference(demo, identifiers):
    session, ring = demo, keyring()
    flag_ids = sorted(session.scalars(select(Flag.id)))
    assert len(flag_ids) > 60
    for categories in (["education", "health", "crime_asb", "employment_finance"], ["health"], []):
        reference = flags_sql.reference_flags(session, flag_ids, categories, identifiers)
        statement = flags_sql.FLAG_STATEMENTS[identifiers, False](session)
        rows = fetch(session, statement, {"flags": flag_ids, "categories": categories})
        tuned = {r.flag_id: flags_sql.loaded_flag(ring, r, identifiers) for r in rows}
        assert tuned == reference
        assert any(flag.concerns for flag in tuned.values()) is bool(categories)
        one = flags_sql.FLAG_STATEMENTS[identifiers, True](session)
        [row] = fetch(session, one, {"flags": flag_ids[0], "categories": categories})
        assert flags_sql.loaded_flag(ring, row, identifiers) == reference[flag_ids[0]]
