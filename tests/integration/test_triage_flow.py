"""Triage through its services, on SQLite and PostgreSQL, under both framework files: every transition,
every refusal, and what each leaves in the database and the access log.

Nominations are made with ``tests.builders_nominations`` as the journey's submit would leave them. The
demo data supplies the known people (family SF-000101: Kelly, Tyler and Mia Brown) and the accounts.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Uuid, bindparam, func, select, text
from sqlalchemy.orm import Session

from consent.models import NoticeGiven, NoticeMethod
from portal import db
from portal.access_log import chain, signing
from portal.families import service as flags_service
from portal.families.identifiers import synthetic_nhs_number
from portal.families.models import Family, FamilyMember, Flag, Person, RelationshipKind, ServiceRelationship
from portal.gate import AccessDenied
from referrals.journey.following import unseen_updates
from referrals.models import MatchStatus, NominatedPerson, Nomination, NominationEvent, NominationStatus
from referrals.setup import current_framework
from referrals.triage import accept, family, queue, service
from referrals.triage.core import StaleNomination, TriageError
from referrals.triage.demo import REFERENCES as DEMO_REFERENCES
from referrals.triage.models import CriterionMet, EvidenceSource, MatchReview
from tests.builders_nominations import (
    FRAMEWORKS,
    Nominee,
    context,
    create_known_person,
    create_nomination,
    triage_app,
    user,
)

#: a valid NHS number (never issued) that no demo person has
UNKNOWN_NHS = synthetic_nhs_number(5000)


@pytest.fixture(params=FRAMEWORKS)
def framework_file(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def app(database_url, tmp_path, framework_file):
    app = triage_app(database_url, tmp_path, framework_file)
    yield app
    app.extensions["db_engine"].dispose()


@contextmanager
def session_of(app) -> Iterator[Session]:
    """A session in an app context, committed at the end (as ``@commits`` does after a 2xx)."""
    with app.app_context():
        session = db.session()
        yield session
        session.commit()


def log(app, where: str = "TRUE") -> list:
    with app.app_context():
        return db.session().execute(text(f"SELECT * FROM access_log_entry WHERE {where} ORDER BY seq")).all()


def raw_by_id(table: str, columns: str):
    """The stored row, as the database holds it (encrypted columns undecrypted)."""
    return text(f"SELECT {columns} FROM {table} WHERE id = :i").bindparams(bindparam("i", type_=Uuid))


def last_entry(app):
    return log(app)[-1]


def person_named(session: Session, name: str) -> Person:
    return next(p for p in session.scalars(select(Person)) if p.full_name == name)


def tyler_nomination(session: Session, **kwargs) -> Nomination:
    """A school's nomination of Tyler Brown (spelt "Browne"), who is known, and a child nobody knows."""
    tyler = person_named(session, "Tyler Brown")
    people = (
        Nominee("Tyler", "Browne", tyler.date_of_birth, postcode=tyler.postcode),
        Nominee("Jayden", "Quincey", date(2016, 2, 3), postcode="EX9 9ZZ"),
    )
    return create_nomination(session, people=people, **kwargs)


def review_all(session: Session, ctx, nomination_id: uuid.UUID) -> None:
    """Confirm the best candidate of each person, or record a new person when there is none."""
    framework = current_framework()
    view = service.get_nomination_for(session, ctx, nomination_id, framework)
    version = view.version
    for person in view.people:
        if person.candidates:
            service.review_match(
                session,
                ctx,
                nomination_id,
                person.id,
                service.MatchChoice.CONFIRM,
                version=version,
                person_id=person.candidates[0].person.id,
            )
        else:
            service.review_match(
                session, ctx, nomination_id, person.id, service.MatchChoice.NEW_PERSON, version=version
            )
        version += 1


def version_of(session: Session, nomination_id: uuid.UUID) -> int:
    return session.scalar(select(Nomination.version).where(Nomination.id == nomination_id))


# ------------------------------------------------------------------------------------------ queue


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


def mine(rows):
    """Queue rows this test made (the demo seed may add its own nominations)."""
    return [r for r in rows if r.reference not in DEMO_REFERENCES]


def demo_open(session: Session) -> int:
    """The demo's nominations still waiting for triage, if the seed made any."""
    return session.scalar(
        select(func.count())
        .select_from(Nomination)
        .where(Nomination.reference.in_(DEMO_REFERENCES), Nomination.status.in_(queue.QUEUE_STATUSES))
    )


def statements(app, call) -> int:
    engine = app.extensions["db_engine"]
    count = 0

    def counted(*_args):
        nonlocal count
        count += 1

    from sqlalchemy import event

    event.listen(engine, "before_cursor_execute", counted)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    return count


def test_the_queue_makes_the_same_number_of_queries_for_3_or_25_nominations(app):
    def page_cost() -> int:
        with session_of(app) as s:
            ctx, fw = context(s), current_framework()
            s.commit()
            return statements(app, lambda: queue.list_nominations(s, ctx, fw, queue.QueueFilters()))

    with session_of(app) as s:
        for _ in range(3):
            create_nomination(s, people=(Nominee(), Nominee("Ava", "Carter", role=service.HouseholdRole.CHILD)))
    few = page_cost()
    with session_of(app) as s:
        for _ in range(30):
            create_nomination(s, people=(Nominee(), Nominee("Ava", "Carter"), Nominee("Leo", "Carter")))
    assert page_cost() == few


# ------------------------------------------------------------------------------------- nomination


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
            people=(Nominee("Kelly", "Brown", kelly.date_of_birth, nhs_number=kelly.nhs_number, postcode="M1 1AE"),),
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
        assert version_of(s, nomination.id) == view.version + 1
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
                version=version_of(s, nomination.id),
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
        assert version_of(s, nomination.id) == view.version  # nothing written


def test_no_match_is_refused_when_someone_known_has_the_same_nhs_number(app):
    with session_of(app) as s:
        kelly = person_named(s, "Kelly Brown")
        nomination = create_nomination(
            s, nominator="gp.practitioner", people=(Nominee("Kel", "Smith", None, nhs_number=kelly.nhs_number),)
        )
    with session_of(app) as s:
        view = service.get_nomination_for(s, context(s), nomination.id, current_framework())
        with pytest.raises(service.MatchProblem, match="same NHS number"):
            service.review_match(
                s, context(s), nomination.id, view.people[0].id, service.MatchChoice.NEW_PERSON, version=view.version
            )


# -------------------------------------------------------------------------- information, declining


def test_requesting_information_shares_the_message_and_changes_the_status(app):
    with session_of(app) as s:
        nomination = tyler_nomination(s)
    with session_of(app) as s:
        service.request_information(s, context(s), nomination.id, "  Does the school know the older sibling?  ")
    with session_of(app) as s:
        row = s.get(Nomination, nomination.id)
        assert row.status == NominationStatus.MORE_INFORMATION_REQUESTED
        event = s.scalars(select(NominationEvent).where(NominationEvent.nomination_id == nomination.id)).all()[-1]
        assert (event.kind.value, event.message, event.shared_with_nominator) == (
            "information_requested",
            "Does the school know the older sibling?",
            True,
        )
        raw = s.execute(raw_by_id("nomination_event", "message"), {"i": event.id}).scalar()
        assert "sibling" not in raw  # encrypted at rest
        thread = service.get_nomination_for(s, context(s), nomination.id, current_framework()).thread
        assert [m.message for m in thread] == ["Does the school know the older sibling?"]
    assert last_entry(app).event in ("nomination_viewed",)
    assert log(app, "event = 'nomination_information_requested'")


def test_declining_needs_a_reason_which_the_nominator_sees(app):
    with session_of(app) as s:
        nomination = tyler_nomination(s)
    with session_of(app) as s, pytest.raises(TriageError, match="Enter the reason"):
        service.decline_nomination(s, context(s), nomination.id, "   ", version=1)
    with session_of(app) as s:
        assert s.get(Nomination, nomination.id).status == NominationStatus.SUBMITTED
        service.decline_nomination(
            s, context(s), nomination.id, "The family already has an early help plan.", version=1
        )
    with session_of(app) as s:
        row = s.get(Nomination, nomination.id)
        assert (row.status, row.decision_reason) == (
            NominationStatus.NOT_ACCEPTED,
            "The family already has an early help plan.",
        )
        assert row.decided_by_id == user(s, "sf.coordinator").id and row.decided_at is not None
        event = s.scalars(select(NominationEvent).where(NominationEvent.nomination_id == nomination.id)).all()[-1]
        assert event.kind.value == "not_accepted" and event.shared_with_nominator
    entry = last_entry(app)
    assert entry.event == "nomination_decided" and '"decision":"not_accepted"' in entry.detail


def test_a_decided_nomination_cannot_be_decided_again_and_the_refusal_is_logged(app):
    with session_of(app) as s:
        nomination = tyler_nomination(s, status=NominationStatus.NOT_ACCEPTED)
    with session_of(app) as s, pytest.raises(AccessDenied) as refused:
        service.decline_nomination(s, context(s), nomination.id, "Again", version=1)
    assert [r.code for r in refused.value.decision.failed] == ["nomination_already_decided"]
    entry = last_entry(app)
    assert (entry.event, entry.outcome) == ("access_denied", "denied")
    assert "!nomination_already_decided" in entry.reasons and '"attempted":"nomination_decided"' in entry.detail
    with session_of(app) as s:
        with pytest.raises(AccessDenied):
            accept.accept_nomination(
                s,
                context(s),
                nomination.id,
                current_framework(),
                version=1,
                family=accept.FamilyChoice(new=True),
                criteria={},
            )
        with pytest.raises(AccessDenied):
            service.request_information(s, context(s), nomination.id, "More?")


def test_a_stale_version_is_refused_and_writes_nothing(app):
    with session_of(app) as s:
        nomination = tyler_nomination(s)
    with session_of(app) as s:
        service.request_information(s, context(s), nomination.id, "First question", version=1)
    with session_of(app) as s:
        events = s.scalar(
            select(func.count()).select_from(NominationEvent).where(NominationEvent.nomination_id == nomination.id)
        )
        with pytest.raises(StaleNomination):
            service.decline_nomination(s, context(s), nomination.id, "From an old tab", version=1)
        s.rollback()
        assert s.get(Nomination, nomination.id).status == NominationStatus.MORE_INFORMATION_REQUESTED
        assert (
            s.scalar(
                select(func.count()).select_from(NominationEvent).where(NominationEvent.nomination_id == nomination.id)
            )
            == events
        )


def test_of_two_concurrent_decisions_exactly_one_wins(app):
    with session_of(app) as s:
        nomination = tyler_nomination(s)
    maker = app.extensions["db_sessionmaker"]
    outcomes: dict[str, object] = {}
    with app.app_context():
        first = maker()
        ctx = context(first)
        service.decline_nomination(first, ctx, nomination.id, "First coordinator", version=1)  # holds the row

        def second() -> None:
            with app.app_context():
                other = maker()
                try:
                    service.request_information(other, ctx, nomination.id, "Second coordinator", version=1)
                    other.commit()
                    outcomes["second"] = "applied"
                except StaleNomination:
                    outcomes["second"] = "stale"
                except AccessDenied as exc:  # saw the decision already made
                    outcomes["second"] = exc.decision.failed[0].code
                finally:
                    other.close()

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(0.5)  # it waits for the first transaction's lock
        first.commit()
        first.close()
        thread.join(30)
    assert outcomes["second"] in ("stale", "nomination_already_decided")
    with session_of(app) as s:
        assert s.get(Nomination, nomination.id).status == NominationStatus.NOT_ACCEPTED
        messages = [
            e.message for e in s.scalars(select(NominationEvent).where(NominationEvent.nomination_id == nomination.id))
        ]
        assert "Second coordinator" not in messages


# -------------------------------------------------------------------------------------- accepting


def criteria_to_threshold(framework, route_criterion: str) -> set[str]:
    """The route's criterion and as many others as the framework's threshold needs."""
    others = [c.key for c in framework.criteria if c.key != route_criterion]
    return {route_criterion, *others[: framework.threshold - 1]}


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
            s, people=(Nominee("Jayden", "Quincey", date(2016, 2, 3), nhs_number=UNKNOWN_NHS, postcode="EX9 9ZZ"),)
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
            version=version_of(s, nomination.id),
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
                Nominee("Jayden", "Quincey", date(2016, 2, 3)),
                Nominee("Ava", "Quincey", date(1990, 1, 1), role=service.HouseholdRole.PARENT_CARER),
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
            version=version_of(s, nomination.id),
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
        nomination = create_nomination(s, people=(Nominee("Jayden", "Quincey", date(2016, 2, 3)),))
    with session_of(app) as s:
        review_all(s, context(s), nomination.id)
        nominated = s.scalars(select(NominatedPerson).where(NominatedPerson.nomination_id == nomination.id)).one()
        with pytest.raises(TriageError, match="Not criteria"):
            accept.accept_nomination(
                s,
                context(s),
                nomination.id,
                current_framework(),
                version=version_of(s, nomination.id),
                family=accept.FamilyChoice(new=True),
                criteria={nominated.id: {"flying_saucers"}},
            )
        with pytest.raises(TriageError, match="at least one criterion"):
            accept.accept_nomination(
                s,
                context(s),
                nomination.id,
                current_framework(),
                version=version_of(s, nomination.id),
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
        earlier = create_nomination(s, people=(Nominee("Jayden", "Quincey", date(2016, 2, 3)),), reference="SFN-EARLY1")
        later = create_nomination(
            s,
            people=(Nominee("Jayden", "Quincey", date(2016, 2, 3)),),
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
            version=version_of(s, earlier.id),
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
            version=version_of(s, later.id),
            family=accept.FamilyChoice(family_id=family_id),
            criteria={later_person: {route.criterion}},
        )
    with session_of(app) as s:
        assert s.get(Nomination, later.id).family_id == family_id
        assert s.scalar(select(func.count()).select_from(FamilyMember).where(FamilyMember.family_id == family_id)) == 1


# ------------------------------------------------------------------------------ after acceptance


def accepted_nomination_for_gp_patient(app):
    """A school nominates a child the GP practice serves (known, in no family); accepted into a new family."""
    with session_of(app) as s:
        child = create_known_person(
            s,
            given_name="Jayden",
            family_name="Quincey",
            date_of_birth=date(2016, 2, 3),
            nhs_number=UNKNOWN_NHS,
            postcode="EX9 9ZZ",
            served_by=(("ods", "Y99001", RelationshipKind.REGISTERED_PATIENT),),
        )
        nomination = create_nomination(
            s, people=(Nominee("Jaden", "Quincey", date(2016, 2, 3), nhs_number=UNKNOWN_NHS, postcode="EX9 9ZZ"),)
        )
    with session_of(app) as s:
        ctx = context(s)
        review_all(s, ctx, nomination.id)
        route = current_framework().route(nomination.route_key)
        nominated = s.scalars(select(NominatedPerson).where(NominatedPerson.nomination_id == nomination.id)).one()
        assert nominated.person_id == child.id
        accept.accept_nomination(
            s,
            ctx,
            nomination.id,
            current_framework(),
            version=version_of(s, nomination.id),
            family=accept.FamilyChoice(new=True),
            criteria={nominated.id: {route.criterion, "health"} & {c.key for c in current_framework().criteria}},
        )
    return nomination.id, child.id


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
                version=version_of(s, nomination_id),
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


# -------------------------------------------------------------------------------------- refusals


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
        as_nominees = [Nominee(p.given_name, p.family_name, p.date_of_birth, postcode=p.postcode) for p in browns]
        one = create_nomination(s, people=tuple(as_nominees[1:2]))
        four = create_nomination(s, people=(*as_nominees, Nominee("Jayden", "Quincey", date(2016, 2, 3))))

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
            s, people=(Nominee("Jayden", "Quincey", date(2016, 2, 3), nhs_number=UNKNOWN_NHS),)
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
                version=version_of(s, nomination.id),
                family=accept.FamilyChoice(new=True),
                criteria={nominated: {current_framework().route(nomination.route_key).criterion}},
            )
        s.rollback()
        assert s.get(Nomination, nomination.id).status == NominationStatus.SUBMITTED
