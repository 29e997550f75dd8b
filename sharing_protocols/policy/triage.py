"""Nominations, council side: may this coordinator take this triage step on this nomination?

Triage is the council's own processing of what partners sent it, so the checks are who is acting (a
coordinator of the council's Supporting Families team) and whether the nomination is in a state the
step makes sense in. Nothing here is shared with a partner.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from sharing_protocols.policy.checks import denied
from sharing_protocols.policy.facts import (
    ACCEPTED,
    DRAFT,
    NOT_ACCEPTED,
    OPEN_FOR_TRIAGE,
    TRIAGE_ROLES,
    TRIAGING_KIND,
    Actor,
    Decision,
    NominationState,
    Reason,
    Tier,
    TriageAction,
)
from sharing_protocols.policy.wording import (
    ADVICE_DECIDED,
    ADVICE_NOT_ACCEPTED,
    ADVICE_TRIAGE_KIND,
    ADVICE_TRIAGE_ROLE,
    NOMINATION_STATUS_WORDS,
    TRIAGE_WORDS,
    kind_words,
    label,
)

#: the statuses each action needs; an action that is not listed concerns no one nomination
_TRIAGE_STATUSES: Mapping[TriageAction, frozenset[str]] = MappingProxyType(
    {
        TriageAction.VIEW_NOMINATION: OPEN_FOR_TRIAGE | {ACCEPTED, NOT_ACCEPTED},
        TriageAction.REVIEW_MATCH: OPEN_FOR_TRIAGE,
        TriageAction.REQUEST_INFORMATION: OPEN_FOR_TRIAGE,
        TriageAction.DECLINE_NOMINATION: OPEN_FOR_TRIAGE,
        TriageAction.ACCEPT_NOMINATION: OPEN_FOR_TRIAGE,
        TriageAction.ASSIGN_LEAD_PROFESSIONAL: frozenset({ACCEPTED}),
        TriageAction.RECORD_NOTICE: frozenset({ACCEPTED}),
        TriageAction.RAISE_FLAGS: frozenset({ACCEPTED}),
    }
)


def _triage_role(actor: Actor, action: TriageAction) -> Reason:
    what = TRIAGE_WORDS[action]
    if actor.roles & TRIAGE_ROLES[action]:
        return Reason("role_permitted", f"Your role allows you to {what}.", True)
    return Reason("role_not_permitted", f"Your role does not allow you to {what}.", False, ADVICE_TRIAGE_ROLE)


def _triage_organisation(actor: Actor) -> Reason:
    if actor.organisation_kind == TRIAGING_KIND:
        return Reason("triaging_organisation", "Your organisation is the council's Supporting Families team.", True)
    return Reason(
        "not_triaging_organisation",
        f"Only the council's Supporting Families team triages nominations, not {kind_words(actor.organisation_kind)}.",
        False,
        ADVICE_TRIAGE_KIND,
    )


def _triage_status(action: TriageAction, nomination: NominationState) -> Reason:
    status, reference = nomination.status, nomination.reference
    state = label(NOMINATION_STATUS_WORDS, status)
    if status == DRAFT:
        return Reason(
            "nomination_not_submitted",
            f"Nomination {reference} is still a draft: the council sees a nomination only once it is submitted.",
            False,
        )
    allowed = _TRIAGE_STATUSES[action]
    if status in allowed:
        if allowed == {ACCEPTED}:
            return Reason("nomination_accepted", f"Nomination {reference} has been accepted.", True)
        return Reason("nomination_status_allows", f"Nomination {reference} is {state}.", True)
    if allowed == {ACCEPTED}:
        return Reason(
            "nomination_not_accepted",
            f"Nomination {reference} is {state}. Only once a nomination is accepted can you {TRIAGE_WORDS[action]}.",
            False,
            ADVICE_NOT_ACCEPTED,
        )
    return Reason(
        "nomination_already_decided",
        f"Nomination {reference} has already been decided (it is {state}), so it can no longer be changed.",
        False,
        ADVICE_DECIDED,
    )


def decide_triage(actor: Actor, action: TriageAction, nomination: NominationState | None = None) -> Decision:
    """Decide whether this actor may take this triage action (on this nomination).

    Nominations are shared with the council, and triage is the council's own processing of what it
    received, for identification (and, once a family is attached, for coordinating its support). So the
    checks are about who is acting and whether the nomination is in a state the action makes sense in:

    1. Role: the actor must be a coordinator.
    2. Organisation: the actor must act for the council's Supporting Families team (``TRIAGING_KIND``);
       a coordinator role granted by mistake to a partner's user opens nothing.
    3. The nomination (every action except listing the queue): it must have been submitted (a draft is
       the nominator's alone), and be open for triage (submitted, waiting for information, or linked to
       an existing record) for matching, requests and decisions, or accepted for the steps that follow
       acceptance (lead professional, notice, flags). A decided nomination can be viewed, never redecided.

    No relationship, protocol or notice is consulted: nothing here is shared with a partner (what
    partners see of the flags raised is decided by :func:`decide` when they look), and the protocol the
    nominator shared under was checked when the nomination was submitted (:func:`decide_nomination`).

    Returns:
        A decision with the reasons checked up to the first that failed. When permitted, it is at tier
        DETAIL with the nomination's category (what the coordinator reads about), or NOTHING for the queue.

    Raises:
        ValueError: an action about a nomination without one, or the queue with one.
    """
    needs_nomination = action in _TRIAGE_STATUSES
    if needs_nomination and nomination is None:
        raise ValueError(f"{action} is about one nomination: pass its state")
    if not needs_nomination and nomination is not None:
        raise ValueError(f"{action} is not about one nomination")
    reasons = [_triage_role(actor, action)]
    if not reasons[-1].passed:
        return denied(reasons, False)
    reasons.append(_triage_organisation(actor))
    if not reasons[-1].passed:
        return denied(reasons, False)
    if nomination is None:
        return Decision(permitted=True, tier=Tier.NOTHING, reasons=tuple(reasons))
    reasons.append(_triage_status(action, nomination))
    if not reasons[-1].passed:
        return denied(reasons, False)
    return Decision(
        permitted=True, tier=Tier.DETAIL, reasons=tuple(reasons), categories=frozenset({nomination.category})
    )
