"""The conditions more than one decision checks: dates, the role, break-glass's reason, the protocol.

One implementation of each, so that the protocol a nomination relies on is chosen by exactly the rule
that chooses the protocol a flag view relies on (the lowest reference in force covering the flow).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sharing_protocols.policy.facts import (
    IN_FORCE,
    ROLE_ACTIONS,
    Action,
    Actor,
    Decision,
    Flow,
    Protocol,
    Reason,
    Request,
    Tier,
)
from sharing_protocols.policy.wording import (
    ACTIONS,
    ADVICE_BREAK_GLASS_REASON,
    ADVICE_PROTOCOL,
    ADVICE_ROLE,
    PROTOCOL_STATUSES,
    flow_phrase,
    label,
    long_date,
    purpose_label,
)


def within(on: date, valid_from: date, valid_to: date | None) -> bool:
    """Inclusive at both ends; an open end (None) never closes."""
    return valid_from <= on and (valid_to is None or on <= valid_to)


def check_role(actor: Actor, action: Action) -> Reason:
    """The actor holds a role allowed for the action: necessary, never sufficient, for a subject."""
    allowed = ROLE_ACTIONS.get(action, frozenset())
    what = label(ACTIONS, action)
    if actor.roles & allowed:
        return Reason("role_permitted", f"Your role allows you to {what}.", True)
    return Reason("role_not_permitted", f"Your role does not allow you to {what}.", False, ADVICE_ROLE)


def check_break_glass_reason(request: Request) -> Reason:
    """An emergency access must say why (the data protection officer reviews it)."""
    if request.break_glass_reason.strip():
        return Reason(
            "break_glass_reason_given",
            "You gave a reason for emergency (break-glass) access. "
            "This access is recorded and will be reviewed by the data protection officer.",
            True,
        )
    return Reason(
        "break_glass_reason_missing",
        "You asked for emergency (break-glass) access without saying why.",
        False,
        ADVICE_BREAK_GLASS_REASON,
    )


def protocols_naming(actor: Actor, request: Request, protocols: Iterable[Protocol], category: str) -> list[Protocol]:
    """Protocols naming this actor as a party and this flow, whatever their status and dates."""
    wanted = Flow(category, request.purpose, request.direction)
    return [
        p
        for p in protocols
        if (actor.organisation_id in p.party_organisation_ids or actor.organisation_kind in p.party_kinds)
        and wanted in p.flows
    ]


def by_reference(protocol: Protocol) -> tuple[str, str]:
    return (protocol.reference, protocol.id)


def protocol_for(actor: Actor, request: Request, protocols: Iterable[Protocol], category: str) -> Protocol | None:
    """The protocol in force covering this flow for this actor, chosen deterministically."""
    on = request.on
    covering = [
        p
        for p in protocols_naming(actor, request, protocols, category)
        if p.status == IN_FORCE and within(on, p.valid_from, p.valid_to)
    ]
    return min(covering, key=by_reference, default=None)


def why_not_in_force(actor: Actor, request: Request, protocols: Iterable[Protocol], category: str) -> str:
    """Why no protocol covers the flow, when one would but is not in force on the day.

    It tells the practitioner and their IG lead what to chase (a suspended protocol, a renewal). It
    changes only the wording of the ``no_protocol`` reason, never the decision.
    """
    naming = protocols_naming(actor, request, protocols, category)
    if not naming:
        return ""
    protocol, on = min(naming, key=by_reference), request.on
    if protocol.status != IN_FORCE:
        state = PROTOCOL_STATUSES.get(protocol.status, f"not in force ({protocol.status.replace('_', ' ')})")
        return f" Sharing protocol {protocol.reference}, which would cover it, is {state}."
    if on < protocol.valid_from:
        return (
            f" Sharing protocol {protocol.reference}, which would cover it, "
            f"does not come into force until {long_date(protocol.valid_from)}."
        )
    if protocol.valid_to is not None and protocol.valid_to < on:
        return f" Sharing protocol {protocol.reference}, which covered it, expired on {long_date(protocol.valid_to)}."
    return ""


def protocol_check(
    actor: Actor, request: Request, protocols: Iterable[Protocol], category: str
) -> tuple[Reason, Protocol | None]:
    """The protocol condition for one category of a request: its reason, and the protocol relied on.

    A protocol in force on the request's day must name the actor's organisation (or its kind) as a
    party and cover the category for the request's purpose and direction. Flag views and nominations
    both decide it here.
    """
    protocols = tuple(protocols)
    flow = flow_phrase(category, actor.organisation_kind, request.direction)
    purpose = purpose_label(request.purpose)
    protocol = protocol_for(actor, request, protocols, category)
    if protocol is None:
        why = why_not_in_force(actor, request, protocols, category)
        return (
            Reason(
                "no_protocol",
                f"No sharing protocol in force covers {flow} for {purpose}.{why}",
                False,
                ADVICE_PROTOCOL,
                category,
            ),
            None,
        )
    return (
        Reason(
            "protocol_in_force",
            f"Sharing protocol {protocol.reference} covers {flow} for {purpose}.",
            True,
            category=category,
        ),
        protocol,
    )


def denied(reasons: Iterable[Reason], break_glass: bool) -> Decision:
    """A refusal: nothing is seen, with the reasons checked up to the one that failed."""
    return Decision(permitted=False, tier=Tier.NOTHING, reasons=tuple(reasons), break_glass=break_glass)
