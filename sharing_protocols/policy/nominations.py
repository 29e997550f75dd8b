"""Nominations, partner side: choosing a route, sending a nomination, and reading one's own.

A nomination is a share from the partner to the council, for identifying families who need support,
so sending one needs a protocol in force for the route's category, decided by the very check a flag
view uses (``checks.protocol_check``). Reading and changing a nomination is the nominating
organisation's alone, and a draft its author's alone.
"""

from __future__ import annotations

from datetime import date

from sharing_protocols.policy.checks import check_role, denied, protocol_check
from sharing_protocols.policy.facts import (
    IDENTIFICATION,
    TO_COUNCIL,
    Action,
    Actor,
    Decision,
    Grant,
    NominationFacts,
    Protocol,
    Reason,
    Request,
    RouteFacts,
    Tier,
)
from sharing_protocols.policy.wording import (
    ADVICE_DRAFT,
    ADVICE_NOMINATION_ORGANISATION,
    ADVICE_ROUTE,
    kind_words,
    sentence_start,
)


def decide_nomination(actor: Actor, route: RouteFacts, on: date, protocols: tuple[Protocol, ...]) -> Decision:
    """Decide whether this actor may submit a nomination under this route on this day.

    Submitting is a share from the partner to the council: the nominator's description of a family's
    problem, in the route's category, for the purpose of identifying families who need support. So:

    1. Role: the actor must hold a role allowed to nominate.
    2. Route: the actor's organisation kind must be one of the route's sectors (a school's attendance
       route is not a GP practice's to use), whatever the form offered: a crafted request is refused here.
    3. Protocol: one in force on the day must cover the route's category, the purpose identification and
       the direction partner to council, for this organisation or its kind.

    No relationship is needed (the nominator is the source of what is shared, not a recipient) and no
    notice: whether the family was told and given the notice is recorded with the nomination, and the
    council gives the notice when it attaches the family. There is no subject yet (nobody is matched
    until a coordinator confirms it), so no objection can be consulted. The decision is monotone in the
    protocols, like ``decide``: removing one never permits what was refused.

    Returns:
        A decision at tier NOTHING (submitting shows the nominator nothing), with one grant naming the
        protocol relied on when permitted.
    """
    route_decision = decide_nomination_route(actor, route)
    if not route_decision.permitted:
        return route_decision
    request = Request(action=Action.NOMINATE, purpose=IDENTIFICATION, direction=TO_COUNCIL, on=on)
    reason, protocol = protocol_check(actor, request, protocols, route.category)
    reasons = [*route_decision.reasons, reason]
    if protocol is None:
        return denied(reasons, False)
    grant = Grant(route.category, protocol.id, protocol.reference, None, None)
    return Decision(permitted=True, tier=Tier.NOTHING, reasons=tuple(reasons), grants=(grant,))


def decide_nomination_route(actor: Actor, route: RouteFacts) -> Decision:
    """Decide whether this actor may choose this route for a draft: the role, then the sector.

    Choosing a route shares nothing yet, so no protocol is consulted here: whether one covers the route
    is decided when the nomination is sent (:func:`decide_nomination`, which begins with this).

    Returns:
        A decision at tier NOTHING with the reasons checked up to the first failure.
    """
    reasons = [check_role(actor, Action.NOMINATE)]
    if not reasons[-1].passed:
        return denied(reasons, False)
    if actor.organisation_kind not in route.sectors:
        reasons.append(
            Reason(
                "route_not_for_sector",
                f"{sentence_start(kind_words(actor.organisation_kind))} cannot nominate under "
                f"\u201c{route.title}\u201d.",
                False,
                ADVICE_ROUTE,
            )
        )
        return denied(reasons, False)
    reasons.append(Reason("route_for_sector", f"Your organisation can nominate under \u201c{route.title}\u201d.", True))
    return Decision(permitted=True, tier=Tier.NOTHING, reasons=tuple(reasons))


def decide_nominations_list(actor: Actor) -> Decision:
    """Decide whether this actor may list their organisation's nominations ("Your nominations").

    Listing shows the organisation's own nominations (their references, routes and statuses) and the
    actor's own drafts: what the organisation itself told the council, never what the council holds
    about a family. So the role that may nominate is the only condition.

    Returns:
        A decision at tier NOTHING with one reason (the role check).
    """
    role = check_role(actor, Action.NOMINATE)
    return Decision(permitted=role.passed, tier=Tier.NOTHING, reasons=(role,))


def decide_nomination_access(actor: Actor, nomination: NominationFacts) -> Decision:
    """Decide whether this actor may read (or answer) one nomination.

    A nominator's organisation follows its own nominations: the nomination's "nominator" relationship
    lets it see what it sent and the messages the council shares with it, and never the family's file
    (flags are decided by :func:`decide`, where a nominator relationship does not count). So:

    1. Role: the actor must hold a role allowed to nominate.
    2. Organisation: the nomination was made by the actor's organisation. A nomination that does not
       exist is refused in exactly the same words, so ids cannot be probed.
    3. Draft: a draft is seen and changed only by the user who started it (a colleague's unfinished
       words are not yet the organisation's).

    Returns:
        A decision at tier NOTHING (no flag is seen), with the reasons checked up to the first failure.
    """
    reasons: list[Reason] = []
    role = check_role(actor, Action.NOMINATE)
    reasons.append(role)
    if not role.passed:
        return denied(reasons, False)
    if nomination.organisation_id is None or nomination.organisation_id != actor.organisation_id:
        reasons.append(
            Reason(
                "nomination_not_of_organisation",
                "This nomination was not made by your organisation.",
                False,
                ADVICE_NOMINATION_ORGANISATION,
            )
        )
        return denied(reasons, False)
    reasons.append(Reason("nomination_of_organisation", "Your organisation made this nomination.", True))
    if nomination.draft:
        if nomination.nominator_user_id != actor.user_id:
            reasons.append(
                Reason(
                    "draft_of_someone_else",
                    "This nomination is a draft that someone else in your organisation started.",
                    False,
                    ADVICE_DRAFT,
                )
            )
            return denied(reasons, False)
        reasons.append(Reason("draft_of_nominator", "You started this draft.", True))
    return Decision(permitted=True, tier=Tier.NOTHING, reasons=tuple(reasons))
