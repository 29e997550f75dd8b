"""The pure sharing decision: may this person, acting for this organisation, see this about this person?

Every access to personal data passes the gate (``portal.gate.authorise``), which gathers the facts
(the actor, the relationships their organisation has with the subject, the sharing protocols, the fair
processing notices given to the family and any objections) and asks this package. It is pure: it
imports only the standard library (an import-linter contract enforces it), never reads the clock (the
date is one of the facts) and never touches the database. That is what lets every rule be tested as a
truth table, every property be proved over random facts, and every decision be explained afterwards
from the facts alone. Only the gate calls its ``decide*`` functions (an architecture test keeps it so).

The decision is deny by default. Each condition checked yields a :class:`Reason` with a stable code
(for the access log and the DPO's searches) and a plain-English sentence addressed to the partner
practitioner, with advice on what to do when it failed. A request passes only when role, relationship,
protocol and notice all allow it and no upheld objection stands in the way; the :class:`Grant` list
records which protocol and which notice version each permitted category relied on, for the log.

Minimum necessary: what a permitted request sees is tiered. The existence of the flag and how to reach
the lead professional (``Tier.EXISTENCE_AND_CONTACT``) need the programme-membership category to be
covered; the detail of each sector concern (``Tier.DETAIL``) needs that concern's category covered too.

The modules: ``facts`` (the types), ``wording`` (every sentence and label), ``checks`` (conditions
several decisions share, the protocol check among them), ``flags``, ``nominations``, ``triage`` and
``logs`` (one per kind of decision). Everything public is re-exported here, so callers write
``policy.Decision`` and the gate writes ``policy.decide_many``.
"""

from sharing_protocols.policy.facts import (
    ACCEPTED,
    DRAFT,
    IDENTIFICATION,
    IN_FORCE,
    LINKED,
    MORE_INFORMATION_REQUESTED,
    NO_FLAG_RELATIONSHIPS,
    NOT_ACCEPTED,
    OPEN_FOR_TRIAGE,
    PROGRAMME_MEMBERSHIP,
    ROLE_ACTIONS,
    ROLE_ONLY_ACTIONS,
    SUBMITTED,
    SUPPORT_COORDINATION,
    TO_COUNCIL,
    TO_PARTNER,
    TRIAGE_PURPOSES,
    TRIAGE_ROLES,
    TRIAGING_KIND,
    Action,
    Actor,
    Decision,
    Facts,
    Flow,
    Grant,
    NominationFacts,
    NominationState,
    NoticeGiven,
    Objection,
    Protocol,
    Reason,
    Relationship,
    Request,
    RouteFacts,
    Subject,
    Tier,
    TriageAction,
)
from sharing_protocols.policy.flags import decide, decide_break_glass_grant, decide_many, decide_served
from sharing_protocols.policy.logs import LOG_READING_KIND, decide_action, decide_log_record, log_scope
from sharing_protocols.policy.nominations import (
    decide_nomination,
    decide_nomination_access,
    decide_nomination_route,
    decide_nominations_list,
)
from sharing_protocols.policy.triage import decide_triage
from sharing_protocols.policy.wording import REASON_LABELS, label

__all__ = [
    "ACCEPTED",
    "DRAFT",
    "IDENTIFICATION",
    "IN_FORCE",
    "LINKED",
    "LOG_READING_KIND",
    "MORE_INFORMATION_REQUESTED",
    "NOT_ACCEPTED",
    "NO_FLAG_RELATIONSHIPS",
    "OPEN_FOR_TRIAGE",
    "PROGRAMME_MEMBERSHIP",
    "REASON_LABELS",
    "ROLE_ACTIONS",
    "ROLE_ONLY_ACTIONS",
    "SUBMITTED",
    "SUPPORT_COORDINATION",
    "TO_COUNCIL",
    "TO_PARTNER",
    "TRIAGE_PURPOSES",
    "TRIAGE_ROLES",
    "TRIAGING_KIND",
    "Action",
    "Actor",
    "Decision",
    "Facts",
    "Flow",
    "Grant",
    "NominationFacts",
    "NominationState",
    "NoticeGiven",
    "Objection",
    "Protocol",
    "Reason",
    "Relationship",
    "Request",
    "RouteFacts",
    "Subject",
    "Tier",
    "TriageAction",
    "decide",
    "decide_action",
    "decide_break_glass_grant",
    "decide_log_record",
    "decide_many",
    "decide_nomination",
    "decide_nomination_access",
    "decide_nomination_route",
    "decide_nominations_list",
    "decide_served",
    "decide_triage",
    "label",
    "log_scope",
]
