"""Flags: may this actor see this person's flag, and how much of it?

The rules of ``decide`` in order (role, break-glass's reason, relationship, then programme membership
and each concern through protocol, notice and objections), the list form ``decide_many`` that works
out what a whole list shares once, and the two partial decisions the flag pages need: a person served
but not flagged (``decide_served``) and an emergency grant (``decide_break_glass_grant``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date

from sharing_protocols.policy.checks import check_break_glass_reason, check_role, denied, protocol_check, within
from sharing_protocols.policy.facts import (
    NO_FLAG_RELATIONSHIPS,
    PROGRAMME_MEMBERSHIP,
    ROLE_ONLY_ACTIONS,
    Actor,
    Decision,
    Facts,
    Grant,
    NoticeGiven,
    Objection,
    Protocol,
    Reason,
    Relationship,
    Request,
    Subject,
    Tier,
)
from sharing_protocols.policy.wording import (
    ADVICE_NOTICE,
    ADVICE_OBJECTION,
    ADVICE_RELATIONSHIP,
    RELATIONSHIP_KINDS,
    flow_phrase,
    label,
    long_date,
    sharing_words,
)


class _Shared:
    """What every subject of one request has in common, worked out once for all of them.

    The role and protocol checks depend only on the actor, the request and the protocols, so a list of
    a hundred people checks the role once and decides the protocol for each category once. It holds no
    facts of its own: a decision made with it is exactly the decision made without it (``decide_many``
    is tested against ``decide``).
    """

    __slots__ = ("actor", "protocols", "request", "results", "role")

    def __init__(self, actor: Actor, request: Request, protocols: tuple[Protocol, ...]) -> None:
        self.actor, self.request, self.protocols = actor, request, protocols
        #: category -> (the protocol reason, the protocol relied on or None)
        self.results: dict[str, tuple[Reason, Protocol | None]] = {}
        #: the role check, once worked out
        self.role: Reason | None = None


_RELATIONSHIP_WAIVED = Reason(
    "relationship_waived_break_glass",
    "Your organisation does not currently serve this person. "
    "Emergency (break-glass) access was used instead and will be reviewed.",
    True,
)


@functools.lru_cache(maxsize=64)
def _relationship_live(kind: str) -> Reason:
    return Reason(
        "relationship_live",
        f"Your organisation currently serves this person ({label(RELATIONSHIP_KINDS, kind)}).",
        True,
    )


def _check_relationship(facts: Facts) -> Reason:
    actor, subject, on = facts.actor, facts.subject, facts.request.on
    live = sorted(
        (
            r
            for r in facts.relationships
            if r.organisation_id == actor.organisation_id
            and r.person_id == subject.person_id
            and r.kind not in NO_FLAG_RELATIONSHIPS
            and within(on, r.valid_from, r.valid_to)
        ),
        key=lambda r: (r.kind, r.valid_from, r.valid_to or date.max),
    )
    if live:
        return _relationship_live(live[0].kind)
    if subject.lead_professional_user_id is not None and subject.lead_professional_user_id == actor.user_id:
        return Reason("lead_professional", "You are the lead professional for this person's family.", True)
    if facts.request.break_glass:
        return _RELATIONSHIP_WAIVED
    return Reason(
        "no_relationship",
        "Your organisation does not currently serve this person.",
        False,
        ADVICE_RELATIONSHIP,
    )


def _notices_given(facts: Facts) -> list[NoticeGiven]:
    """The notices given to this person's family, for this person, by the day: earliest first."""
    subject, on = facts.subject, facts.request.on
    return sorted(
        (
            n
            for n in facts.notices
            if n.family_id == subject.family_id and subject.person_id in n.member_person_ids and n.given_on <= on
        ),
        key=_notice_order,
    )


def _notice_order(notice: NoticeGiven) -> tuple[date, str]:
    return (notice.given_on, notice.id)


def _notice_for(given: list[NoticeGiven], kind: str, category: str) -> NoticeGiven | None:
    """The earliest of ``given`` (from ``_notices_given``) that names this category for this recipient."""
    wanted = (kind, category)
    return next((n for n in given if wanted in n.coverage), None)


def _objections_to(facts: Facts, category: str) -> list[Objection]:
    person, purpose = facts.subject.person_id, facts.request.purpose
    return sorted(
        (
            o
            for o in facts.objections
            if o.person_id == person and o.category == category and (o.purpose is None or o.purpose == purpose)
        ),
        key=lambda o: (o.id, o.purpose or "", o.upheld, o.basis),
    )


def _protocol_result(facts: Facts, category: str, shared: _Shared) -> tuple[Reason, Protocol | None]:
    """The protocol check for one category: the same for every subject of a request, so done once."""
    found = shared.results.get(category)
    if found is None:
        found = shared.results[category] = protocol_check(facts.actor, facts.request, facts.protocols, category)
    return found


# Reasons are immutable and their sentences depend only on these arguments, so each is built once per
# process (a list page of a hundred people would otherwise format the same sentence a hundred times).


@functools.lru_cache(maxsize=4096)
def _notice_covers(category: str, kind: str, direction: str, version_ref: str, given_on: date) -> Reason:
    return Reason(
        "notice_covers",
        f"The fair processing notice given to this family ({version_ref}, {long_date(given_on)}) covers "
        f"{flow_phrase(category, kind, direction)}.",
        True,
        category=category,
    )


@functools.lru_cache(maxsize=256)
def _notice_waived(category: str, kind: str, direction: str) -> Reason:
    return Reason(
        "notice_waived_break_glass",
        f"No fair processing notice given to this family covers {flow_phrase(category, kind, direction)}. "
        "Emergency (break-glass) access was used instead and will be reviewed.",
        True,
        category=category,
    )


@functools.lru_cache(maxsize=256)
def _no_notice(category: str, kind: str, direction: str) -> Reason:
    return Reason(
        "no_notice",
        f"No fair processing notice given to this family covers {flow_phrase(category, kind, direction)}.",
        False,
        ADVICE_NOTICE,
        category,
    )


@functools.lru_cache(maxsize=64)
def _no_objection(category: str) -> Reason:
    return Reason(
        "no_objection", f"This person has not objected to {sharing_words(category)}.", True, category=category
    )


def _check_category(
    facts: Facts, category: str, shared: _Shared, given: list[NoticeGiven]
) -> tuple[list[Reason], Grant | None]:
    """Protocol, then notice, then objections, for one category; stops at the first failure.

    Returns the reasons and, when every check passed, the grant the category relies on.
    """
    request, kind = facts.request, facts.actor.organisation_kind
    protocol_reason, protocol = _protocol_result(facts, category, shared)
    reasons = [protocol_reason]
    if protocol is None:
        return reasons, None

    notice = _notice_for(given, kind, category)
    if notice is not None:
        reasons.append(_notice_covers(category, kind, request.direction, notice.version_ref, notice.given_on))
    elif request.break_glass:
        reasons.append(_notice_waived(category, kind, request.direction))
    else:
        reasons.append(_no_notice(category, kind, request.direction))
        return reasons, None

    objections = _objections_to(facts, category) if facts.objections else []
    what = sharing_words(category)
    upheld = [o for o in objections if o.upheld]
    if upheld:
        reasons.append(
            Reason(
                "objection_upheld",
                f"This person has objected to {what}, and their objection is respected.",
                False,
                ADVICE_OBJECTION,
                category,
            )
        )
        return reasons, None
    if objections:
        for objection in objections:
            basis = objection.basis.strip().rstrip(".") or "no basis recorded"
            reasons.append(
                Reason(
                    "objection_overridden",
                    f"This person objected to {what}, but the objection was overridden: {basis}.",
                    True,
                    category=category,
                )
            )
    else:
        reasons.append(_no_objection(category))

    grant = Grant(
        category=category,
        protocol_id=protocol.id,
        protocol_ref=protocol.reference,
        notice_id=notice.id if notice is not None else None,
        notice_ref=notice.version_ref if notice is not None else None,
    )
    return reasons, grant


def decide(facts: Facts) -> Decision:
    """Decide a request about one subject (viewing their flag, nominating them).

    The checks run in order and the request is refused at the first gate that fails, so a refusal
    never reveals more about the subject than the actor was entitled to see:

    1. Role: the actor must hold a role allowed for the action. Break-glass never widens this.
    2. Break-glass needs a reason (an emergency access without one is refused outright).
    3. Relationship: the actor's organisation serves the subject on the day, or the actor is the family's
       lead professional; break-glass waives this (and the DPO reviews it). A relationship of a kind in
       ``NO_FLAG_RELATIONSHIPS`` (the nominator's) does not count: it lets an organisation follow its own
       nominations, never see the family's flags.
    4. Programme membership: a protocol in force must cover the flow for this actor, the notice given to
       the family must name it for this recipient kind (break-glass waives the notice), and no upheld
       objection may stand. If this fails nothing is seen at all.
    5. Each concern on the flag, in sorted order, goes through the same three checks (stopping at the
       first that fails). Concerns that pass are granted (tier DETAIL); those that fail are withheld with
       one failed reason each, but the request stays permitted (at EXISTENCE_AND_CONTACT if no concern
       passes), so the page can say what was withheld and why. That reason names the concern, so it
       discloses that the flag carries it: see :attr:`Decision.failed`.

    Break-glass never waives a protocol (without one there is no lawful basis to share) nor an upheld
    objection (the family's objection was weighed and respected).

    Notices are unioned: a notice given later never withdraws what an earlier one covered, and the
    earliest covering notice is the one relied on. A notice records what the family was told; telling
    them something new later does not untell the old. It also keeps the policy monotone: adding a fact
    that supports sharing (a protocol, a relationship, a notice) never narrows access, and adding an
    objection never widens it, which the property tests prove. A family that wants a flow stopped
    objects, and objections are respected.

    When several protocols cover a flow, the one with the smallest (reference, id) is relied on, so the
    same facts always log the same protocol.

    Args:
        facts: everything the decision may consult, gathered by the gate; the day is ``facts.request.on``.

    Returns:
        The decision: whether the request is permitted, the tier, the reasons checked (passed or failed,
        in order, up to the first failed gate), the grants each permitted category relied on, the detail
        categories permitted, and whether it was an emergency (break-glass) request, which is always
        marked.

    Raises:
        ValueError: if the action is decided by role alone (use ``logs.decide_action``).
    """
    return _decide(facts, _Shared(facts.actor, facts.request, facts.protocols))


def decide_many(
    actor: Actor,
    request: Request,
    protocols: tuple[Protocol, ...],
    subjects: Sequence[tuple[Subject, tuple[Relationship, ...], tuple[NoticeGiven, ...], tuple[Objection, ...]]],
) -> list[Decision]:
    """Decide one request about many subjects (a list page): exactly ``decide`` for each, faster.

    Everything that depends only on the actor, the request and the protocols (which protocol covers
    each category, and the sentences explaining it) is worked out once for the whole list instead of
    once per person; a list of a hundred flagged people is most of the gate's work otherwise.

    Args:
        subjects: for each subject, the subject and its own relationships, notices and objections, as
            they would go into its ``Facts``.

    Returns:
        One decision per subject, in order, each equal to ``decide`` on that subject's facts.
    """
    shared = _Shared(actor, request, protocols)
    return [
        _decide(Facts(actor, request, subject, relationships, protocols, notices, objections), shared)
        for subject, relationships, notices, objections in subjects
    ]


def _decide(facts: Facts, shared: _Shared) -> Decision:
    actor, request, subject = facts.actor, facts.request, facts.subject
    if request.action in ROLE_ONLY_ACTIONS:
        raise ValueError(f"{request.action} is decided by role alone: use decide_action")
    break_glass = request.break_glass
    reasons: list[Reason] = []

    role = shared.role or check_role(actor, request.action)
    shared.role = role
    reasons.append(role)
    if not role.passed:
        return denied(reasons, break_glass)

    if break_glass:
        given = check_break_glass_reason(request)
        reasons.append(given)
        if not given.passed:
            return denied(reasons, break_glass)

    relationship = _check_relationship(facts)
    reasons.append(relationship)
    if not relationship.passed:
        return denied(reasons, break_glass)

    given = _notices_given(facts)
    membership_reasons, membership = _check_category(facts, PROGRAMME_MEMBERSHIP, shared, given)
    reasons.extend(membership_reasons)
    if membership is None:
        return denied(reasons, break_glass)

    grants = [membership]
    for category in sorted(subject.categories - {PROGRAMME_MEMBERSHIP}):
        category_reasons, grant = _check_category(facts, category, shared, given)
        reasons.extend(category_reasons)
        if grant is not None:
            grants.append(grant)

    categories = frozenset(g.category for g in grants[1:])
    return Decision(
        permitted=True,
        tier=Tier.DETAIL if categories else Tier.EXISTENCE_AND_CONTACT,
        reasons=tuple(reasons),
        grants=tuple(grants),
        break_glass=break_glass,
        categories=categories,
    )


def decide_served(
    actor: Actor, request: Request, subject: Subject, relationships: tuple[Relationship, ...]
) -> Decision:
    """Decide a look-up of a person who has no live flag: may the actor learn that much?

    Served-but-not-flagged discloses nothing about a family (there is none to disclose), so only who is
    asking matters: the role, then the relationship (the organisation serves the person today). Without
    a relationship the refusal reads exactly like a flagged person's, so a guessed id reveals nothing.

    Returns:
        Permitted at tier NOTHING with the role and relationship reasons, or refused at the first failure.

    Raises:
        ValueError: a break-glass request (an emergency look-up is ``decide_break_glass_grant``'s, which
            checks the reason this does not).
    """
    if request.break_glass:
        raise ValueError("a break-glass look-up is decided by decide_break_glass_grant")
    facts = Facts(actor, request, subject, relationships)
    reasons = [check_role(actor, request.action)]
    if not reasons[-1].passed:
        return denied(reasons, False)
    reasons.append(_check_relationship(facts))
    if not reasons[-1].passed:
        return denied(reasons, False)
    return Decision(permitted=True, tier=Tier.NOTHING, reasons=tuple(reasons))


def decide_break_glass_grant(actor: Actor, request: Request) -> Decision:
    """Decide an emergency (break-glass) grant, or a view through one of a person with no live flag.

    The grant itself discloses nothing about a family: it records who looked whom up and why. So it
    needs the role and a reason; the relationship is waived (that is what break-glass is for) and the
    protocol, notice and objections are decided when the flag is viewed (``decide``).

    Returns:
        Permitted at tier NOTHING, marked break-glass, or refused at the first failure.

    Raises:
        ValueError: the request is not a break-glass one.
    """
    if not request.break_glass:
        raise ValueError("a break-glass grant needs a break-glass request")
    reasons = [check_role(actor, request.action)]
    if not reasons[-1].passed:
        return denied(reasons, True)
    reasons.append(check_break_glass_reason(request))
    if not reasons[-1].passed:
        return denied(reasons, True)
    reasons.append(_RELATIONSHIP_WAIVED)
    return Decision(permitted=True, tier=Tier.NOTHING, reasons=tuple(reasons), break_glass=True)
