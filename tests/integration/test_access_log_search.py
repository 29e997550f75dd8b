"""The DPO's search of the access log: each filter, newest first, pages, one entry by number."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import event, text, update
from sqlalchemy.orm import Session

from portal.access_log import chain, signing
from portal.access_log import search as service
from portal.access_log.search import LogFilters
from tests.integration.test_access_log import (
    FAMILIES,
    ORGS,
    PEOPLE,
    START,
    SUBJECT,
    USERS,
    append_many,
    new_entry,
    tampering,
)


@pytest.fixture
def sealer() -> signing.Sealer:
    return signing.Sealer(Ed25519PrivateKey.generate(), interval=5)


@pytest.fixture
def log(engine, sealer):
    append_many(engine, sealer, 24)  # entry i happened at START + i hours
    with Session(engine) as session:
        yield session


def seqs(page: service.LogPage) -> list[int]:
    return [e.seq for e in page.entries]


def test_newest_first_with_pages(log):
    first = service.search_log(log, LogFilters(), page=1, per_page=10)
    assert seqs(first) == list(range(24, 14, -1))
    assert first.has_next and not first.has_previous
    last = service.search_log(log, LogFilters(), page=3, per_page=10)
    assert seqs(last) == [4, 3, 2, 1]
    assert not last.has_next and last.has_previous


def test_filter_by_person_uses_the_subjects(log):
    page = service.search_log(log, LogFilters(person_id=PEOPLE[0]))
    expected = [i for i in range(24, 0, -1) if PEOPLE[0] in {PEOPLE[(i + k) % 6] for k in range(i % 3)}]
    assert seqs(page) == expected and expected
    assert all(any(s.person_id == PEOPLE[0] for s in e.subjects) for e in page.entries)


def test_filter_by_family(log):
    page = service.search_log(log, LogFilters(family_id=FAMILIES[1]))
    expected = [i for i in range(24, 0, -1) if FAMILIES[1] in {FAMILIES[(i + k) % 3] for k in range(i % 3)}]
    assert seqs(page) == expected and expected


def test_filter_by_actor_outcome_and_event(log):
    assert seqs(service.search_log(log, LogFilters(actor_user_id=USERS[1]))) == [
        i for i in range(24, 0, -1) if i % 3 == 1
    ]
    assert seqs(service.search_log(log, LogFilters(actor_organisation_id=ORGS[0], outcome="denied"))) == [
        i for i in range(24, 0, -1) if i % 4 == 0
    ]
    assert seqs(service.search_log(log, LogFilters(event="signed_in"))) == [i for i in range(24, 0, -1) if i % 3 == 0]


def test_filter_by_council_calendar_days(log):
    # START is 09:00 UTC on 1 March 2026 (GMT); entries run hourly to 09:00 on 2 March
    page = service.search_log(log, LogFilters(date_from=date(2026, 3, 2), date_to=date(2026, 3, 2)))
    assert seqs(page) == [i for i in range(24, 0, -1) if (START + timedelta(hours=i)).date() == date(2026, 3, 2)]
    assert seqs(service.search_log(log, LogFilters(date_to=date(2026, 2, 28)))) == []


def test_london_dates_in_summer_time(engine, sealer):
    """23:30 UTC on 1 July is 00:30 on 2 July in London: it belongs to the DPO's 2 July."""
    late = datetime(2026, 7, 1, 23, 30, tzinfo=ZoneInfo("UTC"))
    with Session(engine) as session:
        chain.append(session, new_entry(3, occurred_at=late), sealer=sealer)
        session.commit()
        assert seqs(service.search_log(session, LogFilters(date_from=date(2026, 7, 2)))) == [1]
        assert seqs(service.search_log(session, LogFilters(date_to=date(2026, 7, 1)))) == []


def test_an_entry_reads_back_as_recorded(log):
    entry = service.get_entry(log, 8)
    assert entry.occurred_at == START + timedelta(hours=8)
    assert (entry.event, entry.outcome, entry.actor_roles) == ("flags_listed", "denied", ("practitioner",))
    assert entry.reasons == ("role", "relationship")
    assert entry.detail == {"provider": "dev", "note": 'quote " and \\ and é'}
    assert [(s.ordinal, s.person_id, s.family_id, s.tier, s.categories) for s in entry.subjects] == [
        (0, PEOPLE[2], FAMILIES[2], 1, ("health",)),
        (1, PEOPLE[3], FAMILIES[0], 1, ("health",)),
    ]
    with pytest.raises(service.EntryNotFound):
        service.get_entry(log, 999)


@pytest.mark.parametrize(
    "filters",
    [LogFilters(person_id="not-a-uuid"), LogFilters(outcome="maybe"), LogFilters(event="flag_peeked")],
)
def test_bad_filters_are_refused(log, filters):
    with pytest.raises(ValueError):
        service.search_log(log, filters)


def test_page_sizes_are_bounded(log):
    with pytest.raises(ValueError):
        service.search_log(log, LogFilters(), per_page=501)
    with pytest.raises(ValueError):
        service.search_log(log, LogFilters(), page=0)


def test_subjects_with_only_a_person_or_only_a_family(engine, sealer):
    subjects = [chain.SubjectRef(family_id=FAMILIES[2], tier=0), chain.SubjectRef(person_id=PEOPLE[5], tier=1)]
    with Session(engine) as session:
        chain.append(session, new_entry(3, subjects=subjects), sealer=sealer)
        chain.append(session, new_entry(6), sealer=sealer)  # no subjects
        session.commit()
        assert seqs(service.search_log(session, LogFilters(family_id=FAMILIES[2]))) == [1]
        assert seqs(service.search_log(session, LogFilters(person_id=PEOPLE[5]))) == [1]
        # an id is matched only as what it was recorded as
        assert seqs(service.search_log(session, LogFilters(person_id=FAMILIES[2]))) == []
        assert seqs(service.search_log(session, LogFilters(family_id=PEOPLE[5]))) == []
        assert [(s.ordinal, s.person_id, s.family_id, s.tier) for s in service.get_entry(session, 1).subjects] == [
            (0, None, FAMILIES[2], 0),
            (1, PEOPLE[5], None, 1),
        ]
        assert service.get_entry(session, 2).subjects == ()


def test_a_malformed_subject_row_still_reads_back(log, engine):
    """Only tampering makes one (verification names the entry); the DPO can still open the entry."""
    with tampering(engine) as connection:
        connection.execute(update(SUBJECT).where(SUBJECT.c.entry_seq == 8).values(records="\x1e0\x1fforged"))
    (subject,) = service.get_entry(log, 8).subjects
    assert subject.person_id is None and subject.categories == (" | 0 forged",)


@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.parametrize("filters", [LogFilters(person_id=PEOPLE[0]), LogFilters(family_id=FAMILIES[1])])
def test_postgresql_finds_people_and_families_through_the_gin_indexes(log, engine, backend, filters):
    """The search's expression must match the migration's index expression, or it scans the log."""
    statements: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().startswith("SELECT") and "access_log_entry" in statement:
            statements.append((statement, parameters))

    event.listen(log.get_bind(), "before_cursor_execute", capture)
    try:
        service.search_log(log, filters)
    finally:
        event.remove(log.get_bind(), "before_cursor_execute", capture)
    statement, parameters = statements[0]
    log.execute(text("SET LOCAL enable_seqscan = off"))
    cursor = log.connection().connection.driver_connection.cursor()
    cursor.execute("EXPLAIN " + statement, parameters)
    plan = "\n".join(row[0] for row in cursor.fetchall())
    index = "ix_access_log_subject_person_ids" if filters.person_id else "ix_access_log_subject_family_ids"
    assert f"Bitmap Index Scan on {index}" in plan, plan
