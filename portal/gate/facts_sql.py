"""The gate's facts in one statement: the tuned twin of ``portal.gate.facts`` (the reference).

A flag page or a list decides from the same facts as ``facts.gather`` reads query by query, but every
request pays for them, so here they come back in one round trip: a ``UNION ALL`` of four selects, each
row tagged by the fact it carries (``fact``). A union needs one type per column, so ids and codes come
back as text, dates stay dates (never text, whose format would depend on the server's settings) and an
objection's basis comes back as its stored token, decrypted here with one look-up of the key ring.
Statements are built once per dialect (``portal.db.prebuilt``) and run on the driver (``portal.db.fetch``).

What each column holds, by fact:

======== ============ ========= ========= ========== ======== ====== ========== ======== ===========
fact     person_id    family_id record_id code       purpose  status day_from   day_to   secret
======== ============ ========= ========= ========== ======== ====== ========== ======== ===========
``r``    the person                       kind                       valid_from valid_to
``n``    the member   family    notice id version id                 given_on
``o``    the person             objection category   purpose  status                     basis token
``v``                                     counter
======== ============ ========= ========= ========== ======== ====== ========== ======== ===========

``tests/integration/test_gate_facts.py`` checks that this and the reference agree on both databases, and
that this table names exactly the columns each select fills.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import Date, Select, String, Text, bindparam, cast, literal_column, null, select, union_all
from sqlalchemy.orm import Session

from consent.models import NoticeGiven, NoticeGivenMember, Objection, ObjectionStatus
from portal.crypto import keyring, raw
from portal.db import any_of, fetch, prebuilt
from portal.families.models import ServiceRelationship
from portal.gate.facts import Gathered, GivenNotice
from sharing_protocols import policy
from sharing_protocols.register.models import SharingRegisterState

_SR, _NG, _NGM = ServiceRelationship.__table__, NoticeGiven.__table__, NoticeGivenMember.__table__
_OBJ, _STATE = Objection.__table__, SharingRegisterState.__table__
COLUMNS = ("fact", "person_id", "family_id", "record_id", "code", "purpose", "status", "day_from", "day_to", "secret")
_UPHELD = ObjectionStatus.UPHELD.value


def _text(column: object) -> object:
    return cast(column, String)


def _row(fact: str, **values: object) -> list[object]:
    """One select's columns in ``COLUMNS`` order, NULL of the right type where the fact has nothing."""
    empty = {"day_from": cast(null(), Date), "day_to": cast(null(), Date), "secret": cast(null(), Text)}
    return [
        literal_column(f"'{fact}'").label("fact"),
        *(values.get(name, empty.get(name, cast(null(), String))).label(name) for name in COLUMNS[1:]),
    ]


def _select(dialect: str, one: bool) -> Select:
    relationships = select(
        *_row(
            "r",
            person_id=_text(_SR.c.person_id),
            code=_text(_SR.c.kind),
            day_from=_SR.c.valid_from,
            day_to=_SR.c.valid_to,
        )
    ).where(_SR.c.organisation_id == bindparam("organisation"), any_of(_SR.c.person_id, "people", dialect, one))
    notices = (
        select(
            *_row(
                "n",
                person_id=_text(_NGM.c.person_id),
                family_id=_text(_NG.c.family_id),
                record_id=_text(_NG.c.id),
                code=_text(_NG.c.version_id),
                day_from=_NG.c.given_on,
            )
        )
        .select_from(_NG.join(_NGM, _NGM.c.notice_id == _NG.c.id))
        .where(any_of(_NG.c.family_id, "families", dialect, one), any_of(_NGM.c.person_id, "people", dialect, one))
    )
    objections = select(
        *_row(
            "o",
            person_id=_text(_OBJ.c.person_id),
            record_id=_text(_OBJ.c.id),
            code=_text(_OBJ.c.category),
            purpose=_text(_OBJ.c.purpose),
            status=_text(_OBJ.c.status),
            secret=raw(_OBJ.c.basis),
        )
    ).where(any_of(_OBJ.c.person_id, "people", dialect, one))
    counter = select(*_row("v", code=_text(_STATE.c.version))).where(_STATE.c.id == 1)
    return union_all(relationships, notices, objections, counter)


#: for one person in at most one family (a flag page), and for any number (a list): PostgreSQL plans a
#: statement about one value better as ``=`` than as ``= ANY`` of a one-element array (``portal.db.any_of``)
_ONE = prebuilt(lambda dialect: _select(dialect, one=True))
_MANY = prebuilt(lambda dialect: _select(dialect, one=False))


def _id(text: str) -> str:
    """An id as ``str(uuid)`` gives it: PostgreSQL's text form already is; SQLite keeps 32 hex digits."""
    return text if len(text) == 36 else str(uuid.UUID(text))


def gather(
    session: Session, organisation_id: uuid.UUID, person_ids: Sequence[uuid.UUID], family_ids: Sequence[uuid.UUID]
) -> Gathered:
    """The facts about these people (in these families) for this organisation, in one statement."""
    if len(person_ids) == 1 and len(family_ids) <= 1:
        statement = _ONE(session)
        params = {
            "organisation": organisation_id,
            "people": person_ids[0],
            "families": family_ids[0] if family_ids else None,
        }
    else:
        statement = _MANY(session)
        params = {"organisation": organisation_id, "people": list(person_ids), "families": list(family_ids)}
    found = Gathered()
    organisation = str(organisation_id)
    ring, basis_of = keyring(), _OBJ.c.basis.type.decode
    notices: dict[str, dict[str, tuple[str, date, set[str]]]] = {}
    # each row unpacked by the names of COLUMNS (named tuples would do it too, at twice the cost per row)
    for fact, person_id, family_id, record_id, code, purpose, status, day_from, day_to, secret in fetch(
        session, statement, params
    ):
        if fact == "r":
            person = _id(person_id)
            found.relationships.setdefault(person, []).append(
                policy.Relationship(organisation, person, code, day_from, day_to)
            )
        elif fact == "n":
            notice = notices.setdefault(_id(family_id), {}).setdefault(_id(record_id), (_id(code), day_from, set()))
            notice[2].add(_id(person_id))
        elif fact == "o":
            person = _id(person_id)
            found.objections.setdefault(person, []).append(
                policy.Objection(_id(record_id), person, code, purpose, status == _UPHELD, basis_of(ring, secret) or "")
            )
        else:
            found.register_version = int(code)
    found.notices = {
        family: {nid: GivenNotice(v, on, frozenset(members)) for nid, (v, on, members) in given.items()}
        for family, given in notices.items()
    }
    return found
