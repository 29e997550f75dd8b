"""The protocol register: import from a documented YAML file (the gate reads the protocols itself,
``portal.gate.register``).

Until the management screens exist, the register is kept in a YAML file that the information
governance lead edits and a CLI command imports (``flask import-sharing FILE``). The import is all or
nothing: every problem in the file is reported with where it is, and nothing is written unless the
whole file is valid, so a typo can never half-replace the protocols in force. The routine shared with
notice versions (and the field checks) is in ``sharing_protocols.yaml_register``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from sharing_protocols.register.models import (
    ProtocolFlow,
    ProtocolParty,
    ProtocolStatus,
    SharingProtocol,
)
from sharing_protocols.vocabulary import CATEGORIES, DIRECTIONS, PURPOSES
from sharing_protocols.yaml_register import (
    Build,
    Problems,
    RegisterError,
    Upserted,
    choice,
    date_field,
    list_field,
    parse_section,
    text_field,
    upsert_versioned,
)


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
    return parse_section(
        records,
        "protocols",
        problems,
        lambda record, where, found: _parse_protocol(record, where, found, organisation_kinds, code_schemes),
    )


def _parse_protocol(
    record: Mapping[str, Any], where: str, problems: Problems, organisation_kinds: set[str], code_schemes: set[str]
) -> Build[ProtocolSpec]:
    """A protocol's own fields (``parse_section`` checks reference, version, title and duplicates)."""
    lawful_basis = text_field(record, "lawful_basis", where, problems, max_len=2000)
    signatories = text_field(record, "signatories", where, problems, required=False, max_len=2000)
    status = choice(record.get("status"), {s.value for s in ProtocolStatus}, f"{where}.status", problems)
    valid_from, valid_to, review_on = _parse_dates(record, where, problems)
    kinds, codes = _parse_parties(record.get("parties"), f"{where}.parties", problems, organisation_kinds, code_schemes)
    flows = _parse_flows(record, where, problems)

    def build(reference: str, version: str, title: str) -> ProtocolSpec:
        assert lawful_basis and status and valid_from
        return ProtocolSpec(
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

    return build


def _parse_dates(
    record: Mapping[str, Any], where: str, problems: Problems
) -> tuple[date | None, date | None, date | None]:
    """A protocol's ``valid_from`` (required), ``valid_to`` (not before it) and ``review_on``."""
    valid_from = date_field(record, "valid_from", where, problems)
    valid_to = date_field(record, "valid_to", where, problems, required=False)
    review_on = date_field(record, "review_on", where, problems, required=False)
    if valid_from and valid_to and valid_to < valid_from:
        problems.add(f"{where}.valid_to", "must be on or after valid_from")
    return valid_from, valid_to, review_on


def _parse_parties(
    parties: Any, where: str, problems: Problems, organisation_kinds: set[str], code_schemes: set[str]
) -> tuple[set[str], set[tuple[str, str]]]:
    """The organisation kinds and the organisations (scheme, code) a protocol covers: at least one."""
    kinds: set[str] = set()
    codes: set[tuple[str, str]] = set()
    if not isinstance(parties, dict):
        problems.add(where, "is required: a mapping with 'kinds' and/or 'organisations'")
        return kinds, codes
    for j, kind in enumerate(list_field(parties, "kinds", where, problems)):
        if choice(kind, organisation_kinds, f"{where}.kinds[{j}]", problems):
            kinds.add(kind)
    for j, code in enumerate(list_field(parties, "organisations", where, problems)):
        scheme, _, value = code.partition(":") if isinstance(code, str) else ("", "", "")
        if scheme in code_schemes and value:
            codes.add((scheme, value))
        else:
            problems.add(
                f"{where}.organisations[{j}]",
                f"{code!r} must be written scheme:code, e.g. ods:A81001 (schemes: {', '.join(sorted(code_schemes))})",
            )
    if not kinds and not codes:
        problems.add(where, "name at least one organisation kind or organisation")
    return kinds, codes


def _parse_flows(record: Mapping[str, Any], where: str, problems: Problems) -> set[tuple[str, str, str]]:
    """A protocol's flows as (category, purpose, direction): each flow's categories times its purposes."""
    flows: set[tuple[str, str, str]] = set()
    flow_records = list_field(record, "flows", where, problems)
    if not flow_records:
        problems.add(f"{where}.flows", "list at least one flow")
    for j, flow in enumerate(flow_records):
        flows.update(_parse_flow(flow, f"{where}.flows[{j}]", problems))
    return flows


def _parse_flow(flow: Any, where: str, problems: Problems) -> set[tuple[str, str, str]]:
    """One flow: a direction, and at least one category and one purpose (none if any is wrong)."""
    if not isinstance(flow, dict):
        problems.add(where, "must be a mapping with categories, purposes and direction")
        return set()
    direction = choice(flow.get("direction"), DIRECTIONS, f"{where}.direction", problems)
    categories = [
        c
        for k, c in enumerate(list_field(flow, "categories", where, problems))
        if choice(c, CATEGORIES, f"{where}.categories[{k}]", problems)
    ]
    purposes = [
        p
        for k, p in enumerate(list_field(flow, "purposes", where, problems))
        if choice(p, PURPOSES, f"{where}.purposes[{k}]", problems)
    ]
    if not categories or not purposes:
        problems.add(where, "needs at least one category and one purpose")
    if not direction:
        return set()
    return {(c, p, direction) for c in categories for p in purposes}


def save_protocols(
    session: Session, specs: Sequence[ProtocolSpec], organisation_ids: Mapping[tuple[str, str], uuid.UUID]
) -> Upserted[SharingProtocol]:
    """Create or replace each protocol by (reference, version); flush, never commit. A protocol that
    already says what its spec says is left untouched.

    Args:
        organisation_ids: (code scheme, code) -> organisation id, for the parties named by code.

    Raises:
        RegisterError: a party names an organisation that is not registered.
    """
    missing = sorted(f"{s}:{c}" for spec in specs for (s, c) in spec.party_codes if (s, c) not in organisation_ids)
    if missing:
        raise RegisterError([f"parties: organisation {m} is not registered" for m in missing])

    def state(protocol: SharingProtocol) -> tuple[Any, ...]:
        return (
            protocol.title,
            protocol.status,
            protocol.lawful_basis,
            protocol.valid_from,
            protocol.valid_to,
            protocol.review_on,
            protocol.signatories,
            {p.organisation_kind for p in protocol.parties if p.organisation_kind is not None},
            {p.organisation_id for p in protocol.parties if p.organisation_id is not None},
            {(f.category, f.purpose, f.direction) for f in protocol.flows},
        )

    def wanted(spec: ProtocolSpec) -> tuple[Any, ...]:
        return (
            spec.title,
            spec.status,
            spec.lawful_basis,
            spec.valid_from,
            spec.valid_to,
            spec.review_on,
            spec.signatories,
            set(spec.party_kinds),
            {organisation_ids[code] for code in spec.party_codes},
            set(spec.flows),
        )

    def apply(protocol: SharingProtocol, spec: ProtocolSpec) -> None:
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

    return upsert_versioned(
        session, SharingProtocol, specs, matches=lambda row, spec: state(row) == wanted(spec), apply=apply
    )
