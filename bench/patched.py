"""The fixes proposed in bench/README.md, applied by monkeypatching, so they can be measured beside the
unchanged app in the same run before anyone edits the app. Nothing here is imported by the portal.

Each replacement keeps the original's inputs, outputs and decisions; only the SQL and the Python around
it change. The proposals (same letters as the README):

- (a) ``portal.families.service._served_by``: the list's ``person IN (served) OR family lead = me`` made
  PostgreSQL hash-join every live flag with every open family (a sequential scan of both, ~8,000 rows
  filtered per list request). As ``flag.id IN (... UNION ...)`` both halves use their indexes.
- (b) ``sharing_protocols.service.protocol_facts``: one Core query (protocols joined to parties and
  flows) instead of three ORM queries (protocols + two ``selectinload``) building ORM objects.
- (c) ``consent.service.notice_facts``: one Core query (notices joined to their version, members and
  coverage as aggregated strings) instead of four.
- (d) ``portal.families.service._load``: Core column queries (persons, flags joined to their family
  reference, only the granted concerns, lead professionals as columns) instead of ORM entities; the
  lead-professional query no longer loads ``User`` entities (which pulled their roles with a second
  ``selectin`` query), and concern details the decision did not grant are no longer fetched or
  decrypted at all.
- (e) The user loader (Flask-Login): one query with the user's roles joined instead of two.
- (f) ``portal.db.make_engine``: no ``pool_pre_ping`` (a ``SELECT 1`` round trip at each of the two
  pool checkouts per request); rely on ``pool_recycle`` and the pool's invalidation of a connection that
  fails instead.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import date
from typing import Any

from flask import Flask
from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.orm import Session, joinedload

from consent.models import NoticeCoverage, NoticeGiven, NoticeGivenMember, NoticeVersion
from portal import db
from portal.families import service as families_service
from portal.families.models import Family, Flag, FlagConcern, Person, ServiceRelationship
from portal.organisations.models import Organisation, User
from sharing_protocols import policy
from sharing_protocols.models import ProtocolFlow, ProtocolParty, SharingProtocol
from sharing_protocols.vocabulary import category_label


# (a) ------------------------------------------------------------------------------------------------
def served_by(ctx: Any, on: date) -> Any:
    served = select(ServiceRelationship.person_id).where(
        ServiceRelationship.organisation_id == ctx.organisation_id,
        ServiceRelationship.valid_from <= on,
        or_(ServiceRelationship.valid_to.is_(None), ServiceRelationship.valid_to >= on),
    )
    led = select(Flag.id).join(Family, Family.id == Flag.family_id).where(Family.lead_professional_id == ctx.user_id)
    return Flag.id.in_(select(Flag.id).where(Flag.person_id.in_(served)).union(led))


# (b) ------------------------------------------------------------------------------------------------
_P, _PP, _PF = SharingProtocol.__table__, ProtocolParty.__table__, ProtocolFlow.__table__


def protocol_facts(session: Session, organisation_id: uuid.UUID, organisation_kind: str) -> tuple[policy.Protocol, ...]:
    naming = select(_PP.c.protocol_id).where(
        or_(_PP.c.organisation_id == organisation_id, _PP.c.organisation_kind == organisation_kind)
    )
    rows = session.execute(
        select(
            _P.c.id,
            _P.c.reference,
            _P.c.version,
            _P.c.status,
            _P.c.valid_from,
            _P.c.valid_to,
            _P.c.lawful_basis,
            _PP.c.organisation_id,
            _PP.c.organisation_kind,
            _PF.c.category,
            _PF.c.purpose,
            _PF.c.direction,
        )
        .select_from(_P.outerjoin(_PP, _PP.c.protocol_id == _P.c.id).outerjoin(_PF, _PF.c.protocol_id == _P.c.id))
        .where(_P.c.id.in_(naming))
        .order_by(_P.c.reference, _P.c.version)
    ).all()
    found: dict[uuid.UUID, tuple[Any, set[str], set[str], set[policy.Flow]]] = {}
    for r in rows:
        entry = found.setdefault(r.id, (r, set(), set(), set()))
        if r.organisation_id is not None:
            entry[1].add(str(r.organisation_id))
        if r.organisation_kind is not None:
            entry[2].add(r.organisation_kind)
        if r.category is not None:
            entry[3].add(policy.Flow(r.category, r.purpose, r.direction))
    return tuple(
        policy.Protocol(
            id=str(r.id),
            reference=f"{r.reference} v{r.version}",
            status=r.status.value,
            valid_from=r.valid_from,
            valid_to=r.valid_to,
            party_organisation_ids=frozenset(orgs),
            party_kinds=frozenset(kinds),
            flows=frozenset(flows),
            lawful_basis=r.lawful_basis,
        )
        for r, orgs, kinds, flows in found.values()
    )


# (c) ------------------------------------------------------------------------------------------------
def notice_facts(session: Session, family_ids: Collection[uuid.UUID]) -> tuple[policy.NoticeGiven, ...]:
    if not family_ids:
        return ()
    members = (
        select(func.aggregate_strings(cast(NoticeGivenMember.person_id, String), ","))
        .where(NoticeGivenMember.notice_id == NoticeGiven.id)
        .scalar_subquery()
    )
    coverage = (
        select(func.aggregate_strings(NoticeCoverage.recipient_kind + ":" + NoticeCoverage.category, ","))
        .where(NoticeCoverage.version_id == NoticeGiven.version_id)
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            NoticeGiven.id,
            NoticeGiven.family_id,
            NoticeGiven.given_on,
            NoticeVersion.reference,
            NoticeVersion.version,
            members.label("members"),
            coverage.label("coverage"),
        )
        .join(NoticeVersion, NoticeVersion.id == NoticeGiven.version_id)
        .where(NoticeGiven.family_id.in_(family_ids))
    ).all()
    return tuple(
        policy.NoticeGiven(
            id=str(r.id),
            version_ref=f"{r.reference} v{r.version}",
            family_id=str(r.family_id),
            member_person_ids=frozenset(r.members.split(",")) if r.members else frozenset(),
            given_on=r.given_on,
            coverage=frozenset(tuple(c.split(":", 1)) for c in r.coverage.split(",")) if r.coverage else frozenset(),
        )
        for r in rows
    )


# (d) ------------------------------------------------------------------------------------------------
def load(session: Session, chosen: Sequence[tuple[Any, policy.Decision]]) -> list[families_service.FlaggedPerson]:
    if not chosen:
        return []
    person_ids = [uuid.UUID(c.subject.person_id) for c, _ in chosen]
    flag_ids = [c.flag_id for c, _ in chosen]
    granted = set().union(*(d.categories for _, d in chosen))
    people = {
        r.id: r
        for r in session.execute(
            select(
                Person.id, Person.given_name, Person.family_name, Person.date_of_birth, Person.nhs_number, Person.upn
            ).where(Person.id.in_(person_ids))
        )
    }
    flags = {
        r.id: r
        for r in session.execute(
            select(
                Flag.id,
                Flag.family_id,
                Flag.raised_at,
                Flag.review_on,
                Flag.ends_on,
                Flag.family_told,
                Family.reference,
            )
            .join(Family, Family.id == Flag.family_id)
            .where(Flag.id.in_(flag_ids))
        )
    }
    concerns: dict[uuid.UUID, list[tuple[str, str | None]]] = defaultdict(list)
    if granted:
        for flag_id, category, detail in session.execute(
            select(FlagConcern.flag_id, FlagConcern.category, FlagConcern.detail)
            .where(FlagConcern.flag_id.in_(flag_ids), FlagConcern.category.in_(granted))
            .order_by(FlagConcern.flag_id, FlagConcern.category)
        ):
            concerns[flag_id].append((category, detail))
    lead_ids = {
        uuid.UUID(c.subject.lead_professional_user_id) for c, _ in chosen if c.subject.lead_professional_user_id
    }
    leads: dict[uuid.UUID, families_service.LeadProfessional] = {}
    if lead_ids:
        for r in session.execute(
            select(User.id, User.display_name, User.job_title, User.email, User.phone, Organisation.name)
            .join(Organisation, Organisation.id == User.organisation_id)
            .where(User.id.in_(lead_ids))
        ):
            leads[r.id] = families_service.LeadProfessional(r.display_name, r.job_title, r.name, r.email, r.phone)
    result = []
    for candidate, decision in chosen:
        person = people[uuid.UUID(candidate.subject.person_id)]
        flag = flags[candidate.flag_id]
        lead_id = candidate.subject.lead_professional_user_id
        result.append(
            families_service.FlaggedPerson(
                person_id=person.id,
                name=f"{person.given_name} {person.family_name}",
                date_of_birth=person.date_of_birth,
                nhs_number=person.nhs_number,
                upn=person.upn,
                family_reference=flag.reference,
                lead=leads.get(uuid.UUID(lead_id)) if lead_id else None,
                concerns=tuple(
                    families_service.Concern(category, category_label(category), detail)
                    for category, detail in concerns[flag.id]
                    if category in decision.categories
                ),
                raised_on=flag.raised_at.date(),
                review_on=flag.review_on,
                ends_on=flag.ends_on,
                family_told=flag.family_told,
                tier=decision.tier,
                break_glass=decision.break_glass,
            )
        )
    return result


# (e) ------------------------------------------------------------------------------------------------
def install_user_loader(app: Flask) -> None:
    from flask import session as flask_session

    def _load(user_id: str) -> User | None:
        try:
            wanted = uuid.UUID(user_id)
        except ValueError:
            return None
        user = (
            db.session()
            .scalars(select(User).options(joinedload(User.role_grants)).where(User.id == wanted))
            .unique()
            .first()
        )
        if user is None or not user.is_active:
            return None
        if flask_session.get("organisation_id") != str(user.organisation_id):
            return None
        return user

    app.login_manager.user_loader(_load)  # type: ignore[attr-defined]


# (f) ------------------------------------------------------------------------------------------------
def make_engine(url: str) -> Any:
    from sqlalchemy import create_engine

    return create_engine(url, pool_size=5, max_overflow=5, pool_recycle=3600)


def apply() -> None:
    """Patch the modules in place (call before ``create_app``; then ``install_user_loader(app)``)."""
    import portal.access
    from portal import db as portal_db

    families_service._served_by = served_by
    families_service._load = load
    portal.access.protocol_facts = protocol_facts
    portal.access.notice_facts = notice_facts
    portal_db.make_engine = make_engine


def check_equivalence(app: Flask, manifest: dict[str, Any], practices: int = 10) -> str:
    """Run the unchanged and the patched functions on the same inputs and compare what they return.

    Covers the list (every GP practice's page 1 and 2: candidates, decisions, loaded people) and each
    practice's first flags, plus the protocol and notice facts; everything runs in a transaction that is
    rolled back, so nothing is logged. Raises AssertionError on the first difference.
    """
    import portal.access
    from consent import service as consent_service
    from portal.access import AccessContext
    from sharing_protocols import service as protocols_service

    original = {
        "_served_by": families_service._served_by,
        "_load": families_service._load,
        "protocol_facts": protocols_service.protocol_facts,
        "notice_facts": consent_service.notice_facts,
    }
    checked = 0
    with app.app_context(), app.extensions["db_sessionmaker"]() as session:
        for gp in manifest["gp"][:practices]:
            ctx = AccessContext(
                uuid.UUID(gp["user_id"]),
                uuid.UUID(gp["organisation_id"]),
                "gp_practice",
                frozenset({"practitioner"}),
                "bench-equivalence",
            )
            results = []
            for variant in ("original", "patched"):
                if variant == "original":
                    families_service._served_by, families_service._load = original["_served_by"], original["_load"]
                    portal.access.protocol_facts = original["protocol_facts"]
                    portal.access.notice_facts = original["notice_facts"]
                else:
                    apply()
                pages = [families_service.list_flagged(session, ctx, page=p) for p in (1, 2)]
                flags = [families_service.get_flag_for(session, ctx, uuid.UUID(p)) for p in gp["flag_targets"][:5]]
                protocols = set(portal.access.protocol_facts(session, ctx.organisation_id, "gp_practice"))
                families = {uuid.UUID(manifest["family_of"][p]) for p in gp["served"]}
                notices = set(portal.access.notice_facts(session, families))
                results.append((pages, flags, protocols, notices))
                session.rollback()
            assert results[0] == results[1], f"the patched functions differ for practice {gp['organisation_id']}"
            checked += 1
    apply()
    return f"patched functions return exactly what the originals do for {checked} practices (lists, flags, facts)"
