"""The protocol register: import from a documented YAML file, and protocol facts for the gate.

Until the management screens exist, the register is kept in a YAML file that the information
governance lead edits and a CLI command imports (``flask import-sharing FILE``). The import is all or
nothing: every problem in the file is reported with where it is, and nothing is written unless the
whole file is valid, so a typo can never half-replace the protocols in force.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from sharing_protocols import policy
from sharing_protocols.models import ProtocolFlow, ProtocolParty, ProtocolStatus, SharingProtocol
from sharing_protocols.vocabulary import CATEGORIES, DIRECTIONS, PURPOSES


class RegisterError(ValueError):
    """The register file is not valid; ``problems`` lists every problem with its location."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


@dataclass
class Problems:
    items: list[str] = field(default_factory=list)

    def add(self, where: str, what: str) -> None:
        self.items.append(f"{where}: {what}")


def text_field(
    record: Mapping[str, Any], key: str, where: str, problems: Problems, *, required: bool = True, max_len: int = 200
) -> str | None:
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            problems.add(f"{where}.{key}", "is required")
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        problems.add(f"{where}.{key}", "must be text")
        return None
    value = value.strip()
    if len(value) > max_len:
        problems.add(f"{where}.{key}", f"must be {max_len} characters or fewer")
        return None
    return value


def date_field(
    record: Mapping[str, Any], key: str, where: str, problems: Problems, *, required: bool = True
) -> date | None:
    value = record.get(key)
    if value is None:
        if required:
            problems.add(f"{where}.{key}", "is required (YYYY-MM-DD)")
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    problems.add(f"{where}.{key}", f"must be a date written YYYY-MM-DD, not {value!r}")
    return None


def list_field(record: Mapping[str, Any], key: str, where: str, problems: Problems) -> list[Any]:
    value = record.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        problems.add(f"{where}.{key}", "must be a list")
        return []
    return value


def choice(value: Any, allowed: Mapping[str, str] | set[str], where: str, problems: Problems) -> str | None:
    if isinstance(value, str) and value in allowed:
        return value
    problems.add(where, f"{value!r} is not one of: {', '.join(sorted(allowed))}")
    return None


@dataclass(frozen=True)
class ProtocolSpec:
    reference: str
    version: str
    title: str
    status: ProtocolStatus
    lawful_basis: str
    valid_from: date
    valid_to: date | None
    review_on: date | None
    signatories: str | None
    party_kinds: frozenset[str]
    party_codes: frozenset[tuple[str, str]]  # (code scheme, code)
    flows: frozenset[tuple[str, str, str]]  # (category, purpose, direction)


def parse_protocols(
    records: Any, organisation_kinds: set[str], code_schemes: set[str], problems: Problems
) -> list[ProtocolSpec]:
    """Validate the ``protocols`` section of a register file into specs (problems collected, not raised)."""
    if records is None:
        return []
    if not isinstance(records, list):
        problems.add("protocols", "must be a list")
        return []
    specs: list[ProtocolSpec] = []
    seen: set[tuple[str, str]] = set()
    for i, record in enumerate(records):
        where = f"protocols[{i}]"
        if not isinstance(record, dict):
            problems.add(where, "must be a mapping")
            continue
        before = len(problems.items)
        reference = text_field(record, "reference", where, problems, max_len=40)
        version = text_field(record, "version", where, problems, max_len=20)
        title = text_field(record, "title", where, problems)
        lawful_basis = text_field(record, "lawful_basis", where, problems, max_len=2000)
        signatories = text_field(record, "signatories", where, problems, required=False, max_len=2000)
        status = choice(record.get("status"), {s.value for s in ProtocolStatus}, f"{where}.status", problems)
        valid_from = date_field(record, "valid_from", where, problems)
        valid_to = date_field(record, "valid_to", where, problems, required=False)
        review_on = date_field(record, "review_on", where, problems, required=False)
        if valid_from and valid_to and valid_to < valid_from:
            problems.add(f"{where}.valid_to", "must be on or after valid_from")
        parties = record.get("parties")
        kinds: set[str] = set()
        codes: set[tuple[str, str]] = set()
        if not isinstance(parties, dict):
            problems.add(f"{where}.parties", "is required: a mapping with 'kinds' and/or 'organisations'")
        else:
            for j, kind in enumerate(list_field(parties, "kinds", f"{where}.parties", problems)):
                if choice(kind, organisation_kinds, f"{where}.parties.kinds[{j}]", problems):
                    kinds.add(kind)
            for j, code in enumerate(list_field(parties, "organisations", f"{where}.parties", problems)):
                scheme, _, value = code.partition(":") if isinstance(code, str) else ("", "", "")
                if scheme in code_schemes and value:
                    codes.add((scheme, value))
                else:
                    problems.add(
                        f"{where}.parties.organisations[{j}]",
                        f"{code!r} must be written scheme:code, e.g. ods:A81001"
                        f" (schemes: {', '.join(sorted(code_schemes))})",
                    )
            if not kinds and not codes:
                problems.add(f"{where}.parties", "name at least one organisation kind or organisation")
        flows: set[tuple[str, str, str]] = set()
        flow_records = list_field(record, "flows", where, problems)
        if not flow_records:
            problems.add(f"{where}.flows", "list at least one flow")
        for j, flow in enumerate(flow_records):
            fwhere = f"{where}.flows[{j}]"
            if not isinstance(flow, dict):
                problems.add(fwhere, "must be a mapping with categories, purposes and direction")
                continue
            direction = choice(flow.get("direction"), DIRECTIONS, f"{fwhere}.direction", problems)
            categories = [
                c
                for k, c in enumerate(list_field(flow, "categories", fwhere, problems))
                if choice(c, CATEGORIES, f"{fwhere}.categories[{k}]", problems)
            ]
            purposes = [
                p
                for k, p in enumerate(list_field(flow, "purposes", fwhere, problems))
                if choice(p, PURPOSES, f"{fwhere}.purposes[{k}]", problems)
            ]
            if not categories or not purposes:
                problems.add(fwhere, "needs at least one category and one purpose")
            if direction:
                flows.update((c, p, direction) for c in categories for p in purposes)
        if reference and version:
            if (reference, version) in seen:
                problems.add(where, f"{reference} v{version} appears twice")
            seen.add((reference, version))
        if len(problems.items) == before:
            assert reference and version and title and lawful_basis and status and valid_from
            specs.append(
                ProtocolSpec(
                    reference=reference,
                    version=version,
                    title=title,
                    status=ProtocolStatus(status),
                    lawful_basis=lawful_basis,
                    valid_from=valid_from,
                    valid_to=valid_to,
                    review_on=review_on,
                    signatories=signatories,
                    party_kinds=frozenset(kinds),
                    party_codes=frozenset(codes),
                    flows=frozenset(flows),
                )
            )
    return specs


def save_protocols(
    session: Session, specs: Sequence[ProtocolSpec], organisation_ids: Mapping[tuple[str, str], uuid.UUID]
) -> dict[str, int]:
    """Create or replace each protocol by (reference, version); flush, never commit.

    Args:
        organisation_ids: (code scheme, code) -> organisation id, for the parties named by code.

    Raises:
        RegisterError: a party names an organisation that is not registered.
    """
    missing = sorted(f"{s}:{c}" for spec in specs for (s, c) in spec.party_codes if (s, c) not in organisation_ids)
    if missing:
        raise RegisterError([f"parties: organisation {m} is not registered" for m in missing])
    counts = {"created": 0, "updated": 0}
    for spec in specs:
        protocol = session.scalars(
            select(SharingProtocol).where(
                SharingProtocol.reference == spec.reference, SharingProtocol.version == spec.version
            )
        ).one_or_none()
        if protocol is None:
            protocol = SharingProtocol(reference=spec.reference, version=spec.version)
            session.add(protocol)
            counts["created"] += 1
        else:
            counts["updated"] += 1
        protocol.title = spec.title
        protocol.status = spec.status
        protocol.lawful_basis = spec.lawful_basis
        protocol.valid_from = spec.valid_from
        protocol.valid_to = spec.valid_to
        protocol.review_on = spec.review_on
        protocol.signatories = spec.signatories
        protocol.parties = [ProtocolParty(organisation_kind=k) for k in sorted(spec.party_kinds)] + [
            ProtocolParty(organisation_id=organisation_ids[code]) for code in sorted(spec.party_codes)
        ]
        protocol.flows = [ProtocolFlow(category=c, purpose=p, direction=d) for (c, p, d) in sorted(spec.flows)]
    session.flush()
    return counts


_P, _PP, _PF = SharingProtocol.__table__, ProtocolParty.__table__, ProtocolFlow.__table__


def protocol_facts(session: Session, organisation_id: uuid.UUID, organisation_kind: str) -> tuple[policy.Protocol, ...]:
    """Every protocol naming this organisation or its kind, whatever its status and dates, in one query.

    The policy, not the query, decides which are in force on the day, so that the reasons it gives
    ("the protocol expired on ...") can be explained and tested as plain facts.
    """
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


def list_protocols(session: Session) -> Sequence[SharingProtocol]:
    return session.scalars(select(SharingProtocol).order_by(SharingProtocol.reference, SharingProtocol.version)).all()
