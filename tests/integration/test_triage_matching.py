"""Matching's query layer on SQLite and PostgreSQL: candidates are found through each blocking key (and
only through keys: nothing is decrypted to look), in two queries, and people written before the keys
existed are found once ``flask backfill-matching-keys`` has filled theirs.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import event, select, text, update

from portal import db
from portal.families.models import Person
from referrals.matching import PersonDetails, find_candidates
from tests.builders import create_known_person


@pytest.fixture
def known(app):
    """Jayden Quincey, known to the programme, in no family."""
    with app.app_context():
        person = create_known_person(
            db.session(), given_name="Jayden", family_name="Quincey", date_of_birth=date(2016, 2, 3), postcode="EX9 9ZZ"
        )
        db.session().commit()
        return person.id


def candidates(app, *details: PersonDetails) -> dict[int, list]:
    with app.app_context():
        return find_candidates(db.session(), dict(enumerate(details)))


@pytest.mark.parametrize(
    ("nominated", "key"),
    [
        (PersonDetails("Jaden", "Quincy", date(2016, 2, 3), "M1 1AE"), "date of birth"),
        (PersonDetails("Jayden", "Quincey", date(2015, 2, 3), "ex9 9zz"), "postcode"),
        (PersonDetails("Jayden", "Quincey", date(2016, 3, 2), "M1 1AE"), "family name and year of birth"),
        (PersonDetails("Jayden", "Quincey-Smith", date(2016, 3, 2), "M1 1AE"), "part of a double-barrelled name"),
    ],
)
def test_a_known_person_is_found_through_each_blocking_key_alone(app, known, nominated, key):
    found = candidates(app, nominated)[0]
    assert [c.key for c in found] == [known], key


def test_someone_sharing_no_key_is_not_a_candidate(app, known):
    assert candidates(app, PersonDetails("Jayden", "Quincey", date(2014, 7, 7), "M1 1AE"))[0] == []


def test_the_demo_people_have_their_keys(app):
    with app.app_context():
        missing = db.session().scalar(
            select(Person.id).where(
                Person.dob_block_index.is_(None)
                | Person.postcode_block_index.is_(None)
                | Person.name_year_block_index.is_(None)
            )
        )
    assert missing is None


def test_finding_candidates_takes_two_queries_whatever_the_number_of_people(app, known):
    people = [PersonDetails("Jayden", "Quincey", date(2016, 2, 3), "EX9 9ZZ")] + [
        PersonDetails(f"Child{i}", "Brown", date(2010 + i, 1, 1), f"EX{i} 1AB") for i in range(6)
    ]
    with app.app_context():
        session = db.session()
        engine = app.extensions["db_engine"]
        seen = []

        def count(*_args):
            seen.append(1)

        for many in (people[:1], people):
            seen.clear()
            event.listen(engine, "before_cursor_execute", count)
            try:
                found = find_candidates(session, dict(enumerate(many)))
            finally:
                event.remove(engine, "before_cursor_execute", count)
            assert len(seen) == 2
        assert [c.key for c in found[0]] == [known]


def test_people_written_before_the_keys_are_found_after_the_backfill_which_is_logged(app, known):
    with app.app_context():
        session = db.session()
        session.execute(
            update(Person)
            .where(Person.id == known)
            .values(dob_block_index=None, postcode_block_index=None, name_year_block_index=None)
        )
        session.commit()
    nominated = PersonDetails("Jaden", "Quincy", date(2016, 2, 3), "EX9 9ZZ")
    assert candidates(app, nominated)[0] == []
    runner = app.test_cli_runner()
    result = runner.invoke(args=["backfill-matching-keys"])
    assert result.exit_code == 0, result.output
    assert "filled for 1 person" in result.output
    assert [c.key for c in candidates(app, nominated)[0]] == [known]
    with app.app_context():
        entry = (
            db.session()
            .execute(
                text("SELECT event, actor_roles, subject_count, detail FROM access_log_entry ORDER BY seq DESC LIMIT 1")
            )
            .one()
        )
    assert (entry.event, entry.actor_roles, entry.subject_count) == ("matching_keys_backfilled", "system", 1)
    again = runner.invoke(args=["backfill-matching-keys"])
    assert "filled for 0 people" in again.output
