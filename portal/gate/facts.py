"""The facts a decision about people needs, gathered the readable way: one plain query per kind of fact.

This is the reference the gate's tuned statement (``facts_sql``) is tested against on SQLite and
PostgreSQL: both must give the same ``Gathered`` for the same rows. Read this one to know what the facts
are; the tuned one only gathers them in one round trip.

The facts about a set of people, for the acting organisation:
- the organisation's relationships with them, whatever their dates (the policy judges the dates);
- the notices given to their families, each with the members among these people it was given for
  (whether a notice names anyone else never matters to a decision about these people);
- their objections, with the basis of an overridden one (decrypted);
- the sharing register's counter, so the in-memory register can tell whether it is stale.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import NoticeGiven, NoticeGivenMember, Objection, ObjectionStatus
from portal.families.models import ServiceRelationship
from portal.gate import register
from sharing_protocols import policy


@dataclass(frozen=True)
class GivenNotice:
    """A notice given to a family, before the register says what its version covers."""

    version_id: str
    given_on: date
    #: the members it was given for, among the people asked about
    members: frozenset[str]


@dataclass
class Gathered:
    """Every fact about a set of people, keyed by their ids (as ``str(uuid)``)."""

    relationships: dict[str, list[policy.Relationship]] = field(default_factory=dict)
    #: family id -> notice given id -> the notice
    notices: dict[str, dict[str, GivenNotice]] = field(default_factory=dict)
    objections: dict[str, list[policy.Objection]] = field(default_factory=dict)
    #: the sharing register's counter when the facts were read
    register_version: int = 0

    def canonical(self) -> tuple[object, ...]:
        """The facts in a fixed order, to compare two ways of gathering them."""
        return (
            {k: sorted(v, key=repr) for k, v in self.relationships.items()},
            self.notices,
            {k: sorted(v, key=repr) for k, v in self.objections.items()},
            self.register_version,
        )


def gather(
    session: Session, organisation_id: uuid.UUID, person_ids: Sequence[uuid.UUID], family_ids: Sequence[uuid.UUID]
) -> Gathered:
    """The facts about these people (in these families) for this organisation, query by query."""
    found = Gathered()
    organisation = str(organisation_id)
    for r in session.execute(
        select(
            ServiceRelationship.person_id,
            ServiceRelationship.kind,
            ServiceRelationship.valid_from,
            ServiceRelationship.valid_to,
        ).where(ServiceRelationship.organisation_id == organisation_id, ServiceRelationship.person_id.in_(person_ids))
    ):
        person = str(r.person_id)
        found.relationships.setdefault(person, []).append(
            policy.Relationship(organisation, person, r.kind.value, r.valid_from, r.valid_to)
        )
    given: dict[str, dict[str, tuple[str, date, set[str]]]] = {}
    for r in session.execute(
        select(
            NoticeGiven.family_id,
            NoticeGiven.id,
            NoticeGiven.version_id,
            NoticeGiven.given_on,
            NoticeGivenMember.person_id,
        )
        .join(NoticeGivenMember, NoticeGivenMember.notice_id == NoticeGiven.id)
        .where(NoticeGiven.family_id.in_(family_ids), NoticeGivenMember.person_id.in_(person_ids))
    ):
        notice = given.setdefault(str(r.family_id), {}).setdefault(str(r.id), (str(r.version_id), r.given_on, set()))
        notice[2].add(str(r.person_id))
    found.notices = {
        family: {nid: GivenNotice(v, on, frozenset(members)) for nid, (v, on, members) in notices.items()}
        for family, notices in given.items()
    }
    for o in session.scalars(select(Objection).where(Objection.person_id.in_(person_ids))):
        person = str(o.person_id)
        found.objections.setdefault(person, []).append(
            policy.Objection(
                str(o.id), person, o.category, o.purpose, o.status == ObjectionStatus.UPHELD, o.basis or ""
            )
        )
    found.register_version = register.version(session)
    return found
