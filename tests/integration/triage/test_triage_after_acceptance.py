"""Triage through its services (SQLite and PostgreSQL, both framework files):
After acceptance (lead professional, notice, flags), refusals, the log and query counts.

Each test says what a step leaves in the database and the access log (the data from ``tests/builders.py``,
the reads from ``tests/integration/reads.py``).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from consent.models import NoticeGiven, NoticeMethod
from portal import db
from portal.access_log import chain, signing
from portal.families import service as flags_service
from portal.families.models import Flag, RelationshipKind, ServiceRelationship
from portal.gate import AccessDenied
from referrals.journey.following import unseen_updates
from referrals.models import NominatedPerson, Nomination, NominationEvent, NominationStatus
from referrals.setup import current_framework
from referrals.triage import accept, family, queue, service
from referrals.triage.core import TriageError
from tests.builders import (
    UNKNOWN_NHS,
    accepted_nomination_for_gp_patient,
    context,
    create_known_person,
    create_nomination,
    nominee,
    person_named,
    review_all,
    session_of,
    tyler_nomination,
    user,
)
from tests.integration.reads import log, statements, version_in


def test_lead_notice_and_flags_make_the_flag_visible_to_the_gp_who_serves_the_child(app):
    nomination_id, child_id = accepted_nomination_for_gp_patient(app)
    lead = None
    with session_of(app) as s:
        ctx = context(s)
        lead = user(s, "sf.lead1")
        setup = family.get_family_setup_for(s, ctx, nomination_id, current_framework())
        with pytest.raises(TriageError, match="Assign a lead professional"):
            family.raise_flags(
                s,
                ctx,
                nomination_id,
                version=setup.version,
                review_on=setup.default_review_on,
                ends_on=setup.default_ends_on,
                family_told=True,
            )
        family.assign_lead_professional(s, ctx, nomination_id, lead.id, version=setup.version)
    with session_of(app) as s:
        ctx = context(s)
        setup = family.get_family_setup_for(s, ctx, nomination_id, current_framework())
        assert setup.lead == "Lucy Lead"
        v2 = next(c for c in setup.notice_versions if "FPN-SF v2" in c.label)
        family.record_notice(
            s,
            ctx,
            nomination_id,
            version=setup.version,
            notice_version_id=uuid.UUID(v2.value),
            member_ids=[child_id],
            given_on=date.today(),
            method=NoticeMethod.IN_PERSON,
            given_by_id=lead.id,
        )
    with session_of(app) as s:
        notice = s.scalar(select(NoticeGiven).where(NoticeGiven.family_id == setup.family_id))
        assert notice.given_by_id == lead.id and [m.person_id for m in notice.members] == [child_id]
        setup = family.get_family_setup_for(s, context(s), nomination_id, current_framework())
        flag_ids = family.raise_flags(
            s,
            context(s),
            nomination_id,
            version=setup.version,
            review_on=setup.default_review_on,
            ends_on=setup.default_ends_on,
            family_told=True,
        )
    with session_of(app) as s:
        flag = s.get(Flag, flag_ids[0])
        assert flag.person_id == child_id and flag.family_id == setup.family_id
        assert (flag.review_on, flag.ends_on, flag.family_told) == (
            setup.default_review_on,
            setup.default_ends_on,
            True,
        )
        categories = {c.category for c in flag.concerns}
        setup = family.get_family_setup_for(s, context(s), nomination_id, current_framework())
        assert setup.flags_raised
    raised = log(app, "event = 'flag_raised'")[-1]
    assert raised.purpose == "support_coordination" and raised.subject_count == 1
    with session_of(app) as s:
        gp = context(s, "gp.practitioner")
        seen = flags_service.get_flag_for(s, gp, child_id)
        assert seen.name == "Jayden Quincey" and seen.lead is not None and seen.lead.name == "Lucy Lead"
        granted = {c.category for c in seen.concerns}
        assert granted <= categories and granted <= {"health", "children_need_help"}  # what the GP protocol covers
        # the school nominated the child: its organisation now follows the nomination (a nominator
        # relationship, and the acceptance shared with it), but it does not serve the child, so the
        # nominator relationship shows it nothing of the family's file
        school = context(s, "school.practitioner")
        nominated_by = s.scalars(
            select(ServiceRelationship.kind).where(
                ServiceRelationship.person_id == child_id,
                ServiceRelationship.organisation_id == school.organisation_id,
            )
        ).all()
        assert nominated_by == [RelationshipKind.NOMINATOR]
        with pytest.raises(AccessDenied) as refused:
            flags_service.get_flag_for(s, school, child_id)  # not on the school's roll
        assert [r.code for r in refused.value.decision.failed] == ["no_relationship"]
        nominator = s.get(Nomination, nomination_id).nominator_id
        assert [u.status_label for u in unseen_updates(s, nominator)] == ["Accepted"]


def test_raising_flags_again_adds_no_second_flag(app):
    nomination_id, child_id = accepted_nomination_for_gp_patient(app)
    with session_of(app) as s:
        ctx = context(s)
        setup = family.get_family_setup_for(s, ctx, nomination_id, current_framework())
        family.assign_lead_professional(s, ctx, nomination_id, user(s, "sf.lead2").id, version=setup.version)
        for _ in range(2):
            family.raise_flags(
                s,
                ctx,
                nomination_id,
                version=version_in(s, nomination_id),
                review_on=setup.default_review_on,
                ends_on=setup.default_ends_on,
                family_told=False,
            )
    with session_of(app) as s:
        assert s.scalar(select(func.count()).select_from(Flag).where(Flag.person_id == child_id)) == 1


def test_a_notice_must_be_given_to_members_on_a_real_day(app):
    nomination_id, child_id = accepted_nomination_for_gp_patient(app)
    with session_of(app) as s:
        ctx = context(s)
        setup = family.get_family_setup_for(s, ctx, nomination_id, current_framework())
        version = uuid.UUID(setup.notice_versions[0].value)
        stranger = person_named(s, "Imran Ahmed").id
        cases = [
            ({"member_ids": [stranger]}, "only members"),
            ({"member_ids": []}, "Select the family members"),
            ({"given_on": date.today() + timedelta(days=1)}, "today or in the past"),
            ({"given_on": date(2020, 1, 1)}, "was published on"),
            ({"given_by_id": user(s, "gp.practitioner").id}, "who gave"),
            ({"notice_version_id": uuid.uuid4()}, "Choose the version"),
        ]
        for change, message in cases:
            arguments = {
                "version": setup.version,
                "notice_version_id": version,
                "member_ids": [child_id],
                "given_on": date.today(),
                "method": NoticeMethod.LETTER,
                "given_by_id": ctx.user_id,
                **change,
            }
            with pytest.raises(TriageError, match=message):
                family.record_notice(s, ctx, nomination_id, **arguments)
        assert (
            s.scalar(select(func.count()).select_from(NoticeGiven).where(NoticeGiven.family_id == setup.family_id)) == 0
        )


def test_only_practitioners_can_lead_a_family(app):
    nomination_id, _ = accepted_nomination_for_gp_patient(app)
    with session_of(app) as s:
        setup = family.get_family_setup_for(s, context(s), nomination_id, current_framework())
        for subject in ("sf.dpo", "gp.admin", "school.disabled"):
            with pytest.raises(TriageError, match="practitioner"):
                family.assign_lead_professional(
                    s, context(s), nomination_id, user(s, subject).id, version=setup.version
                )


def test_steps_after_acceptance_are_refused_before_it(app):
    with session_of(app) as s:
        nomination = tyler_nomination(s)
    with session_of(app) as s, pytest.raises(AccessDenied) as refused:
        family.raise_flags(
            s,
            context(s),
            nomination.id,
            version=1,
            review_on=date.today() + timedelta(days=9),
            ends_on=date.today() + timedelta(days=99),
            family_told=False,
        )
    assert refused.value.decision.failed[0].code == "nomination_not_accepted"
    with session_of(app) as s, pytest.raises(family.NoFamilyYet):
        family.get_family_setup_for(s, context(s), nomination.id, current_framework())


@pytest.mark.parametrize("subject", ["gp.practitioner", "school.admin", "sf.dpo", "sf.lead1", "sf.sysadmin"])
def test_anyone_but_a_coordinator_is_refused_with_the_condition_and_logged(app, subject):
    with session_of(app) as s:
        nomination = tyler_nomination(s)
    calls = [
        lambda s, ctx: queue.list_nominations(s, ctx, current_framework(), queue.QueueFilters()),
        lambda s, ctx: service.get_nomination_for(s, ctx, nomination.id, current_framework()),
        lambda s, ctx: service.request_information(s, ctx, nomination.id, "Anything?"),
        lambda s, ctx: service.decline_nomination(s, ctx, nomination.id, "No", version=1),
    ]
    for call in calls:
        before = len(log(app))
        with session_of(app) as s, pytest.raises(AccessDenied) as refused:
            call(s, context(s, subject))
        assert [r.code for r in refused.value.decision.failed] == ["role_not_permitted"]
        entries = log(app)
        assert len(entries) == before + 1 and entries[-1].outcome == "denied"
    with session_of(app) as s:
        assert s.get(Nomination, nomination.id).status == NominationStatus.SUBMITTED


def test_a_coordinator_role_at_a_partner_organisation_opens_nothing(app):
    with session_of(app) as s:
        nomination = tyler_nomination(s)
        from portal.organisations.models import Role, UserRole

        gp = user(s, "gp.practitioner")
        s.add(UserRole(user_id=gp.id, role=Role.COORDINATOR))
    with session_of(app) as s, pytest.raises(AccessDenied) as refused:
        service.get_nomination_for(s, context(s, "gp.practitioner"), nomination.id, current_framework())
    assert [r.code for r in refused.value.decision.failed] == ["not_triaging_organisation"]


def test_a_draft_is_not_the_councils_to_see(app):
    with session_of(app) as s:
        nomination = tyler_nomination(s, status=NominationStatus.DRAFT)
    with session_of(app) as s, pytest.raises(AccessDenied) as refused:
        service.get_nomination_for(s, context(s), nomination.id, current_framework())
    assert refused.value.decision.failed[0].code == "nomination_not_submitted"


def test_a_nomination_that_does_not_exist_is_not_found_and_a_partner_is_refused_either_way(app):
    missing = uuid.uuid4()
    with session_of(app) as s, pytest.raises(service.NominationNotFound):
        service.get_nomination_for(s, context(s), missing, current_framework())
    with session_of(app) as s, pytest.raises(AccessDenied):
        service.get_nomination_for(s, context(s, "gp.practitioner"), missing, current_framework())


def test_the_log_stays_intact_through_a_whole_triage(app):
    nomination_id, _ = accepted_nomination_for_gp_patient(app)
    with app.app_context():
        report = chain.verify(app.extensions["db_engine"], signing.trusted_keys(app))
    assert report.intact, report.problem
    assert nomination_id


def test_the_nomination_page_makes_the_same_number_of_queries_for_one_person_or_four(app):
    with session_of(app) as s:
        browns = [person_named(s, n) for n in ("Kelly Brown", "Tyler Brown", "Mia Brown")]
        as_nominees = [nominee(p.given_name, p.family_name, p.date_of_birth, postcode=p.postcode) for p in browns]
        one = create_nomination(s, people=tuple(as_nominees[1:2]))
        four = create_nomination(s, people=(*as_nominees, nominee("Jayden", "Quincey", date(2016, 2, 3))))

    def cost(nomination_id) -> int:
        with session_of(app) as s:
            ctx, fw = context(s), current_framework()
            s.commit()
            return statements(app, lambda: service.get_nomination_for(s, ctx, nomination_id, fw))

    assert cost(one.id) == cost(four.id)


def test_the_thread_has_the_coordinators_questions_and_the_nominators_answers(app):
    with session_of(app) as s:
        nomination = tyler_nomination(s)
    with session_of(app) as s:
        service.request_information(s, context(s), nomination.id, "Who else lives at the address?")
    with session_of(app) as s:
        s.add(
            NominationEvent(
                nomination_id=nomination.id,
                actor_id=user(s, "school.practitioner").id,
                kind=service.NominationEventKind.INFORMATION_GIVEN,
                message="His grandmother, most weekdays.",
            )
        )
    with session_of(app) as s:
        view = service.get_nomination_for(s, context(s), nomination.id, current_framework())
    assert [(m.label, m.message, m.actor) for m in view.thread] == [
        ("More information requested", "Who else lives at the address?", "Chris Coordinator"),
        ("More information given", "His grandmother, most weekdays.", "Sarah Attendance"),
    ]


def test_a_person_recorded_meanwhile_with_the_same_nhs_number_is_a_message_not_a_server_error(app, monkeypatch):
    with session_of(app) as s:
        nomination = create_nomination(
            s, people=(nominee("Jayden", "Quincey", date(2016, 2, 3), nhs_number=UNKNOWN_NHS),)
        )
    with session_of(app) as s:
        review_all(s, context(s), nomination.id)
        nominated = s.scalars(select(NominatedPerson.id).where(NominatedPerson.nomination_id == nomination.id)).one()
    with session_of(app) as s:  # another request records him after the check the acceptance makes
        create_known_person(
            s, given_name="J", family_name="Q", date_of_birth=None, postcode=None, nhs_number=UNKNOWN_NHS
        )
    monkeypatch.setattr(accept, "known_with_identifiers", lambda _session, _people: {})
    with app.app_context():
        s = db.session()
        with pytest.raises(TriageError, match="has just been recorded"):
            accept.accept_nomination(
                s,
                context(s),
                nomination.id,
                current_framework(),
                version=version_in(s, nomination.id),
                family=accept.FamilyChoice(new=True),
                criteria={nominated: {current_framework().route(nomination.route_key).criterion}},
            )
        s.rollback()
        assert s.get(Nomination, nomination.id).status == NominationStatus.SUBMITTED
