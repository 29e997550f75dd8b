"""The sharing register as the policy reads it, held in memory per process and per database.

Protocols (with their parties and flows) and notice versions (with their coverage) change rarely, but
every request consults them, so each process keeps them and reloads them when the database's counter
(``sharing_register_state.version``, bumped by triggers on the five register tables in migration 0006)
is not the one the copy was read at. The counter is read with each request's facts, so a suspended
protocol stops its flows at the very next request in every process.

The gate reads the register's tables here, never through the register's services: what the policy
needs is a fact, and the services (which write the register) stand above the gate.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from consent.models import NoticeCoverage, NoticeVersion
from sharing_protocols import policy
from sharing_protocols.register.models import ProtocolFlow, ProtocolParty, SharingProtocol, SharingRegisterState

_P, _PP, _PF = SharingProtocol.__table__, ProtocolParty.__table__, ProtocolFlow.__table__
_PROTOCOLS = (
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
    .order_by(_P.c.reference, _P.c.version)
)
_NOTICE_VERSIONS = select(
    NoticeVersion.id,
    NoticeVersion.reference,
    NoticeVersion.version,
    NoticeCoverage.recipient_kind,
    NoticeCoverage.category,
).outerjoin(NoticeCoverage, NoticeCoverage.version_id == NoticeVersion.id)
_VERSION = select(SharingRegisterState.version).where(SharingRegisterState.id == 1)


def protocols(session: Session) -> tuple[policy.Protocol, ...]:
    """Every protocol in the register, whoever its parties and whatever its status, as the policy reads it."""
    return _fold_protocols(session.execute(_PROTOCOLS).all())


def _fold_protocols(rows: Sequence[Any]) -> tuple[policy.Protocol, ...]:
    """One policy ``Protocol`` per protocol from its rows joined to its parties and flows."""
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


def notice_versions(session: Session) -> dict[str, tuple[str, frozenset[tuple[str, str]]]]:
    """Every notice version: id -> (its reference as quoted to users, its coverage)."""
    versions: dict[str, tuple[str, set[tuple[str, str]]]] = {}
    for r in session.execute(_NOTICE_VERSIONS):
        entry = versions.setdefault(str(r.id), (f"{r.reference} v{r.version}", set()))
        if r.recipient_kind is not None:
            entry[1].add((r.recipient_kind, r.category))
    return {key: (ref, frozenset(coverage)) for key, (ref, coverage) in versions.items()}


def version(session: Session) -> int:
    """The counter the database bumps on every change to the register (migration 0006)."""
    return int(session.execute(_VERSION).scalar_one())


@dataclass(frozen=True)
class Register:
    """The sharing register at one value of the database's counter."""

    version: int
    protocols: tuple[policy.Protocol, ...]
    #: notice version id -> (reference quoted to users, coverage as (recipient kind, category) pairs)
    notice_versions: Mapping[str, tuple[str, frozenset[tuple[str, str]]]]
    #: (organisation id, kind) -> the protocols naming it, filled as organisations ask
    naming: dict[tuple[str, str], tuple[policy.Protocol, ...]] = field(default_factory=dict)

    def protocols_for(self, organisation_id: str, kind: str) -> tuple[policy.Protocol, ...]:
        """The protocols naming this organisation or its kind, whatever their status (the policy judges)."""
        found = self.naming.get((organisation_id, kind))
        if found is None:
            found = self.naming[(organisation_id, kind)] = tuple(
                p for p in self.protocols if organisation_id in p.party_organisation_ids or kind in p.party_kinds
            )
        return found


#: one register per database (an engine), per process; replaced whole when the counter moves
_registers: weakref.WeakKeyDictionary[Engine, Register] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def at_version(session: Session, counter: int) -> Register:
    """The in-memory register, reloaded when the database's counter is not ``counter``'s copy.

    The counter is read again before the register's rows, so a copy is never older than the counter it
    is labelled with: a change committed in between only makes the next request reload again.
    """
    engine = session.get_bind().engine
    current = _registers.get(engine)
    if current is not None and current.version == counter:
        return current
    loaded = Register(version(session), protocols(session), notice_versions(session))
    with _lock:
        _registers[engine] = loaded
    return loaded


def current(session: Session) -> Register:
    """The register as it stands now (one small statement for the counter), for a decision with no
    subject facts to gather (a nomination's protocol check)."""
    return at_version(session, version(session))
