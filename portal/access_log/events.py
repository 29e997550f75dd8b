"""The catalogue of access-log events: what can be recorded, and which detail keys each must carry.

An event type names what happened (NOUN_VERBED). Its required keys are checked when the entry is
built, so a caller that forgets to say which nomination was submitted fails in its own tests instead
of leaving the DPO an entry that cannot answer "which one?". Extra keys are allowed; keys the DPO
relies on are listed here so they are not left to each caller's memory.

Also here: ``request_origin()``, the request id, IP address and user agent of the current request, so
every caller fills those fields the same way.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypedDict

from flask import g, has_request_context, request


class EventType(enum.StrEnum):
    """What an entry records. The value is what the log stores; never rename a value once used."""

    SIGNED_IN = "signed_in"
    SIGN_IN_FAILED = "sign_in_failed"
    SIGNED_OUT = "signed_out"
    FLAGS_LISTED = "flags_listed"
    FLAGS_SEARCHED = "flags_searched"
    FLAG_VIEWED = "flag_viewed"
    FLAG_BREAK_GLASS_VIEWED = "flag_break_glass_viewed"
    FLAG_RAISED = "flag_raised"
    FLAG_REMOVED = "flag_removed"
    ACCESS_DENIED = "access_denied"
    ACCESS_LOG_SEARCHED = "access_log_searched"
    ACCESS_LOG_ENTRY_VIEWED = "access_log_entry_viewed"
    ACCESS_LOG_EXPORTED = "access_log_exported"
    ACCESS_LOG_VERIFIED = "access_log_verified"
    BREAK_GLASS_GRANTED = "break_glass_granted"
    BREAK_GLASS_REVIEWED = "break_glass_reviewed"
    NOMINATION_SUBMITTED = "nomination_submitted"
    NOMINATION_VIEWED = "nomination_viewed"
    NOMINATION_DECIDED = "nomination_decided"
    NOMINATIONS_LISTED = "nominations_listed"
    NOMINATION_DRAFT_SAVED = "nomination_draft_saved"
    NOMINATION_ANSWERED = "nomination_answered"
    #: the coordinator's triage queue (the partner's own list is NOMINATIONS_LISTED)
    TRIAGE_QUEUE_LISTED = "triage_queue_listed"
    NOMINATION_MATCH_REVIEWED = "nomination_match_reviewed"
    NOMINATION_INFORMATION_REQUESTED = "nomination_information_requested"
    LEAD_PROFESSIONAL_ASSIGNED = "lead_professional_assigned"
    NOTICE_GIVEN_RECORDED = "notice_given_recorded"
    #: written by a command-line task, not a signed-in user (see ``SYSTEM_EVENTS``)
    RECORDS_IMPORTED = "records_imported"
    DEMO_DATA_SEEDED = "demo_data_seeded"
    MATCHING_KEYS_BACKFILLED = "matching_keys_backfilled"

    @property
    def spec(self) -> EventSpec:
        return CATALOGUE[self]


@dataclass(frozen=True)
class EventSpec:
    #: detail keys every entry of this type must carry (values may be empty strings, never absent)
    required: tuple[str, ...] = ()
    #: whether the entry must name at least one person or family it touched
    needs_subjects: bool = False


CATALOGUE: Mapping[EventType, EventSpec] = {
    #: provider: the identity provider's key in the portal's configuration
    EventType.SIGNED_IN: EventSpec(("provider",)),
    #: refusal: portal.auth.signin.Refusal value; optional subject / organisation_claim when the
    #: provider's token was valid, so the DPO can see who was turned away
    EventType.SIGN_IN_FAILED: EventSpec(("provider", "refusal")),
    EventType.SIGNED_OUT: EventSpec(),
    EventType.FLAGS_LISTED: EventSpec(),
    #: search_by: which identifier was searched (nhs_number, upn, name...), never the value searched for
    EventType.FLAGS_SEARCHED: EventSpec(("search_by",)),
    EventType.FLAG_VIEWED: EventSpec(needs_subjects=True),
    #: break_glass_id: the emergency access record, which holds the user's reason encrypted (free text
    #: stays out of this immutable table so that key rotation can re-encrypt it) and its review; no
    #: subject when the NHS number or UPN given matched nobody
    EventType.FLAG_BREAK_GLASS_VIEWED: EventSpec(("break_glass_id",)),
    EventType.FLAG_RAISED: EventSpec(needs_subjects=True),
    EventType.FLAG_REMOVED: EventSpec(("reason",), needs_subjects=True),
    #: attempted: the EventType value of what was refused
    EventType.ACCESS_DENIED: EventSpec(("attempted",)),
    #: filters: a short description of the filters used
    EventType.ACCESS_LOG_SEARCHED: EventSpec(("filters",)),
    EventType.ACCESS_LOG_ENTRY_VIEWED: EventSpec(("entry_seq",)),
    EventType.ACCESS_LOG_EXPORTED: EventSpec(("filters",)),
    #: result: "intact" or the problem found; intact_up_to: the last good sequence number
    EventType.ACCESS_LOG_VERIFIED: EventSpec(("result", "intact_up_to")),
    #: break_glass_id: the emergency access record just made (its reason is held there, encrypted)
    EventType.BREAK_GLASS_GRANTED: EventSpec(("break_glass_id",)),
    #: break_glass_id: the emergency access the data protection officer has reviewed
    EventType.BREAK_GLASS_REVIEWED: EventSpec(("break_glass_id",)),
    #: route: the framework route's key; outcome: "submitted", or "linked" when the person was already
    #: known and the nomination was added to the existing record (then the family, if any, is a subject)
    EventType.NOMINATION_SUBMITTED: EventSpec(("nomination_id", "route")),
    #: page: which page of the nomination was shown (a question page of a draft, "detail", ...)
    EventType.NOMINATION_VIEWED: EventSpec(("nomination_id",)),
    #: decision: "accepted" or "not_accepted"; subjects: the people and family attached when accepted
    EventType.NOMINATION_DECIDED: EventSpec(("nomination_id", "decision")),
    #: results: how many nominations the partner's "Your nominations" list showed
    EventType.NOMINATIONS_LISTED: EventSpec(("results",)),
    #: page: the question page whose answer was saved into the draft (immediate-risk, person, ...)
    EventType.NOMINATION_DRAFT_SAVED: EventSpec(("nomination_id", "page")),
    #: the nominator answered the council's request for more information (the message is in the
    #: nomination's history, encrypted, not here)
    EventType.NOMINATION_ANSWERED: EventSpec(("nomination_id",)),
    #: page, results: the page shown and how many matched the filters; nominations: the references
    #: shown, comma-separated; filters: a short description of the filters
    EventType.TRIAGE_QUEUE_LISTED: EventSpec(("page", "results", "nominations", "filters")),
    #: outcome: confirmed, rejected or new_person; subjects: the known person confirmed or rejected
    EventType.NOMINATION_MATCH_REVIEWED: EventSpec(("nomination_id", "nominated_person_id", "outcome")),
    EventType.NOMINATION_INFORMATION_REQUESTED: EventSpec(("nomination_id",)),
    #: lead_professional_id: the user assigned; subjects: the family
    EventType.LEAD_PROFESSIONAL_ASSIGNED: EventSpec(("nomination_id", "lead_professional_id"), needs_subjects=True),
    #: notice_given_id: the record made; notice_version: its version's reference; subjects: the members covered
    EventType.NOTICE_GIVEN_RECORDED: EventSpec(
        ("nomination_id", "notice_given_id", "notice_version"), needs_subjects=True
    ),
    #: A command-line import wrote, or matched, personal data; nobody signed in did it (actor: role
    #: "system", no user or organisation; see ``portal.access.record_system``). source: the command
    #: (import-relationships, import-sharing); what: the kinds of record written, comma-separated
    #: (relationships, protocols, notice_versions); file_sha256: the SHA-256 of the file imported, in
    #: hex, so the very file can be identified; rows: the records in the file. Subjects: the people and
    #: families written or matched, at most 1,000 an entry (part / parts say which of several). Also
    #: per import: counts of what was added, replaced or ended, and for relationships the organisation.
    EventType.RECORDS_IMPORTED: EventSpec(("source", "what", "file_sha256", "rows")),
    #: The demo data (invented people and families) was loaded by ``flask seed-demo``; never expected in
    #: production. source: "seed-demo"; what: the kinds of record written; rows: the people written.
    EventType.DEMO_DATA_SEEDED: EventSpec(("source", "what", "rows"), needs_subjects=True),
    #: ``flask backfill-matching-keys`` read people's names, dates of birth and postcodes to fill their
    #: matching keys (``referrals.matching``). source: "backfill-matching-keys"; rows: the people written.
    EventType.MATCHING_KEYS_BACKFILLED: EventSpec(("source", "rows"), needs_subjects=True),
}

assert set(CATALOGUE) == set(EventType), "every event type needs a catalogue entry"

#: events recorded by command-line tasks rather than by a signed-in user
SYSTEM_EVENTS = frozenset({EventType.RECORDS_IMPORTED, EventType.DEMO_DATA_SEEDED, EventType.MATCHING_KEYS_BACKFILLED})


class Outcome(enum.StrEnum):
    PERMITTED = "permitted"
    DENIED = "denied"
    BREAK_GLASS = "break_glass"


class Origin(TypedDict):
    request_id: str
    ip: str | None
    user_agent: str | None


def request_id() -> str:
    """This request's id, made on first use and kept in ``g`` so every entry of a request shares it.

    An id already set on ``g.request_id`` (by middleware, say) is used as it is. Incoming
    ``X-Request-Id`` headers are not trusted: a client could make its requests look like someone else's.
    """
    if not has_request_context():
        return ""
    if not g.get("request_id"):
        g.request_id = uuid.uuid4().hex
    return str(g.request_id)


def request_origin() -> Origin:
    """The request id, client address and user agent of the current request, for ``NewEntry(**...)``."""
    if not has_request_context():
        return {"request_id": "", "ip": None, "user_agent": None}
    return {
        "request_id": request_id(),
        "ip": request.remote_addr,
        "user_agent": request.user_agent.string or None,
    }
