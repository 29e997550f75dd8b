"""The gate's tuned facts statement (``facts_sql``) gathers exactly what the readable reference
(``facts``) gathers, on SQLite and PostgreSQL.

``facts.gather`` says what the facts are, query by query; ``facts_sql.gather`` reads them in one
``UNION ALL`` (a variant for one person in at most one family, ``_ONE``, and one for any number,
``_MANY``). Over the demo data, with the rows the demo does not have added (an overridden objection
with its encrypted basis, an objection to every purpose, an ended relationship, a notice given for two
members), both must give equal ``Gathered.canonical()`` for every organisation and every way of asking:
one person with or without their family, each family whole, everyone, random subsets, duplicates and
ids that name nobody.
"""

from __future__ import annotations

import itertools
import random
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date

import pytest
from flask import Flask
from sqlalchemy import Cast, Null, select
from sqlalchemy.orm import Session

from consent import records as consent_records
from consent.models import NoticeGiven, NoticeMethod, NoticeVersion, Objection, ObjectionStatus
from portal import db
from portal.families import records
from portal.families.models import FamilyMember, Person, RelationshipKind, RelationshipSource
from portal.gate import facts, facts_sql
from portal.organisations.models import Organisation

NOBODY = uuid.UUID(int=12345)


@dataclass(frozen=True)
class Added:
    """The rows the fixture adds to the demo."""

    app: Flask
    notice: NoticeGiven  #: given for two members of one family
    first: uuid.UUID
    second: uuid.UUID


@pytest.fixture
def added(app: Flask) -> Added:
    """The demo, plus one of each kind of row the demo leaves out."""
    with app.app_context():
        session = db.session()
        organisations = session.scalars(select(Organisation.id).order_by(Organisation.id)).all()
        members = session.execute(
            select(FamilyMember.family_id, FamilyMember.person_id).order_by(
                FamilyMember.family_id, FamilyMember.person_id
            )
        ).all()
        (family, first), (_, second) = members[0], members[1]
        assert family == members[1][0], "the demo's first family has two members"
        version = session.scalars(select(NoticeVersion.id).order_by(NoticeVersion.id)).first()
        notice = consent_records.give_notice(
            session,
            family_id=family,
            version_id=version,
            member_ids=[first, second],
            given_on=date(2026, 1, 15),
            given_by_id=None,
            method=NoticeMethod.LETTER,
        )
        consent_records.record_objection(
            session, person_id=second, category="education", raised_on=date(2026, 2, 2), recorded_by_id=None
        )
        # consent's writer records an objection upheld, so the overridden one (with its basis) is a plain row
        session.add(
            Objection(
                person_id=first,
                category="health",
                purpose="safeguarding",
                status=ObjectionStatus.OVERRIDDEN,
                basis="section 47 enquiry: risk of significant harm",
                raised_on=date(2026, 2, 1),
            )
        )
        ended = records.add_relationship(
            session,
            organisation_id=organisations[0],
            person_id=first,
            kind=RelationshipKind.ON_CASELOAD,
            source=RelationshipSource.MANUAL,
            valid_from=date(2024, 9, 1),
        )
        records.end_relationship(ended, last_day=date(2025, 7, 31))
        session.commit()
    return Added(app, notice, first, second)


def _askings(session: Session, rng: random.Random) -> Iterator[tuple[list[uuid.UUID], list[uuid.UUID]]]:
    """(people, families) to ask about: every way the gate asks, and many it does not."""
    members = session.execute(select(FamilyMember.family_id, FamilyMember.person_id)).all()
    people = sorted(session.scalars(select(Person.id)).all())
    families = sorted({family for family, _ in members})
    family_of = {person: family for family, person in members}
    in_family: dict[uuid.UUID, list[uuid.UUID]] = {}
    for family, person in members:
        in_family.setdefault(family, []).append(person)
    for person in people:  # one person (the _ONE statement), with their family and without one
        yield [person], [family_of[person]] if person in family_of else []
        yield [person], []
    yield [people[0]], families[:2]  # one person in two families: the statement for many
    for family, its_people in in_family.items():  # a family, as a family page asks
        yield its_people, [family]
    yield people, families  # everyone at once, as a list page of the whole practice
    yield [], []
    yield [NOBODY], [NOBODY]
    yield [people[0], people[0], people[1]], [family_of.get(people[0], NOBODY)] * 2  # duplicates
    for _ in range(40):  # random subsets, with families of people left out and people left out of families
        chosen = rng.sample(people, rng.randint(2, len(people)))
        theirs = {family_of[p] for p in chosen if p in family_of}
        extra = rng.sample(families, rng.randint(0, 3))
        dropped = set(rng.sample(sorted(theirs), rng.randint(0, min(2, len(theirs)))))
        yield chosen, sorted((theirs | set(extra)) - dropped)


@pytest.mark.parametrize("seed", [1, 2])
def test_the_tuned_statement_gathers_what_the_reference_gathers(added: Added, seed: int):
    with added.app.app_context():
        session = db.session()
        organisations = session.scalars(select(Organisation.id)).all()
        askings = list(_askings(session, random.Random(seed)))
        covered = {"r": 0, "n": 0, "o": 0, "basis": 0, "ended": 0}
        for organisation in [*organisations, NOBODY]:
            for people, families in askings:
                reference = facts.gather(session, organisation, people, families)
                tuned = facts_sql.gather(session, organisation, people, families)
                assert tuned.canonical() == reference.canonical(), (organisation, people, families)
                _count(covered, reference)
        # the comparison saw every kind of fact, not only empty ones
        assert all(covered.values()), covered


def _count(covered: dict[str, int], gathered: facts.Gathered) -> None:
    relationships = [r for rs in gathered.relationships.values() for r in rs]
    objections = [o for os in gathered.objections.values() for o in os]
    covered["r"] += len(relationships)
    covered["ended"] += sum(r.valid_to is not None for r in relationships)
    covered["n"] += sum(len(n) for n in gathered.notices.values())
    covered["o"] += len(objections)
    covered["basis"] += sum(bool(o.basis) and not o.upheld for o in objections)


def test_a_notice_names_only_the_members_asked_about(added: Added):
    """A notice given for two members, asked about one of them: both ways name just that one."""
    notice, first, second = added.notice, added.first, added.second
    with added.app.app_context():
        session = db.session()
        organisation = session.scalars(select(Organisation.id)).first()
        for gather in (facts.gather, facts_sql.gather):
            found = gather(session, organisation, [first], [notice.family_id]).notices
            assert found[str(notice.family_id)][str(notice.id)].members == frozenset({str(first)})
            both = gather(session, organisation, [first, second], [notice.family_id]).notices
            assert both[str(notice.family_id)][str(notice.id)].members == frozenset({str(first), str(second)})


# -- the module docstring's table of columns --------------------------------------------------------------


def _documented() -> dict[str, set[str]]:
    """fact -> the columns the docstring's table fills for it (read by the columns' ``=`` spans)."""
    lines = facts_sql.__doc__.splitlines()
    borders = [i for i, line in enumerate(lines) if line.startswith("=====")]
    assert len(borders) == 3, "the docstring has one simple table"
    spans = [m.span() for m in re.finditer("=+", lines[borders[0]])]
    cells = [
        [line[a:b].strip() for a, b in spans]
        for line in lines[borders[0] + 1 : borders[2]]
        if line.strip() and line[0] != "="
    ]
    header, rows = cells[0], [c for c in cells[1:] if c[0]]
    for line in lines[borders[1] + 1 : borders[2]]:
        for (_, a), (b, _) in itertools.pairwise(spans):
            assert not line[a:b].strip(), f"text outside its column in {line!r}"
    assert header == list(facts_sql.COLUMNS)
    return {row[0].strip("`"): {name for name, cell in zip(header[1:], row[1:], strict=True) if cell} for row in rows}


def _filled(selects: Sequence[object]) -> dict[str, set[str]]:
    """fact -> the columns its select fills (everything but a typed NULL)."""
    found = {}
    for one in selects:
        columns = list(one.selected_columns)
        fact = columns[0].element.name.strip("'")
        found[fact] = {
            c.name for c in columns[1:] if not (isinstance(c.element, Cast) and isinstance(c.element.clause, Null))
        }
    return found


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
@pytest.mark.parametrize("one", [True, False])
def test_the_docstring_says_which_columns_each_fact_fills(dialect: str, one: bool):
    assert _filled(facts_sql._select(dialect, one).selects) == _documented()
