"""Duplicates at submission, on SQLite and PostgreSQL under both framework files: a person already in an
attached family or in an open nomination makes the new one "linked" to that record, and the nominator
is told only that the person is already known.

The demo family SF-000101 (Kelly, Tyler and Mia Brown) is open; Tyler is on Oakfield School's roll.
"""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from sqlalchemy import select, text

from portal import db
from portal.families import service as flags
from portal.families.models import Family, FamilyStatus, Person, RelationshipKind, ServiceRelationship
from portal.gate import AccessDenied
from referrals.duplicates import Described, MatchedBy, find_duplicate
from referrals.journey import service
from referrals.models import NominationEvent, NominationEventKind, NominationStatus
from referrals.triage import service as triage
from tests.builders import a_person, call, complete_draft, context_of, framework_of, route_for
from tests.conftest import FRAMEWORKS
from tests.integration.reads import log_entries, nomination, version_of

pytestmark = pytest.mark.parametrize("framework_name", FRAMEWORKS)


def demo_person(app, name: str) -> Person:
    with app.app_context():
        person = next(p for p in db.session().scalars(select(Person)) if p.full_name == name)
        db.session().expunge(person)
        return person


def family_of(app, reference: str) -> uuid.UUID:
    with app.app_context():
        return db.session().scalar(select(Family.id).where(Family.reference == reference))


def submit(app, ctx, route, person, **kwargs) -> service.Submitted:
    draft_id = complete_draft(app, ctx, route, person, **kwargs)
    return call(app, service.submit_nomination, ctx, framework_of(app), draft_id, version=version_of(app, draft_id))


def events(app, nomination_id):
    with app.app_context():
        return [
            (e.kind, e.shared_with_nominator, e.message)
            for e in db.session().scalars(
                select(NominationEvent)
                .where(NominationEvent.nomination_id == nomination_id)
                .order_by(NominationEvent.at)
            )
        ]


def test_a_member_of_an_attached_family_found_by_upn_is_linked_to_the_family(app):
    tyler = demo_person(app, "Tyler Brown")
    school = context_of(app, "school.practitioner")
    route = route_for(framework_of(app), "school", "education")
    sent = submit(app, school, route, a_person(given_name="T", family_name="B", nhs_number=None, upn=tyler.upn))
    row = nomination(app, sent.nomination_id)
    assert sent.linked and sent.duplicate.matched_by is MatchedBy.UPN
    assert row.status is NominationStatus.LINKED and row.family_id == family_of(app, "SF-000101")
    assert row.linked_to_id is None and row.reference == sent.reference
    assert events(app, sent.nomination_id) == [
        (NominationEventKind.SUBMITTED, True, None),
        (NominationEventKind.DUPLICATE_LINKED, True, service.LINKED_MESSAGE),
    ]
    entry = log_entries(app)[-1]
    assert entry.event == "nomination_submitted" and '"outcome":"linked"' in entry.detail
    # the family is a subject of the entry, so the DPO finds the nomination under the family
    with app.app_context():
        records = (
            db.session()
            .execute(text("SELECT records FROM access_log_subject WHERE entry_seq = :seq"), {"seq": entry.seq})
            .scalar_one()
        )
    assert str(row.family_id) in records


def test_the_nominators_view_says_only_that_the_person_is_already_known(app):
    tyler = demo_person(app, "Tyler Brown")
    school = context_of(app, "school.practitioner")
    sent = submit(app, school, route_for(framework_of(app), "school", "education"), a_person(upn=tyler.upn))
    view = call(app, service.get_nomination_for, school, framework_of(app), sent.nomination_id)
    assert view.status_label == "Added to an existing record"
    assert [m.message for m in view.messages if m.message] == [service.LINKED_MESSAGE]
    shown = repr(view)
    assert "SF-000101" not in shown and "Kelly" not in shown and "Lucy Lead" not in shown


def test_found_by_nhs_number_records_a_nominator_relationship_that_shows_no_flag(app):
    """Northgate Homes does not serve Mia Brown: nominating her links the nomination and records the
    relationship, and her flag is still refused to Northgate (a nominator sees status only)."""
    mia = demo_person(app, "Mia Brown")
    rsl = context_of(app, "rsl.practitioner")
    route = route_for(framework_of(app), "rsl", "employment_finance")
    sent = submit(app, rsl, route, a_person(nhs_number=mia.nhs_number, upn=None))
    assert sent.linked and sent.duplicate.matched_by is MatchedBy.NHS_NUMBER and sent.duplicate.person_id == mia.id
    with app.app_context():
        kinds = db.session().scalars(
            select(ServiceRelationship.kind).where(
                ServiceRelationship.organisation_id == rsl.organisation_id, ServiceRelationship.person_id == mia.id
            )
        )
        assert list(kinds) == [RelationshipKind.NOMINATOR]
    with app.test_request_context(), pytest.raises(AccessDenied) as refused:
        flags.get_flag_for(db.session(), rsl, mia.id)
    assert [r.code for r in refused.value.decision.failed] == ["no_relationship"]


def test_a_person_in_another_open_nomination_is_linked_to_it_and_the_earlier_nominator_is_not_told(app):
    framework = framework_of(app)
    school, gp = context_of(app, "school.practitioner"), context_of(app, "gp.practitioner")
    child = a_person(given_name="Robin", family_name="Newcome")
    first = submit(app, school, route_for(framework, "school", "education"), child)
    second = submit(app, gp, route_for(framework, "gp_practice", "health"), a_person(nhs_number=child.nhs_number))
    row = nomination(app, second.nomination_id)
    assert second.linked and row.linked_to_id == first.nomination_id and row.family_id is None
    earlier = events(app, first.nomination_id)
    assert earlier[-1][0] is NominationEventKind.DUPLICATE_LINKED and earlier[-1][1] is False
    assert second.reference in earlier[-1][2]
    # the school sees its nomination unchanged: no banner, no message about the GP
    assert call(app, service.unseen_updates, school.user_id) == []
    view = call(app, service.get_nomination_for, school, framework, first.nomination_id)
    assert [m.kind for m in view.messages] == ["submitted"]


def test_a_strong_name_and_date_of_birth_match_links_without_any_identifier(app):
    tyler = demo_person(app, "Tyler Brown")
    school = context_of(app, "school.practitioner")
    person = a_person(
        given_name="tyler", family_name="BROWN ", date_of_birth=tyler.date_of_birth, nhs_number=None, upn=None
    )
    sent = submit(app, school, route_for(framework_of(app), "school", "education"), person)
    assert sent.linked and sent.duplicate.matched_by is MatchedBy.NAME_AND_DATE_OF_BIRTH


def test_a_household_member_who_is_known_links_the_nomination(app):
    kelly = demo_person(app, "Kelly Brown")
    gp = context_of(app, "gp.practitioner")
    mum = a_person(role="parent_carer", nhs_number=kelly.nhs_number, upn=None, date_of_birth=None)
    sent = submit(app, gp, route_for(framework_of(app), "gp_practice", "health"), a_person(), members=(mum,))
    assert sent.linked and sent.duplicate.ordinal == 1 and sent.duplicate.person_id == kelly.id


@pytest.mark.parametrize(
    "change",
    [
        {"date_of_birth": date(2001, 1, 1)},  # another date of birth
        {"given_name": "Taylor"},  # another first name
        {"nhs_number": "9434765919"},  # a different NHS number contradicts the name and date of birth
    ],
)
def test_no_link_without_a_strong_match(app, change):
    tyler = demo_person(app, "Tyler Brown")
    values = {
        "given_name": "Tyler",
        "family_name": "Brown",
        "date_of_birth": tyler.date_of_birth,
        "nhs_number": None,
        "upn": None,
    } | change
    school = context_of(app, "school.practitioner")
    sent = submit(app, school, route_for(framework_of(app), "school", "education"), a_person(**values))
    assert not sent.linked and nomination(app, sent.nomination_id).status is NominationStatus.SUBMITTED


def test_a_closed_family_and_a_decided_nomination_are_not_duplicates(app):
    framework = framework_of(app)
    school, gp = context_of(app, "school.practitioner"), context_of(app, "gp.practitioner")
    tyler = demo_person(app, "Tyler Brown")
    with app.app_context():
        family = db.session().get(Family, family_of(app, "SF-000101"))
        family.status = FamilyStatus.CLOSED
        db.session().commit()
    assert not submit(app, school, route_for(framework, "school", "education"), a_person(upn=tyler.upn)).linked
    child = a_person(upn=None)
    first = submit(app, gp, route_for(framework, "gp_practice", "health"), child)
    coordinator = context_of(app, "sf.coordinator")
    call(
        app,
        triage.decline_nomination,
        coordinator,
        first.nomination_id,
        "Already supported by early help",
        version=version_of(app, first.nomination_id),
    )
    again = submit(app, gp, route_for(framework, "gp_practice", "health"), a_person(nhs_number=child.nhs_number))
    assert not again.linked


def test_a_draft_never_matches_itself_and_drafts_are_not_open_nominations(app):
    school = context_of(app, "school.practitioner")
    route = route_for(framework_of(app), "school", "education")
    person = a_person()
    draft_id = complete_draft(app, school, route, person)
    other_draft = complete_draft(app, school, route, a_person(nhs_number=person.nhs_number))
    with app.app_context():
        people = [Described(0, person.given_name, person.family_name, person.date_of_birth, None, None)]
        assert find_duplicate(db.session(), people, on=school.today, exclude_nomination_id=draft_id) is None
    sent = call(
        app, service.submit_nomination, school, framework_of(app), other_draft, version=version_of(app, other_draft)
    )
    assert not sent.linked
