"""The pure sharing decision: may this person, acting for this organisation, see this about this person?

Every access to personal data passes ``portal.access.authorise``, which gathers the facts (the actor,
the relationships their organisation has with the subject, the sharing protocols, the fair processing
notices given to the family and any objections) and asks :func:`decide`. The function is pure: it
imports only the standard library (an import-linter contract enforces it), never reads the clock (the
date is one of the facts) and never touches the database. That is what lets every rule be tested as a
truth table, every property be proved over random facts, and every decision be explained afterwards
from the facts alone.

The decision is deny by default. Each condition checked yields a :class:`Reason` with a stable code
(for the access log and the DPO's searches) and a plain-English sentence addressed to the partner
practitioner, with advice on what to do when it failed. A request passes only when role, relationship,
protocol and notice all allow it and no upheld objection stands in the way; the :class:`Grant` list
records which protocol and which notice version each permitted category relied on, for the log.

Minimum necessary: what a permitted request sees is tiered. The existence of the flag and how to reach
the lead professional (``Tier.EXISTENCE_AND_CONTACT``) need the programme-membership category to be
covered; the detail of each sector concern (``Tier.DETAIL``) needs that concern's category covered too.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

#: The category "this person is in a supported family": the flag itself and the lead professional's
#: contact. It decides whether anything is seen at all.
PROGRAMME_MEMBERSHIP = "programme_membership"

#: Purpose: partners seeing flags so that they can coordinate their support with the lead professional.
SUPPORT_COORDINATION = "support_coordination"
#: Purpose: partners nominating families to the council (equivalent-concern routes).
IDENTIFICATION = "identification"

#: Direction of a flow: the council shares with a partner (flags, concerns).
TO_PARTNER = "council_to_partner"
#: Direction of a flow: a partner shares with the council (nominations).
TO_COUNCIL = "partner_to_council"

#: The only protocol status under which a protocol covers anything.
IN_FORCE = "in_force"

#: Relationship kinds that record a link with a person but never let the organisation see their flag: a
#: nominator follows its own nominations' status (``decide_nomination_access``), not the family's file.
NO_FLAG_RELATIONSHIPS = frozenset({"nominator"})


class Tier(enum.IntEnum):
    """How much a permitted request may see; higher tiers include the lower ones."""

    NOTHING = 0  #: nothing about the person, not even that they are flagged
    EXISTENCE_AND_CONTACT = 1  #: that the person is flagged, and how to reach the lead professional
    DETAIL = 2  #: the named categories' detail as well


class Action(enum.StrEnum):
    """What the actor is trying to do. The value is what the access log stores."""

    VIEW_FLAGS = "view_flags"  #: see a person's flag (and, where allowed, its concerns)
    NOMINATE = "nominate"  #: nominate a person or family under a route
    SEARCH_ACCESS_LOG = "search_access_log"  #: search and read the access log
    VERIFY_ACCESS_LOG = "verify_access_log"  #: recompute the log's hash chain and checkpoints


#: Which roles may attempt each action at all. A role is necessary, never sufficient for actions about
#: a subject; break-glass never widens it.
ROLE_ACTIONS: Mapping[Action, frozenset[str]] = MappingProxyType(
    {
        Action.VIEW_FLAGS: frozenset({"practitioner", "coordinator"}),
        Action.NOMINATE: frozenset({"practitioner"}),
        Action.SEARCH_ACCESS_LOG: frozenset({"dpo"}),
        Action.VERIFY_ACCESS_LOG: frozenset({"dpo", "sysadmin"}),
    }
)

#: Actions decided by role alone (:func:`decide_action`); every other action is about a subject and
#: must go through :func:`decide`.
ROLE_ONLY_ACTIONS: frozenset[Action] = frozenset({Action.SEARCH_ACCESS_LOG, Action.VERIFY_ACCESS_LOG})


# --------------------------------------------------------------------------------------------- facts


@dataclass(frozen=True)
class Actor:
    """The signed-in user making the request, as the gate resolved them."""

    user_id: str  #: the portal user's id
    organisation_id: str  #: the organisation they act for
    organisation_kind: str  #: that organisation's kind (gp_practice, school, rsl, ...)
    roles: frozenset[str]  #: their roles within the portal (practitioner, coordinator, dpo, ...)


@dataclass(frozen=True)
class Relationship:
    """An organisation serves a person: a registered patient, a pupil on roll, a tenant, a caseload."""

    organisation_id: str  #: the organisation that serves the person
    person_id: str  #: the person served
    kind: str  #: how (registered_patient, on_roll, tenant, caseload, ...), for the explanation
    valid_from: date  #: first day the relationship holds (inclusive)
    valid_to: date | None  #: last day it holds (inclusive); None while it is open


@dataclass(frozen=True)
class Flow:
    """One thing a protocol allows: a data category, for a purpose, in a direction."""

    category: str  #: the data category (programme_membership, health, education, ...)
    purpose: str  #: the purpose (support_coordination, identification)
    direction: str  #: TO_PARTNER or TO_COUNCIL


@dataclass(frozen=True)
class Protocol:
    """A sharing protocol (information sharing agreement) from the register."""

    id: str  #: the register's id, logged with each decision that relied on it
    reference: str  #: the human reference (e.g. "ISP-2024-03"), quoted to the user
    status: str  #: "in_force", "draft", "suspended" or "withdrawn"; only in_force covers anything
    valid_from: date  #: first day in force (inclusive)
    valid_to: date | None  #: last day in force (inclusive); None if open-ended
    party_organisation_ids: frozenset[str]  #: partner organisations that signed individually
    party_kinds: frozenset[str]  #: classes of partner covered (e.g. every gp_practice in the area)
    flows: frozenset[Flow]  #: the categories, purposes and directions it allows
    lawful_basis: str  #: e.g. "UK GDPR Art 6(1)(e); Art 9(2)(h); Children Act 2004 s10"


@dataclass(frozen=True)
class NoticeGiven:
    """A fair processing notice version given to a family: what it told them would be shared, with whom."""

    id: str  #: the id of this giving of the notice, logged with each decision that relied on it
    version_ref: str  #: the notice version's reference (e.g. "FPN v3"), quoted to the user
    family_id: str  #: the family it was given to
    member_person_ids: frozenset[str]  #: the family members it was given for
    given_on: date  #: the day it was given; it covers nothing before that day
    coverage: frozenset[tuple[str, str]]  #: (recipient organisation kind, category) pairs it names


@dataclass(frozen=True)
class Objection:
    """A family member's objection to a category being shared, and whether it is respected."""

    id: str  #: the objection's id
    person_id: str  #: who objected
    category: str  #: the category objected to
    purpose: str | None  #: the purpose objected to; None objects to every purpose
    upheld: bool  #: True: respected, the category is refused; False: overridden on a recorded basis
    basis: str  #: the recorded reason an objection was overridden (safeguarding, a statutory gateway)


@dataclass(frozen=True)
class Subject:
    """The person the request is about, and what their flag holds."""

    person_id: str  #: the person
    family_id: str  #: their supported family
    lead_professional_user_id: str | None  #: the family's lead professional, if assigned
    categories: frozenset[str]  #: the concerns on the person's flag (health, education, ...)


@dataclass(frozen=True)
class Request:
    """What is being asked, for what purpose, on which day."""

    action: Action  #: what the actor is trying to do
    purpose: str  #: why (support_coordination, identification)
    direction: str  #: which way the data would flow (TO_PARTNER, TO_COUNCIL)
    on: date  #: the day the request is decided (the gate passes today; the policy never reads a clock)
    break_glass: bool = False  #: an emergency request: waives relationship and notice, never the rest
    break_glass_reason: str = ""  #: why the emergency access is needed; required, and reviewed by the DPO


@dataclass(frozen=True)
class Facts:
    """Everything the decision may look at, gathered by the gate. Nothing else is consulted."""

    actor: Actor  #: who is asking
    request: Request  #: what they ask
    subject: Subject  #: about whom
    relationships: tuple[Relationship, ...] = ()  #: relationships with the subject (others are ignored)
    protocols: tuple[Protocol, ...] = ()  #: candidate protocols (any status; the policy filters)
    notices: tuple[NoticeGiven, ...] = ()  #: notices given to the subject's family
    objections: tuple[Objection, ...] = ()  #: objections recorded by the subject (others are ignored)


# ------------------------------------------------------------------------------------------ decision


@dataclass(frozen=True)
class Reason:
    """One condition the decision checked: a stable code for the log, a sentence for the person."""

    code: str  #: stable identifier (e.g. "no_protocol"), searched in the access log
    text: str  #: plain English, addressed to the partner practitioner
    passed: bool  #: whether the condition was met
    advice: str = ""  #: what to do about it when it failed
    category: str | None = None  #: the data category this check was about; None for role/relationship checks


@dataclass(frozen=True)
class Grant:
    """What one permitted category relied on, so the log can name the protocol and notice version."""

    category: str  #: the category permitted (programme_membership included)
    protocol_id: str  #: the protocol relied on
    protocol_ref: str  #: its human reference
    notice_id: str | None  #: the notice given relied on; None when waived by break-glass, or for a nomination
    notice_ref: str | None  #: that notice's version reference; None only when waived by break-glass


@dataclass(frozen=True)
class Decision:
    """The outcome of one request, with everything needed to explain and log it."""

    permitted: bool  #: whether the request may proceed at all
    tier: Tier  #: how much it may see
    reasons: tuple[Reason, ...] = ()  #: each condition checked, in order, up to the first failed gate
    grants: tuple[Grant, ...] = ()  #: what each permitted category relied on (programme membership first)
    break_glass: bool = False  #: the request was an emergency one (always marked, for the DPO's review)
    categories: frozenset[str] = field(default_factory=frozenset)  #: detail categories permitted

    @property
    def failed(self) -> tuple[Reason, ...]:
        """The conditions that were not met, which the 403 page (or the withheld-detail note) explains.

        Careful: on a permitted decision, a failed reason with a ``category`` names a concern on the
        person's flag that was withheld, so showing its text tells the reader that the concern exists
        (e.g. that the person has a health concern). The log needs it; the page should decide whether
        the reader may know it.
        """
        return tuple(r for r in self.reasons if not r.passed)

    @property
    def protocol_ids(self) -> tuple[str, ...]:
        """The protocols relied on, de-duplicated in order of first use, for the access log."""
        return tuple(dict.fromkeys(g.protocol_id for g in self.grants))

    @property
    def notice_ids(self) -> tuple[str, ...]:
        """The notices given relied on, de-duplicated in order of first use, for the access log."""
        return tuple(dict.fromkeys(g.notice_id for g in self.grants if g.notice_id is not None))


# ---------------------------------------------------------------------------------------- wording

_ORGANISATION_KINDS = {
    "gp_practice": "GP practices",
    "school": "schools",
    "rsl": "housing associations",
    "probation": "probation services",
    "police": "police forces",
    "health_visiting": "health visiting teams",
    "council_team": "council teams",
    "other": "other partner organisations",
}

_CATEGORIES = {
    PROGRAMME_MEMBERSHIP: "whether a person is in a supported family",
    "crime_asb": "crime and anti-social behaviour",
    "education": "school attendance",
    "children_need_help": "children who need help",
    "employment_finance": "work and money",
    "domestic_abuse": "domestic abuse",
    "health": "health",
}

_PURPOSES = {
    SUPPORT_COORDINATION: "coordinating support",
    IDENTIFICATION: "identifying families who need support",
}

_ACTIONS = {
    Action.VIEW_FLAGS: "view flags",
    Action.NOMINATE: "nominate families",
    Action.SEARCH_ACCESS_LOG: "search the access log",
    Action.VERIFY_ACCESS_LOG: "verify the access log",
}

_RELATIONSHIP_KINDS = {
    "registered_patient": "a registered patient",
    "on_roll": "a pupil on your roll",
    "tenant": "a tenant",
    "on_caseload": "on your caseload",
    "nominator": "someone your organisation nominated",
}

_STATUSES = {
    "draft": "still a draft",
    "suspended": "suspended",
    "withdrawn": "withdrawn",
}

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

_ADVICE_ROLE = "Ask your organisation's administrator if you need this access."
_ADVICE_BREAK_GLASS_REASON = (
    "Say why you need emergency access. Every emergency access is reviewed by the data protection officer."
)
_ADVICE_RELATIONSHIP = (
    "You can only see people your organisation serves. "
    "If you need this person's information in an emergency, use break-glass access."
)
_ADVICE_PROTOCOL = "Ask your information governance lead whether a sharing protocol is being agreed."
_ADVICE_NOTICE = "Contact the family's lead professional."
_ADVICE_OBJECTION = "Contact the family's lead professional if you need to discuss this person's support."


def _label(labels: Mapping[str, str], value: str) -> str:
    return labels.get(value) or value.replace("_", " ")


@functools.cache
def _kind_words(kind: str) -> str:
    """Plural words for an organisation kind, mid-sentence ("gp_practice" -> "GP practices")."""
    return _label(_ORGANISATION_KINDS, kind)


@functools.cache
def _category_words(category: str) -> str:
    """Lower-case words for a data category, mid-sentence ("crime_asb" -> "crime and anti-social behaviour")."""
    return _label(_CATEGORIES, category)


@functools.cache
def _sharing_words(category: str) -> str:
    return f"sharing information about {_category_words(category)}"


@functools.cache
def _purpose_label(purpose: str) -> str:
    return _label(_PURPOSES, purpose)


@functools.lru_cache(maxsize=4096)
def _long_date(day: date) -> str:
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


@functools.cache
def _flow_phrase(category: str, kind: str, direction: str) -> str:
    """E.g. "the council sharing information about health with GP practices"."""
    what = f"information about {_category_words(category)}"
    if direction == TO_COUNCIL:
        return f"{_kind_words(kind)} sharing {what} with the council"
    if direction == TO_PARTNER:
        return f"the council sharing {what} with {_kind_words(kind)}"
    return f"sharing {what} with {_kind_words(kind)} ({direction.replace('_', ' ')})"


# ------------------------------------------------------------------------------------------- rules


def _within(on: date, valid_from: date, valid_to: date | None) -> bool:
    """Inclusive at both ends; an open end (None) never closes."""
    return valid_from <= on and (valid_to is None or on <= valid_to)


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


def _check_role(actor: Actor, action: Action) -> Reason:
    allowed = ROLE_ACTIONS.get(action, frozenset())
    what = _label(_ACTIONS, action)
    if actor.roles & allowed:
        return Reason("role_permitted", f"Your role allows you to {what}.", True)
    return Reason("role_not_permitted", f"Your role does not allow you to {what}.", False, _ADVICE_ROLE)


def _check_break_glass_reason(request: Request) -> Reason:
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
        _ADVICE_BREAK_GLASS_REASON,
    )


@functools.lru_cache(maxsize=64)
def _relationship_live(kind: str) -> Reason:
    return Reason(
        "relationship_live",
        f"Your organisation currently serves this person ({_label(_RELATIONSHIP_KINDS, kind)}).",
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
            and _within(on, r.valid_from, r.valid_to)
        ),
        key=lambda r: (r.kind, r.valid_from, r.valid_to or date.max),
    )
    if live:
        return _relationship_live(live[0].kind)
    if subject.lead_professional_user_id is not None and subject.lead_professional_user_id == actor.user_id:
        return Reason("lead_professional", "You are the lead professional for this person's family.", True)
    if facts.request.break_glass:
        return Reason(
            "relationship_waived_break_glass",
            "Your organisation does not currently serve this person. "
            "Emergency (break-glass) access was used instead and will be reviewed.",
            True,
        )
    return Reason(
        "no_relationship",
        "Your organisation does not currently serve this person.",
        False,
        _ADVICE_RELATIONSHIP,
    )


def _protocols_naming(facts: Facts, category: str) -> list[Protocol]:
    """Protocols naming this actor as a party and this flow, whatever their status and dates."""
    actor, request = facts.actor, facts.request
    wanted = Flow(category, request.purpose, request.direction)
    return [
        p
        for p in facts.protocols
        if (actor.organisation_id in p.party_organisation_ids or actor.organisation_kind in p.party_kinds)
        and wanted in p.flows
    ]


def _by_reference(protocol: Protocol) -> tuple[str, str]:
    return (protocol.reference, protocol.id)


def _protocol_for(facts: Facts, category: str) -> Protocol | None:
    """The protocol in force covering this flow for this actor, chosen deterministically."""
    on = facts.request.on
    covering = [
        p for p in _protocols_naming(facts, category) if p.status == IN_FORCE and _within(on, p.valid_from, p.valid_to)
    ]
    return min(covering, key=_by_reference, default=None)


def _why_not_in_force(facts: Facts, category: str) -> str:
    """Why no protocol covers the flow, when one would but is not in force on the day.

    It tells the practitioner and their IG lead what to chase (a suspended protocol, a renewal). It
    changes only the wording of the ``no_protocol`` reason, never the decision.
    """
    naming = _protocols_naming(facts, category)
    if not naming:
        return ""
    protocol, on = min(naming, key=_by_reference), facts.request.on
    if protocol.status != IN_FORCE:
        state = _STATUSES.get(protocol.status, f"not in force ({protocol.status.replace('_', ' ')})")
        return f" Sharing protocol {protocol.reference}, which would cover it, is {state}."
    if on < protocol.valid_from:
        return (
            f" Sharing protocol {protocol.reference}, which would cover it, "
            f"does not come into force until {_long_date(protocol.valid_from)}."
        )
    if protocol.valid_to is not None and protocol.valid_to < on:
        return f" Sharing protocol {protocol.reference}, which covered it, expired on {_long_date(protocol.valid_to)}."
    return ""


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
    if found is not None:
        return found
    request, kind = facts.request, facts.actor.organisation_kind
    flow = _flow_phrase(category, kind, request.direction)
    purpose = _purpose_label(request.purpose)
    protocol = _protocol_for(facts, category)
    if protocol is None:
        reason = Reason(
            "no_protocol",
            f"No sharing protocol in force covers {flow} for {purpose}.{_why_not_in_force(facts, category)}",
            False,
            _ADVICE_PROTOCOL,
            category,
        )
    else:
        reason = Reason(
            "protocol_in_force",
            f"Sharing protocol {protocol.reference} covers {flow} for {purpose}.",
            True,
            category=category,
        )
    shared.results[category] = (reason, protocol)
    return reason, protocol


# Reasons are immutable and their sentences depend only on these arguments, so each is built once per
# process (a list page of a hundred people would otherwise format the same sentence a hundred times).


@functools.lru_cache(maxsize=4096)
def _notice_covers(category: str, kind: str, direction: str, version_ref: str, given_on: date) -> Reason:
    return Reason(
        "notice_covers",
        f"The fair processing notice given to this family ({version_ref}, {_long_date(given_on)}) covers "
        f"{_flow_phrase(category, kind, direction)}.",
        True,
        category=category,
    )


@functools.lru_cache(maxsize=256)
def _notice_waived(category: str, kind: str, direction: str) -> Reason:
    return Reason(
        "notice_waived_break_glass",
        f"No fair processing notice given to this family covers {_flow_phrase(category, kind, direction)}. "
        "Emergency (break-glass) access was used instead and will be reviewed.",
        True,
        category=category,
    )


@functools.lru_cache(maxsize=256)
def _no_notice(category: str, kind: str, direction: str) -> Reason:
    return Reason(
        "no_notice",
        f"No fair processing notice given to this family covers {_flow_phrase(category, kind, direction)}.",
        False,
        _ADVICE_NOTICE,
        category,
    )


@functools.lru_cache(maxsize=64)
def _no_objection(category: str) -> Reason:
    return Reason(
        "no_objection", f"This person has not objected to {_sharing_words(category)}.", True, category=category
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
    what = _sharing_words(category)
    upheld = [o for o in objections if o.upheld]
    if upheld:
        reasons.append(
            Reason(
                "objection_upheld",
                f"This person has objected to {what}, and their objection is respected.",
                False,
                _ADVICE_OBJECTION,
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


def _denied(reasons: Iterable[Reason], break_glass: bool) -> Decision:
    return Decision(permitted=False, tier=Tier.NOTHING, reasons=tuple(reasons), break_glass=break_glass)


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
        ValueError: if the action is decided by role alone (use :func:`decide_action`).
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

    role = shared.role or _check_role(actor, request.action)
    shared.role = role
    reasons.append(role)
    if not role.passed:
        return _denied(reasons, break_glass)

    if break_glass:
        given = _check_break_glass_reason(request)
        reasons.append(given)
        if not given.passed:
            return _denied(reasons, break_glass)

    relationship = _check_relationship(facts)
    reasons.append(relationship)
    if not relationship.passed:
        return _denied(reasons, break_glass)

    given = _notices_given(facts)
    membership_reasons, membership = _check_category(facts, PROGRAMME_MEMBERSHIP, shared, given)
    reasons.extend(membership_reasons)
    if membership is None:
        return _denied(reasons, break_glass)

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


def decide_action(actor: Actor, action: Action) -> Decision:
    """Decide an action that is not about any one subject (searching or verifying the access log).

    These actions are allowed by role alone: there is no subject, so no relationship, protocol or notice
    to consult, and no personal data is shown by the decision itself (what the log search then returns is
    the DPO's to see by their role). The tier is always NOTHING because no flag is seen.

    Args:
        actor: the signed-in user.
        action: one of :data:`ROLE_ONLY_ACTIONS`.

    Returns:
        A decision permitted exactly when the actor holds a role allowed for the action, with one reason.

    Raises:
        ValueError: if the action is about a subject (use :func:`decide`), so that a role check can never
            stand in for the relationship, protocol and notice checks by mistake.
    """
    if action not in ROLE_ONLY_ACTIONS:
        raise ValueError(f"{action} is about a subject: use decide")
    role = _check_role(actor, action)
    return Decision(permitted=role.passed, tier=Tier.NOTHING, reasons=(role,))


# ------------------------------------------------------------------------------------- nominations


@dataclass(frozen=True)
class RouteFacts:
    """An equivalent-concern route of the framework, as far as the decision needs it."""

    key: str  #: the route's key in the framework file, logged with the decision
    title: str  #: what the nominator read, for the explanation
    category: str  #: the data category a nomination under it shares with the council
    sectors: frozenset[str]  #: the organisation kinds whose practitioners may use it


def _sentence_start(words: str) -> str:
    return words[:1].upper() + words[1:]  # not str.capitalize, which would write "Gp practices"


_ADVICE_ROUTE = "Choose a route your organisation can use, or contact the council's Supporting Families team."


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
    request = Request(action=Action.NOMINATE, purpose=IDENTIFICATION, direction=TO_COUNCIL, on=on)
    reasons: list[Reason] = []
    role = _check_role(actor, Action.NOMINATE)
    reasons.append(role)
    if not role.passed:
        return _denied(reasons, False)
    if actor.organisation_kind not in route.sectors:
        reasons.append(
            Reason(
                "route_not_for_sector",
                f"{_sentence_start(_kind_words(actor.organisation_kind))} cannot nominate under "
                f"\u201c{route.title}\u201d.",
                False,
                _ADVICE_ROUTE,
            )
        )
        return _denied(reasons, False)
    reasons.append(Reason("route_for_sector", f"Your organisation can nominate under \u201c{route.title}\u201d.", True))
    facts = Facts(actor=actor, request=request, subject=Subject("", "", None, frozenset()), protocols=protocols)
    flow = _flow_phrase(route.category, actor.organisation_kind, TO_COUNCIL)
    purpose = _purpose_label(IDENTIFICATION)
    protocol = _protocol_for(facts, route.category)
    if protocol is None:
        reasons.append(
            Reason(
                "no_protocol",
                f"No sharing protocol in force covers {flow} for {purpose}.{_why_not_in_force(facts, route.category)}",
                False,
                _ADVICE_PROTOCOL,
                route.category,
            )
        )
        return _denied(reasons, False)
    reasons.append(
        Reason(
            "protocol_in_force",
            f"Sharing protocol {protocol.reference} covers {flow} for {purpose}.",
            True,
            category=route.category,
        )
    )
    grant = Grant(route.category, protocol.id, protocol.reference, None, None)
    return Decision(permitted=True, tier=Tier.NOTHING, reasons=tuple(reasons), grants=(grant,))


# --- nominations: partner side ---


@dataclass(frozen=True)
class NominationFacts:
    """A nomination as far as deciding who may read or change it needs: whose it is, and its stage."""

    nomination_id: str  #: the nomination asked for, logged with the decision
    organisation_id: str | None  #: the nominator's organisation; None when no such nomination exists
    nominator_user_id: str | None  #: the user who started it; None when no such nomination exists
    draft: bool  #: still being written: only its nominator may see or change it


_ADVICE_NOMINATION_ORGANISATION = (
    "You can only see nominations made by your own organisation. "
    "If you need to know about this one, contact the council's Supporting Families team."
)
_ADVICE_DRAFT = "Only the person who started a draft can see or change it. Ask them to finish it, or start your own."


def decide_nominations_list(actor: Actor) -> Decision:
    """Decide whether this actor may list their organisation's nominations ("Your nominations").

    Listing shows the organisation's own nominations (their references, routes and statuses) and the
    actor's own drafts: what the organisation itself told the council, never what the council holds
    about a family. So the role that may nominate is the only condition.

    Returns:
        A decision at tier NOTHING with one reason (the role check).
    """
    role = _check_role(actor, Action.NOMINATE)
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
    role = _check_role(actor, Action.NOMINATE)
    reasons.append(role)
    if not role.passed:
        return _denied(reasons, False)
    if nomination.organisation_id is None or nomination.organisation_id != actor.organisation_id:
        reasons.append(
            Reason(
                "nomination_not_of_organisation",
                "This nomination was not made by your organisation.",
                False,
                _ADVICE_NOMINATION_ORGANISATION,
            )
        )
        return _denied(reasons, False)
    reasons.append(Reason("nomination_of_organisation", "Your organisation made this nomination.", True))
    if nomination.draft:
        if nomination.nominator_user_id != actor.user_id:
            reasons.append(
                Reason(
                    "draft_of_someone_else",
                    "This nomination is a draft that someone else in your organisation started.",
                    False,
                    _ADVICE_DRAFT,
                )
            )
            return _denied(reasons, False)
        reasons.append(Reason("draft_of_nominator", "You started this draft.", True))
    return Decision(permitted=True, tier=Tier.NOTHING, reasons=tuple(reasons))


# --- nominations: council side ---


class TriageAction(enum.StrEnum):
    """What a coordinator does with nominations. The value is what the access log stores."""

    LIST_NOMINATIONS = "list_nominations"  #: see the triage queue
    VIEW_NOMINATION = "view_nomination"  #: open a nomination, its candidate matches and history
    REVIEW_MATCH = "review_match"  #: confirm or reject a candidate match, or say nobody known matches
    REQUEST_INFORMATION = "request_information"  #: ask the nominator for more information
    DECLINE_NOMINATION = "decline_nomination"  #: decide not to accept, with a reason
    ACCEPT_NOMINATION = "accept_nomination"  #: accept, attaching the people to a family
    ASSIGN_LEAD_PROFESSIONAL = "assign_lead_professional"  #: choose the accepted family's lead professional
    RECORD_NOTICE = "record_notice"  #: record the fair processing notice given to the family
    RAISE_FLAGS = "raise_flags"  #: raise flags for the members, so partners who serve them see them


#: Who may take each triage action: the council's coordinators, and nobody else.
TRIAGE_ROLES: Mapping[TriageAction, frozenset[str]] = MappingProxyType(
    {action: frozenset({"coordinator"}) for action in TriageAction}
)

#: Why: finding out whether the family is eligible and who they are is identification; what follows
#: acceptance (a lead professional, the notice, flags partners will see) is coordinating support.
TRIAGE_PURPOSES: Mapping[TriageAction, str] = MappingProxyType(
    {
        TriageAction.LIST_NOMINATIONS: IDENTIFICATION,
        TriageAction.VIEW_NOMINATION: IDENTIFICATION,
        TriageAction.REVIEW_MATCH: IDENTIFICATION,
        TriageAction.REQUEST_INFORMATION: IDENTIFICATION,
        TriageAction.DECLINE_NOMINATION: IDENTIFICATION,
        TriageAction.ACCEPT_NOMINATION: IDENTIFICATION,
        TriageAction.ASSIGN_LEAD_PROFESSIONAL: SUPPORT_COORDINATION,
        TriageAction.RECORD_NOTICE: SUPPORT_COORDINATION,
        TriageAction.RAISE_FLAGS: SUPPORT_COORDINATION,
    }
)

#: The organisation kind whose coordinators triage: the council's own Supporting Families team, the
#: party every nomination is shared with.
TRIAGING_KIND = "council_team"

#: Nomination statuses (``referrals.models.NominationStatus`` values, restated: the policy imports nothing)
DRAFT, SUBMITTED, MORE_INFORMATION_REQUESTED = "draft", "submitted", "more_information_requested"
ACCEPTED, NOT_ACCEPTED, LINKED = "accepted", "not_accepted", "linked"
#: still with the council: matches can be reviewed, information requested, a decision made
OPEN_FOR_TRIAGE: frozenset[str] = frozenset({SUBMITTED, MORE_INFORMATION_REQUESTED, LINKED})

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

_TRIAGE_WORDS = {
    TriageAction.LIST_NOMINATIONS: "see the nominations waiting for triage",
    TriageAction.VIEW_NOMINATION: "see nominations",
    TriageAction.REVIEW_MATCH: "match nominated people to people already known",
    TriageAction.REQUEST_INFORMATION: "ask nominators for more information",
    TriageAction.DECLINE_NOMINATION: "decide on nominations",
    TriageAction.ACCEPT_NOMINATION: "decide on nominations",
    TriageAction.ASSIGN_LEAD_PROFESSIONAL: "assign a lead professional",
    TriageAction.RECORD_NOTICE: "record the notice given to a family",
    TriageAction.RAISE_FLAGS: "raise flags",
}

_NOMINATION_STATUS_WORDS = {
    DRAFT: "a draft",
    SUBMITTED: "submitted",
    MORE_INFORMATION_REQUESTED: "waiting for more information",
    ACCEPTED: "accepted",
    NOT_ACCEPTED: "not accepted",
    LINKED: "added to an existing record",
}

_ADVICE_TRIAGE_ROLE = "Ask the council's Supporting Families team manager if you need this access."
_ADVICE_TRIAGE_KIND = "Nominations are triaged by the council's Supporting Families team: contact them."
_ADVICE_DECIDED = "Open the nomination to see its decision and history."
_ADVICE_NOT_ACCEPTED = "Accept the nomination first."


@dataclass(frozen=True)
class NominationState:
    """A nomination, as far as a triage decision needs it: which one, in what state, about what."""

    id: str  #: the nomination's id, logged with the decision
    reference: str  #: its reference (e.g. "SFN-7K3M9Q"), quoted in the explanation
    status: str  #: a ``referrals.models.NominationStatus`` value
    category: str  #: the data category its route carries (what the coordinator reads about)


def _triage_role(actor: Actor, action: TriageAction) -> Reason:
    what = _TRIAGE_WORDS[action]
    if actor.roles & TRIAGE_ROLES[action]:
        return Reason("role_permitted", f"Your role allows you to {what}.", True)
    return Reason("role_not_permitted", f"Your role does not allow you to {what}.", False, _ADVICE_TRIAGE_ROLE)


def _triage_organisation(actor: Actor) -> Reason:
    if actor.organisation_kind == TRIAGING_KIND:
        return Reason("triaging_organisation", "Your organisation is the council's Supporting Families team.", True)
    return Reason(
        "not_triaging_organisation",
        f"Only the council's Supporting Families team triages nominations, not {_kind_words(actor.organisation_kind)}.",
        False,
        _ADVICE_TRIAGE_KIND,
    )


def _triage_status(action: TriageAction, nomination: NominationState) -> Reason:
    status, reference = nomination.status, nomination.reference
    state = _label(_NOMINATION_STATUS_WORDS, status)
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
            f"Nomination {reference} is {state}. Only once a nomination is accepted can you {_TRIAGE_WORDS[action]}.",
            False,
            _ADVICE_NOT_ACCEPTED,
        )
    return Reason(
        "nomination_already_decided",
        f"Nomination {reference} has already been decided (it is {state}), so it can no longer be changed.",
        False,
        _ADVICE_DECIDED,
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
        return _denied(reasons, False)
    reasons.append(_triage_organisation(actor))
    if not reasons[-1].passed:
        return _denied(reasons, False)
    if nomination is None:
        return Decision(permitted=True, tier=Tier.NOTHING, reasons=tuple(reasons))
    reasons.append(_triage_status(action, nomination))
    if not reasons[-1].passed:
        return _denied(reasons, False)
    return Decision(
        permitted=True, tier=Tier.DETAIL, reasons=tuple(reasons), categories=frozenset({nomination.category})
    )
