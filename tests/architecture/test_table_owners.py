"""Each domain is the only writer of its tables (docs/architecture.md), checked at run time.

A row carries rules its writer must not forget (a person's blind indexes and matching keys, one flag per
member, a nominator relationship recorded once, a user bound to one organisation by issuer and subject),
so each table is written only by the domain that owns it, through that domain's writers
(``portal.organisations.records``, ``portal.families.records``, ``consent.records``,
``referrals.states``, ...). ``TableOwners`` watches a session while real flows run and records every
write made by a module of another domain:

- ORM writes are attributed when they are made, not when they are flushed (a flush runs wherever the
  next query or the access-log append happens to be): the module that adds an object
  (``before_attach``), constructs or changes it (attribute ``set``/``append``/``remove`` events) is the
  first frame of the call stack inside the four packages; ``before_flush`` then checks every new, dirty
  and deleted object against its table's owner.
- Core INSERT/UPDATE/DELETE statements (the state machine's compare-and-swap, the access-log append)
  are attributed to the module that executes them (``before_cursor_execute``); the ORM's own flush
  statements are left to the check above.

Helpers that write on a caller's behalf (``NEUTRAL``) are skipped on the stack, so the domain that
called them is the writer. The flows are the demo seed (every domain's data, seeded by its writers), a
nomination drafted, submitted and linked, triaged, answered, accepted into a new family with its lead,
notice and flags, a relationships import and an emergency access reviewed, on SQLite and PostgreSQL;
the self-tests prove that a deliberate cross-domain write is caught, each way.
"""

from __future__ import annotations

import re
import sys
import types
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, object_mapper

from consent.models import NoticeMethod, NoticeVersion
from portal import db
from portal.auth.dev_idp import issuer
from portal.demo.seed import seed_demo
from portal.families import records
from portal.families import service as flags
from portal.families.identifiers import synthetic_nhs_number, synthetic_upn
from portal.families.imports import import_relationships_file
from portal.families.models import Family, Person, RelationshipKind
from portal.gate import AccessContext
from portal.models import Base  # every model: every table must have an owner
from portal.organisations.models import CodeScheme, Organisation, User
from referrals.journey import service as journey
from referrals.models import NominatedPerson, Nomination
from referrals.setup import current_framework
from referrals.triage import accept, family, service
from tests.conftest import build_app, free_port

PACKAGES = ("portal", "consent", "referrals", "sharing_protocols")
#: module prefix -> its domain (the longest prefix wins); any other module of the packages owns nothing
DOMAINS = (
    "portal.organisations",
    "portal.families",
    "consent",
    "sharing_protocols.register",
    "referrals",
    "portal.access_log",
    "portal.auth",
)
#: helpers that write only on their caller's behalf: the caller is the writer
NEUTRAL = ("portal.db", "portal.crypto", "sharing_protocols.yaml_register")

OWNERS = {
    **dict.fromkeys(("organisation", "app_user", "user_role"), "portal.organisations"),
    **dict.fromkeys(
        (
            "person",
            "family",
            "family_member",
            "flag",
            "flag_concern",
            "service_relationship",
            "break_glass_access",
        ),
        "portal.families",
    ),
    **dict.fromkeys(
        ("notice_version", "notice_coverage", "notice_given", "notice_given_member", "objection"), "consent"
    ),
    **dict.fromkeys(
        ("sharing_protocol", "protocol_party", "protocol_flow", "sharing_register_state"),
        "sharing_protocols.register",
    ),
    **dict.fromkeys(
        ("nomination", "nominated_person", "nomination_event", "match_review", "criterion_met"), "referrals"
    ),
    "server_session": "portal.auth",
}

_DML = re.compile(r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)', re.IGNORECASE)


def owner_of(table: str) -> str:
    if table.startswith("access_log_"):
        return "portal.access_log"
    return OWNERS[table]


def domain_of(module: str) -> str:
    """A module's domain; a module of no domain (the demo, the gate, the shell) is its own, owning nothing."""
    found = [d for d in DOMAINS if module == d or module.startswith(d + ".")]
    return max(found, key=len) if found else module


def _in_packages(module: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in PACKAGES)


def writer() -> str | None:
    """The module that is writing: the first frame of the call stack inside the four packages, past the
    neutral helpers (None when no production code is on the stack)."""
    frame = sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if _in_packages(module) and not any(module == n or module.startswith(n + ".") for n in NEUTRAL):
            return module
        frame = frame.f_back
    return None


def _in_flush() -> bool:
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename.replace("\\", "/").endswith("sqlalchemy/orm/unitofwork.py"):
            return True
        frame = frame.f_back
    return False


@dataclass
class TableOwners:
    """Records every write of a table by a module outside the table's domain, as (module, table)."""

    violations: set[tuple[str, str]] = field(default_factory=set)
    _writers: dict[int, tuple[object, set[str | None]]] = field(default_factory=dict)

    def wrote(self, instance: object) -> None:
        _, modules = self._writers.setdefault(id(instance), (instance, set()))
        modules.add(writer())

    def check(self, module: str | None, table: str) -> None:
        if module is None or domain_of(module) != owner_of(table):
            self.violations.add((module or "(no production code)", table))

    # -- the listeners

    def _attached(self, _session: Session, instance: object) -> None:
        self.wrote(instance)

    def _changed(self, target: object, value: object, *_args: Any) -> object:
        self.wrote(target)
        if isinstance(value, Base):
            self.wrote(value)
        return value

    def _flushing(self, session: Session, *_args: Any) -> None:
        for instance in [*session.new, *session.dirty, *session.deleted]:
            table = object_mapper(instance).local_table.name
            recorded = self._writers.get(id(instance))
            for module in recorded[1] if recorded else {writer()}:
                self.check(module, table)

    def _executing(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        match = _DML.match(statement)
        if match and not _in_flush():
            self.check(writer(), match.group(1))

    @contextmanager
    def watching(self, engine: Any) -> Iterator[TableOwners]:
        attributes = [
            (getattr(mapper.class_, attr.key), name)
            for mapper in Base.registry.mappers
            for attr in mapper.attrs
            for name in (("append", "remove") if getattr(attr, "uselist", False) else ("set",))
        ]
        listeners: list[tuple[Any, str, Callable[..., Any]]] = [
            (Session, "before_attach", self._attached),
            (Session, "before_flush", self._flushing),
            (engine, "before_cursor_execute", self._executing),
            *((attribute, name, self._changed) for attribute, name in attributes),
        ]
        for target, name, fn in listeners:
            event.listen(target, name, fn)
        try:
            yield self
        finally:
            for target, name, fn in listeners:
                event.remove(target, name, fn)


# ------------------------------------------------------------------------------------------- flows


@pytest.fixture
def bare_app(database_url, tmp_path) -> Iterator[Flask]:
    """The portal on a migrated, empty database: the demo seed runs under the watch too."""
    app = build_app(database_url, tmp_path, free_port())
    yield app
    app.extensions["db_engine"].dispose()


def step(app: Flask, do: Callable[[Session], Any]) -> Any:
    """One request's worth of work, committed (as ``@commits`` does after a 2xx)."""
    with app.test_request_context():
        session = db.session()
        result = do(session)
        session.commit()
        return result


def context(session: Session, subject: str) -> AccessContext:
    user = session.scalar(select(User).where(User.subject == subject))
    assert user is not None, subject
    return AccessContext(
        user_id=user.id,
        organisation_id=user.organisation_id,
        organisation_kind=user.organisation.kind.value,
        roles=frozenset(r.value for r in user.roles),
        request_id=uuid.uuid4().hex,
        ip="127.0.0.1",
        user_agent="pytest",
        at=datetime.now(UTC),
    )


def _draft(app: Flask, subject: str, person: journey.PersonAnswers, category: str) -> uuid.UUID:
    """A nomination drafted page by page through the journey's services, with a member added, removed
    and added again."""
    framework = step(app, lambda _s: current_framework())
    draft_id = uuid.uuid4()

    def page(call: Callable[..., Any], *args: Any) -> Any:
        return step(app, lambda s: call(s, context(s, subject), *args))

    kind = step(app, lambda s: context(s, subject).organisation_kind)
    route = next(r for r in framework.routes_for(kind) if r.category == category)
    step(app, lambda s: journey.start_draft(s, context(s, subject), framework, draft_id, immediate_risk=False))
    page(journey.choose_route, framework, draft_id, route.key)
    page(journey.save_person, draft_id, person)
    parent = journey.PersonAnswers("Sam", person.family_name, date(1988, 3, 1), role="parent_carer")
    page(journey.add_member, draft_id, parent)
    page(journey.remove_member, draft_id, 1)
    page(journey.add_member, draft_id, parent)
    page(journey.save_concern, draft_id, "Misses most Mondays; seems tired and hungry.")
    page(journey.save_tried, draft_id, "Two meetings with the parents.")
    page(journey.save_family_told, draft_id, "told_and_notice_given")
    version = step(app, lambda s: s.scalar(select(Nomination.version).where(Nomination.id == draft_id)))
    step(app, lambda s: journey.submit_nomination(s, context(s, subject), framework, draft_id, version=version))
    return draft_id


def _version(session: Session, nomination_id: uuid.UUID) -> int:
    return session.scalar(select(Nomination.version).where(Nomination.id == nomination_id))


def _triage_and_accept(app: Flask, nomination_id: uuid.UUID) -> None:
    """The coordinator reviews the matches, asks a question (answered by the nominator), accepts into a
    new family, and sets up its support: lead professional, notice, flags."""
    framework = step(app, lambda _s: current_framework())

    def review(s: Session) -> None:
        ctx = context(s, "sf.coordinator")
        for person in service.get_nomination_for(s, ctx, nomination_id, framework).people:
            choice = service.MatchChoice.CONFIRM if person.candidates else service.MatchChoice.NEW_PERSON
            known = person.candidates[0].person.id if person.candidates else None
            service.review_match(
                s, ctx, nomination_id, person.id, choice, version=_version(s, nomination_id), person_id=known
            )

    step(app, review)
    step(app, lambda s: service.request_information(s, context(s, "sf.coordinator"), nomination_id, "Which days?"))
    step(
        app,
        lambda s: journey.give_information(
            s, context(s, "school.practitioner"), nomination_id, version=_version(s, nomination_id), message="Mondays."
        ),
    )

    def accept_it(s: Session) -> None:
        people = s.scalars(select(NominatedPerson).where(NominatedPerson.nomination_id == nomination_id)).all()
        route = framework.route(s.get(Nomination, nomination_id).route_key)
        accept.accept_nomination(
            s,
            context(s, "sf.coordinator"),
            nomination_id,
            framework,
            version=_version(s, nomination_id),
            family=accept.FamilyChoice(new=True),
            criteria={p.id: {route.criterion} for p in people if p.ordinal == 0},
        )

    step(app, accept_it)

    def support(s: Session) -> None:
        ctx = context(s, "sf.coordinator")
        lead = s.scalar(select(User.id).where(User.subject == "sf.lead1"))
        family.assign_lead_professional(s, ctx, nomination_id, lead, version=_version(s, nomination_id))
        setup = family.get_family_setup_for(s, ctx, nomination_id, framework)
        notice = s.scalar(select(NoticeVersion.id).order_by(NoticeVersion.published_on.desc()))
        family.record_notice(
            s,
            ctx,
            nomination_id,
            version=_version(s, nomination_id),
            notice_version_id=notice,
            member_ids=[m.person_id for m in setup.members],
            given_on=ctx.today,
            method=NoticeMethod.IN_PERSON,
            given_by_id=ctx.user_id,
        )
        family.raise_flags(
            s,
            ctx,
            nomination_id,
            version=_version(s, nomination_id),
            review_on=ctx.today + family.FLAG_REVIEW_AFTER,
            ends_on=ctx.today + family.FLAG_ENDS_AFTER,
            family_told=True,
        )

    step(app, support)


def _import_and_break_glass(app: Flask) -> None:
    """A practice's list of patients imported (replacing the last), and an emergency access reviewed."""

    def import_list(s: Session) -> None:
        gp = s.scalar(select(Organisation).where(Organisation.code_scheme == CodeScheme.ODS))
        known = [p.nhs_number for p in s.scalars(select(Person)) if p.nhs_number][:5]
        data = ("nhs_number\n" + "\n".join([*known, synthetic_nhs_number(123_456)]) + "\n").encode()
        import_relationships_file(s, gp.id, RelationshipKind.REGISTERED_PATIENT, data, today=date.today(), replace=True)

    step(app, import_list)
    kelly = step(app, lambda s: next(p.nhs_number for p in s.scalars(select(Person)) if p.full_name == "Kelly Brown"))
    reason = "Police report a child at risk at this address tonight"
    grant = step(app, lambda s: flags.start_break_glass(s, context(s, "probation.practitioner"), kelly, reason).id)
    step(app, lambda s: flags.view_break_glass(s, context(s, "probation.practitioner"), grant))
    step(app, lambda s: flags.mark_break_glass_reviewed(s, grant, context(s, "sf.dpo").user_id, datetime.now(UTC)))


def test_every_table_has_an_owner():
    assert {t for t in Base.metadata.tables if not t.startswith("access_log_")} == set(OWNERS)


def test_the_real_flows_write_only_their_own_tables(bare_app):
    guard = TableOwners()
    with guard.watching(bare_app.extensions["db_engine"]):
        step(bare_app, lambda s: seed_demo(s, issuer(bare_app)))  # every demo, nominations and triage too
        school = journey.PersonAnswers(
            "Jamie", "Owner", date(2015, 4, 3), synthetic_nhs_number(654_321), synthetic_upn(4321), "EX1 1AA"
        )
        nomination_id = _draft(bare_app, "school.practitioner", school, "education")
        kelly = step(bare_app, lambda s: next(p for p in s.scalars(select(Person)) if p.full_name == "Kelly Brown"))
        known = journey.PersonAnswers("Kelly", "Brown", kelly.date_of_birth, kelly.nhs_number, None, kelly.postcode)
        linked = _draft(bare_app, "gp.practitioner", known, "health")  # linked: a nominator relationship
        _triage_and_accept(bare_app, nomination_id)
        _import_and_break_glass(bare_app)
    assert step(bare_app, lambda s: s.get(Nomination, linked).status.value) == "linked"
    assert step(bare_app, lambda s: s.get(Nomination, nomination_id).status.value) == "accepted"
    assert guard.violations == set()


# ------------------------------------------------------------------------------------- self-tests


def as_if_in(module: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` running as if it were code of ``module``: its frames carry that module's name, which is
    all the guard goes by."""
    return types.FunctionType(fn.__code__, {**fn.__globals__, "__name__": module}, fn.__name__)


def _add_person(session: Session) -> None:
    session.add(Person(given_name="A", family_name="B"))


def _add_person_and_flush(session: Session) -> None:
    _add_person(session)
    session.flush()


def _change_family(session: Session, family: Family) -> None:
    family.lead_professional_id = None
    session.flush()


def _update_families(session: Session) -> None:
    session.execute(update(Family).values(closed_on=None))


def test_the_guard_catches_a_cross_domain_write_each_way(bare_app):
    new_row = as_if_in("referrals.rogue", _add_person_and_flush)
    changed_row = as_if_in("referrals.rogue", _change_family)
    statement = as_if_in("referrals.rogue", _update_families)
    guard = TableOwners()
    with bare_app.app_context(), guard.watching(bare_app.extensions["db_engine"]):
        session = db.session()
        family_id = records.create_family(session, reference="SF-999999", attached_on=date.today()).id
        assert guard.violations == set()  # the owner's own writer passes
        new_row(session)
        assert guard.violations == {("referrals.rogue", "person")}
        changed_row(session, session.get(Family, family_id))
        statement(session)
        session.rollback()
    assert guard.violations == {("referrals.rogue", "person"), ("referrals.rogue", "family")}


def test_the_guard_attributes_a_write_to_the_module_that_made_it_not_the_one_that_flushed(bare_app):
    """A row added by another domain and flushed later by the owner's writer is still the other domain's."""
    add = as_if_in("referrals.rogue", _add_person)
    guard = TableOwners()
    with bare_app.app_context(), guard.watching(bare_app.extensions["db_engine"]):
        session = db.session()
        add(session)
        records.create_family(session, reference="SF-999998", attached_on=date.today())  # flushes both
        session.rollback()
    assert guard.violations == {("referrals.rogue", "person")}
