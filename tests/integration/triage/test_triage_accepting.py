"""Triage through its services (SQLite and PostgreSQL, both framework files):
Accepting: reviewed matches, new and known people, families, criteria and links.

Each test says what a step leaves in the database and the access log (the data from ``tests/builders.py``,
the reads from ``tests/integration/reads.py``).
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from portal.families.models import Family, FamilyMember, Person
from referrals.models import MatchStatus, NominatedPerson, Nomination, NominationStatus
from referrals.setup import current_framework
from referrals.triage import accept, family, service
from referrals.triage.core import TriageError
from referrals.triage.models import CriterionMet, EvidenceSource
from tests.builders import (
    UNKNOWN_NHS,
    context,
    create_nomination,
    criteria_to_threshold,
    nominee,
    person_named,
    review_all,
    session_of,
    tyler_nomination,
)
from tests.integration.reads import last_entry, log, raw_by_id, version_in


def test_accepting_needs_every_match_reviewed(app):
    with session_of(app) as s:
        nomination = tyler_nomination(s)
    with session_of(app) as s, pytest.raises(TriageError, match="Confirm or reject the matches for Tyler Browne"):
        accept.accept_nomination(
            s,
            context(s),
            nomination.id,
            current_framework(),
            version=1,
            family=accept.FamilyChoice(new=True),
            criteria={},
        )
    with session_of(app) as s:
        assert s.get(Nomination, nomination.id).status == NominationStatus.SUBMITTED


def test_accepting_into_a_new_family_creates_new_people_encrypted_and_records_criteria(app):
    with session_of(app) as s:
        nomination = create_nomination(
            s, people=(nominee("Jayden", "Quincey", date(2016, 2, 3), nhs_number=UNKNOWN_NHS, postcode="EX9 9ZZ"),)
        )
        route = current_framework().route(nomination.route_key)
    with session_of(app) as s:
        ctx = context(s)
        review_all(s, ctx, nomination.id)
        nominated = s.scalars(select(NominatedPerson).where(NominatedPerson.nomination_id == nomination.id)).one()
        assert nominated.match_status == MatchStatus.NEW_PERSON
        family_id = accept.accept_nomination(
            s,
            ctx,
            nomination.id,
            current_framework(),
            version=version_in(s, nomination.id),
            family=accept.FamilyChoice(new=True),
            criteria={nominated.id: {route.criterion}},
        )
    with session_of(app) as s:
        row = s.get(Nomination, nomination.id)
        assert (row.status, row.family_id) == (NominationStatus.ACCEPTED, family_id)
        person = s.get(Person, s.get(NominatedPerson, nominated.id).person_id)
        assert person.full_name == "Jayden Quincey" and person.nhs_number == UNKNOWN_NHS
        assert (
            person.nhs_number_index
            and person.dob_block_index
            and person.postcode_block_index
            and person.name_year_block_index
        )
        raw = s.execute(raw_by_id("person", "*"), {"i": person.id}).one()._asdict()
        assert not any(isinstance(v, str) and ("Quincey" in v or UNKNOWN_NHS in v or "EX9" in v) for v in raw.values())
        member = s.get(FamilyMember, (family_id, person.id))
        assert member.role.value == "child"
        met = s.scalars(select(CriterionMet).where(CriterionMet.family_id == family_id)).all()
        framework = current_framework()
        assert [(m.criterion_key, m.source, m.indicator_key, m.framework_key, m.framework_version) for m in met] == [
            (route.criterion, EvidenceSource.NOMINATION, route.indicator, framework.key, framework.version)
        ]
        setup = family.get_family_setup_for(s, context(s), nomination.id, framework)
        assert setup.eligibility.met == 1 and setup.eligibility.threshold == framework.threshold
        assert not setup.eligibility.eligible and setup.eligibility.still_needed == framework.threshold - 1
    entry = last_entry(app)
    assert entry.event == "nomination_viewed"
    decided = log(app, "event = 'nomination_decided'")[-1]
    assert '"decision":"accepted"' in decided.detail and '"new_people":"1"' in decided.detail


def test_eligibility_counts_criteria_against_the_frameworks_threshold(app):
    framework_file = current_framework
    with session_of(app) as s:
        nomination = create_nomination(
            s,
            people=(
                nominee("Jayden", "Quincey", date(2016, 2, 3)),
                nominee("Ava", "Quincey", date(1990, 1, 1), role=service.HouseholdRole.PARENT_CARER),
            ),
        )
    with session_of(app) as s:
        ctx = context(s)
        framework = framework_file()
        review_all(s, ctx, nomination.id)
        child, parent = s.scalars(
            select(NominatedPerson)
            .where(NominatedPerson.nomination_id == nomination.id)
            .order_by(NominatedPerson.ordinal)
        ).all()
        route = framework.route(nomination.route_key)
        wanted = sorted(criteria_to_threshold(framework, route.criterion))
        accept.accept_nomination(
            s,
            ctx,
            nomination.id,
            framework,
            version=version_in(s, nomination.id),
            family=accept.FamilyChoice(new=True),
            criteria={child.id: {route.criterion}, parent.id: set(wanted) - {route.criterion}},
        )
    with session_of(app) as s:
        setup = family.get_family_setup_for(s, context(s), nomination.id, framework)
        assert setup.eligibility.eligible and setup.eligibility.met == framework.threshold
        by_name = {m.name: {c.criterion.key for c in m.criteria} for m in setup.members}
        assert by_name["Jayden Quincey"] == {route.criterion}
        assert by_name["Ava Quincey"] == set(wanted) - {route.criterion}
        roles = {m.name: m.role.value for m in setup.members}
        assert roles == {"Jayden Quincey": "child", "Ava Quincey": "parent_carer"}


def test_an_unknown_criterion_is_refused(app):
    with session_of(app) as s:
        nomination = create_nomination(s, people=(nominee("Jayden", "Quincey", date(2016, 2, 3)),))
    with session_of(app) as s:
        review_all(s, context(s), nomination.id)
        nominated = s.scalars(select(NominatedPerson).where(NominatedPerson.nomination_id == nomination.id)).one()
        with pytest.raises(TriageError, match="Not criteria"):
            accept.accept_nomination(
                s,
                context(s),
                nomination.id,
                current_framework(),
                version=version_in(s, nomination.id),
                family=accept.FamilyChoice(new=True),
                criteria={nominated.id: {"flying_saucers"}},
            )
        with pytest.raises(TriageError, match="at least one criterion"):
            accept.accept_nomination(
                s,
                context(s),
                nomination.id,
                current_framework(),
                version=version_in(s, nomination.id),
                family=accept.FamilyChoice(new=True),
                criteria={},
            )


def test_accepting_into_the_matched_persons_family_reuses_the_known_person(app):
    with session_of(app) as s:
        nomination = tyler_nomination(s)
        tyler = person_named(s, "Tyler Brown")
        brown_family = s.scalar(select(Family).where(Family.reference == "SF-000101"))
        members_before = s.scalar(
            select(func.count()).select_from(FamilyMember).where(FamilyMember.family_id == brown_family.id)
        )
        people_before = s.scalar(select(func.count()).select_from(Person))
    with session_of(app) as s:
        ctx = context(s)
        review_all(s, ctx, nomination.id)
        content = accept.get_acceptance_for(s, ctx, nomination.id, current_framework())
        assert [label for _, label in content.families] == ["Family SF-000101, with Tyler Brown"]
        tyler_np = content.people[0]
        route = current_framework().route(nomination.route_key)
        accept.accept_nomination(
            s,
            ctx,
            nomination.id,
            current_framework(),
            version=content.version,
            family=accept.FamilyChoice(reference="sf-000101"),
            criteria={tyler_np.id: {route.criterion}},
        )
    with session_of(app) as s:
        assert s.get(NominatedPerson, tyler_np.id).person_id == tyler.id
        assert s.scalar(select(func.count()).select_from(Person)) == people_before + 1  # only the unknown child
        members = s.scalar(
            select(func.count()).select_from(FamilyMember).where(FamilyMember.family_id == brown_family.id)
        )
        assert members == members_before + 1
        setup = family.get_family_setup_for(s, context(s), nomination.id, current_framework())
        tyler_view = next(m for m in setup.members if m.name == "Tyler Brown")
        sources = {c.criterion.key: c.source for c in tyler_view.criteria}
        assert sources[route.criterion] == "The nomination"
        assert setup.eligibility.met >= 2  # the Browns' existing flags already evidence criteria


def test_a_nomination_linked_to_a_family_joins_it_and_never_a_new_one(app):
    with session_of(app) as s:
        brown = s.scalar(select(Family).where(Family.reference == "SF-000101"))
        other = s.scalar(select(Family).where(Family.reference == "SF-000102"))
        nomination = tyler_nomination(s, status=NominationStatus.LINKED, family_id=brown.id)
        families_before = s.scalar(select(func.count()).select_from(Family))
    with session_of(app) as s:
        ctx = context(s)
        view = service.get_nomination_for(s, ctx, nomination.id, current_framework())
        assert view.linked and view.family.reference == "SF-000101"
        review_all(s, ctx, nomination.id)
        content = accept.get_acceptance_for(s, ctx, nomination.id, current_framework())
        assert content.linked_family == (brown.id, "Family SF-000101")
        subject = content.people[0].id
        route = current_framework().route(nomination.route_key)
        for choice in (accept.FamilyChoice(new=True), accept.FamilyChoice(family_id=other.id)):
            with pytest.raises(accept.FamilyProblem):
                accept.accept_nomination(
                    s,
                    ctx,
                    nomination.id,
                    current_framework(),
                    version=content.version,
                    family=choice,
                    criteria={subject: {route.criterion}},
                )
        accept.accept_nomination(
            s,
            ctx,
            nomination.id,
            current_framework(),
            version=content.version,
            family=accept.FamilyChoice(family_id=brown.id),
            criteria={subject: {route.criterion}},
        )
    with session_of(app) as s:
        assert s.scalar(select(func.count()).select_from(Family)) == families_before
        assert s.get(Nomination, nomination.id).family_id == brown.id


def test_a_nomination_linked_to_an_earlier_one_waits_for_it_then_joins_its_family(app):
    with session_of(app) as s:
        earlier = create_nomination(s, people=(nominee("Jayden", "Quincey", date(2016, 2, 3)),), reference="SFN-EARLY1")
        later = create_nomination(
            s,
            people=(nominee("Jayden", "Quincey", date(2016, 2, 3)),),
            status=NominationStatus.LINKED,
            linked_to=earlier,
        )
    fw = current_framework
    with session_of(app) as s:
        ctx = context(s)
        assert service.get_nomination_for(s, ctx, earlier.id, fw()).linked_from[0].id == later.id
        assert service.get_nomination_for(s, ctx, later.id, fw()).linked_to.reference == "SFN-EARLY1"
        review_all(s, ctx, later.id)
        s.commit()
        content = accept.get_acceptance_for(s, ctx, later.id, fw())
        assert content.waiting_for_earlier == "SFN-EARLY1" and content.linked_family is None
        later_person = content.people[0].id
        route = fw().route(later.route_key)
        with pytest.raises(accept.FamilyProblem, match="decide SFN-EARLY1 first"):
            accept.accept_nomination(
                s,
                ctx,
                later.id,
                fw(),
                version=content.version,
                family=accept.FamilyChoice(new=True),
                criteria={later_person: {route.criterion}},
            )
        s.rollback()
        review_all(s, ctx, earlier.id)
        earlier_person = s.scalars(select(NominatedPerson.id).where(NominatedPerson.nomination_id == earlier.id)).one()
        family_id = accept.accept_nomination(
            s,
            ctx,
            earlier.id,
            fw(),
            version=version_in(s, earlier.id),
            family=accept.FamilyChoice(new=True),
            criteria={earlier_person: {route.criterion}},
        )
        s.commit()
        content = accept.get_acceptance_for(s, ctx, later.id, fw())
        assert content.linked_family[0] == family_id
        with pytest.raises(accept.FamilyProblem):
            accept.accept_nomination(
                s,
                ctx,
                later.id,
                fw(),
                version=content.version,
                family=accept.FamilyChoice(new=True),
                criteria={later_person: {route.criterion}},
            )
        s.rollback()
        # the later nomination's Jayden is the earlier's, now known: confirm that match and join the family
        view = service.get_nomination_for(s, ctx, later.id, fw())
        candidate = view.people[0].candidates[0].person
        service.review_match(
            s,
            ctx,
            later.id,
            view.people[0].id,
            service.MatchChoice.CONFIRM,
            version=view.version,
            person_id=candidate.id,
        )
        accept.accept_nomination(
            s,
            ctx,
            later.id,
            fw(),
            version=version_in(s, later.id),
            family=accept.FamilyChoice(family_id=family_id),
            criteria={later_person: {route.criterion}},
        )
    with session_of(app) as s:
        assert s.get(Nomination, later.id).family_id == family_id
        assert s.scalar(select(func.count()).select_from(FamilyMember).where(FamilyMember.family_id == family_id)) == 1
