"""Triage through its services (SQLite and PostgreSQL, both framework files):
The queue, a nomination's candidates and reviewing matches.

Each test says what a step leaves in the database and the access log (the data from ``tests/builders.py``,
the reads from ``tests/integration/reads.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from portal.families.models import FamilyMember
from referrals.models import MatchStatus, NominatedPerson, NominationEvent, NominationStatus
from referrals.setup import current_framework
from referrals.triage import queue, service
from referrals.triage.models import MatchReview
from tests.builders import (
    context,
    create_known_person,
    create_nomination,
    nominee,
    person_named,
    session_of,
    tyler_nomination,
    user,
)
from tests.integration.reads import demo_open, last_entry, mine, statements, version_in


def test_the_queue_shows_open_nominations_oldest_first_never_drafts_and_filters(app):
    now = datetime.now(UTC)
    with session_of(app) as s:
        old = create_nomination(s, submitted_at=now - timedelta(days=40), reference="SFN-OLD001")
        mid = create_nomination(
            s,
            submitted_at=now - timedelta(days=10),
            status=NominationStatus.MORE_INFORMATION_REQUESTED,
            reference="SFN-MID001",
        )
        new = create_nomination(
            s, nominator="gp.practitioner", submitted_at=now - timedelta(hours=3), reference="SFN-NEW001"
        )
        linked = create_nomination(
            s,
            submitted_at=now - timedelta(days=1),
            status=NominationStatus.LINKED,
            linked_to=old,
            reference="SFN-LNK001",
        )
        create_nomination(s, status=NominationStatus.DRAFT, reference="SFN-DRAFT1")
        create_nomination(s, status=NominationStatus.NOT_ACCEPTED, reference="SFN-DONE01")
        gp_route, gp_org = new.route_key, new.organisation_id
    framework = current_framework
    with session_of(app) as s:
        ctx = context(s)
        fw = framework()
        page = queue.list_nominations(s, ctx, fw, queue.QueueFilters())
        rows = mine(page.rows)
        assert [r.reference for r in rows] == ["SFN-OLD001", "SFN-MID001", "SFN-LNK001", "SFN-NEW001"]
        assert page.total == len(page.rows) and len(page.rows) - len(rows) == demo_open(s)
        assert [r.linked for r in rows] == [False, False, True, False]
        assert rows[0].subject_name == "Jayden Carter" and rows[0].age_days == 40
        assert {name for _, name in page.organisations} >= {"Oakfield Primary School", "Riverside Medical Practice"}

        def refs(**filters) -> list[str]:
            return [r.reference for r in mine(queue.list_nominations(s, ctx, fw, queue.QueueFilters(**filters)).rows)]

        assert refs(route=gp_route) == ["SFN-NEW001"]
        assert refs(organisation_id=gp_org) == ["SFN-NEW001"]
        assert refs(age=queue.Age.UNDER_A_WEEK) == ["SFN-LNK001", "SFN-NEW001"]
        assert refs(age=queue.Age.ONE_TO_FOUR_WEEKS) == ["SFN-MID001"]
        assert refs(age=queue.Age.OVER_FOUR_WEEKS) == ["SFN-OLD001"]
        assert refs(status=NominationStatus.NOT_ACCEPTED) == ["SFN-DONE01"]
        assert refs(status=NominationStatus.LINKED) == ["SFN-LNK001"]
        assert mid and linked


def test_the_queue_pages_and_is_logged_with_the_references_shown(app):
    with session_of(app) as s:
        already = demo_open(s)
        for i in range(queue.PER_PAGE + 2):  # older than anything else, so they come first
            create_nomination(
                s, reference=f"SFN-P{i:05d}", submitted_at=datetime.now(UTC) - timedelta(days=400, hours=-i)
            )
    with session_of(app) as s:
        second = queue.list_nominations(s, context(s), current_framework(), queue.QueueFilters(), page=2)
    assert (second.total, second.pages, second.page) == (queue.PER_PAGE + 2 + already, 2, 2)
    shown = [r.reference for r in second.rows]
    assert shown[:2] == [f"SFN-P{queue.PER_PAGE:05d}", f"SFN-P{queue.PER_PAGE + 1:05d}"]
    entry = last_entry(app)
    assert (entry.event, entry.outcome, entry.purpose) == ("triage_queue_listed", "permitted", "identification")
    assert f'"nominations":"{",".join(shown)}"' in entry.detail


def test_the_queue_makes_the_same_number_of_queries_for_3_or_25_nominations(app):
    def page_cost() -> int:
        with session_of(app) as s:
            ctx, fw = context(s), current_framework()
            s.commit()
            return statements(app, lambda: queue.list_nominations(s, ctx, fw, queue.QueueFilters()))

    with session_of(app) as s:
        for _ in range(3):
            create_nomination(s, people=(nominee(), nominee("Ava", "Carter", role=service.HouseholdRole.CHILD)))
    few = page_cost()
    with session_of(app) as s:
        for _ in range(30):
            create_nomination(s, people=(nominee(), nominee("Ava", "Carter"), nominee("Leo", "Carter")))
    assert page_cost() == few


def test_a_nomination_shows_ranked_explained_candidates_and_logs_everyone_shown(app):
    with session_of(app) as s:
        nomination = tyler_nomination(s)
        tyler = person_named(s, "Tyler Brown")
        tyler_id, family_id = (
            tyler.id,
            s.scalar(select(FamilyMember.family_id).where(FamilyMember.person_id == tyler.id)),
        )
    with session_of(app) as s:
        view = service.get_nomination_for(s, context(s), nomination.id, current_framework())
    tyler_view, stranger = view.people
    best = tyler_view.candidates[0]
    assert best.person.id == tyler_id and best.person.name == "Tyler Brown"
    assert best.reasons == ("same date of birth", "family name similar, given name matches", "same postcode")
    assert [f.reference for f in best.person.families] == ["SF-000101"]
    assert stranger.candidates == ()
    assert view.history[0].label == "Submitted" and view.history[0].actor == "Sarah Attendance"
    entry = last_entry(app)
    assert (entry.event, entry.purpose) == ("nomination_viewed", "identification")
    assert nomination.category in entry.categories
    with session_of(app) as s:
        records = s.execute(
            text("SELECT records FROM access_log_subject WHERE entry_seq = :s"), {"s": entry.seq}
        ).scalar()
    assert str(tyler_id).replace("-", "") in records.replace("-", "") and str(family_id).replace(
        "-", ""
    ) in records.replace("-", "")


def test_a_shared_nhs_number_ranks_first_above_a_closer_looking_stranger(app):
    with session_of(app) as s:
        kelly = person_named(s, "Kelly Brown")
        lookalike = create_known_person(
            s, given_name="Kelly", family_name="Brown", date_of_birth=kelly.date_of_birth, postcode=kelly.postcode
        )
        nomination = create_nomination(
            s,
            nominator="gp.practitioner",
            people=(nominee("Kelly", "Brown", kelly.date_of_birth, nhs_number=kelly.nhs_number, postcode="M1 1AE"),),
        )
        kelly_id = kelly.id
    with session_of(app) as s:
        view = service.get_nomination_for(s, context(s), nomination.id, current_framework())
    first, second = view.people[0].candidates[:2]
    assert first.person.id == kelly_id and "same NHS number" in first.reasons
    assert second.person.id == lookalike.id


def test_confirming_a_match_records_the_verdict_an_event_and_the_log(app):
    with session_of(app) as s:
        nomination = tyler_nomination(s)
    with session_of(app) as s:
        ctx = context(s)
        view = service.get_nomination_for(s, ctx, nomination.id, current_framework())
        tyler = view.people[0]
        candidate = tyler.candidates[0].person.id
        service.review_match(
            s, ctx, nomination.id, tyler.id, service.MatchChoice.CONFIRM, version=view.version, person_id=candidate
        )
    with session_of(app) as s:
        person = s.get(NominatedPerson, tyler.id)
        assert (person.match_status, person.person_id) == (MatchStatus.CONFIRMED, candidate)
        review = s.scalar(select(MatchReview).where(MatchReview.nominated_person_id == tyler.id))
        assert review.outcome.value == "confirmed" and review.reviewed_by_id == user(s, "sf.coordinator").id
        kinds = [
            e.kind.value
            for e in s.scalars(select(NominationEvent).where(NominationEvent.nomination_id == nomination.id))
        ]
        assert kinds[-1] == "match_confirmed"
        assert version_in(s, nomination.id) == view.version + 1
    entry = last_entry(app)
    assert entry.event == "nomination_match_reviewed" and '"outcome":"confirmed"' in entry.detail


def test_a_rejected_candidate_is_not_suggested_again(app):
    with session_of(app) as s:
        nomination = tyler_nomination(s)
    with session_of(app) as s:
        ctx = context(s)
        view = service.get_nomination_for(s, ctx, nomination.id, current_framework())
        tyler = view.people[0]
        rejected = tyler.candidates[0].person.id
        service.review_match(
            s, ctx, nomination.id, tyler.id, service.MatchChoice.REJECT, version=view.version, person_id=rejected
        )
    with session_of(app) as s:
        again = service.get_nomination_for(s, context(s), nomination.id, current_framework()).people[0]
        assert rejected not in {c.person.id for c in again.candidates}
        assert again.rejected == 1 and again.match_status == MatchStatus.UNREVIEWED
        with pytest.raises(service.MatchProblem, match="not a candidate"):
            service.review_match(
                s,
                context(s),
                nomination.id,
                tyler.id,
                service.MatchChoice.CONFIRM,
                version=version_in(s, nomination.id),
                person_id=rejected,
            )


def test_only_a_suggested_candidate_can_be_confirmed(app):
    with session_of(app) as s:
        nomination = tyler_nomination(s)
        stranger = person_named(s, "Imran Ahmed")
    with session_of(app) as s:
        view = service.get_nomination_for(s, context(s), nomination.id, current_framework())
        with pytest.raises(service.MatchProblem, match="not a candidate"):
            service.review_match(
                s,
                context(s),
                nomination.id,
                view.people[0].id,
                service.MatchChoice.CONFIRM,
                version=view.version,
                person_id=stranger.id,
            )
        assert version_in(s, nomination.id) == view.version  # nothing written


def test_no_match_is_refused_when_someone_known_has_the_same_nhs_number(app):
    with session_of(app) as s:
        kelly = person_named(s, "Kelly Brown")
        nomination = create_nomination(
            s, nominator="gp.practitioner", people=(nominee("Kel", "Smith", None, nhs_number=kelly.nhs_number),)
        )
    with session_of(app) as s:
        view = service.get_nomination_for(s, context(s), nomination.id, current_framework())
        with pytest.raises(service.MatchProblem, match="same NHS number"):
            service.review_match(
                s, context(s), nomination.id, view.people[0].id, service.MatchChoice.NEW_PERSON, version=view.version
            )
