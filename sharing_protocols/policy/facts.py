"""The policy's vocabulary: the constants, the facts it decides on and the decisions it gives back.

Plain frozen dataclasses and enums, standard library only, so that every other module of the policy
(and the gate that gathers the facts) speaks the same types. No rule lives here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

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


# ------------------------------------------------------------------------------------- nominations


@dataclass(frozen=True)
class RouteFacts:
    """An equivalent-concern route of the framework, as far as the decision needs it."""

    key: str  #: the route's key in the framework file, logged with the decision
    title: str  #: what the nominator read, for the explanation
    category: str  #: the data category a nomination under it shares with the council
    sectors: frozenset[str]  #: the organisation kinds whose practitioners may use it


# --- nominations: partner side ---


@dataclass(frozen=True)
class NominationFacts:
    """A nomination as far as deciding who may read or change it needs: whose it is, and its stage."""

    nomination_id: str  #: the nomination asked for, logged with the decision
    organisation_id: str | None  #: the nominator's organisation; None when no such nomination exists
    nominator_user_id: str | None  #: the user who started it; None when no such nomination exists
    draft: bool  #: still being written: only its nominator may see or change it


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


@dataclass(frozen=True)
class NominationState:
    """A nomination, as far as a triage decision needs it: which one, in what state, about what."""

    id: str  #: the nomination's id, logged with the decision
    reference: str  #: its reference (e.g. "SFN-7K3M9Q"), quoted in the explanation
    status: str  #: a ``referrals.models.NominationStatus`` value
    category: str  #: the data category its route carries (what the coordinator reads about)
