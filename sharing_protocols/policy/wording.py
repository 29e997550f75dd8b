"""The words of every decision: labels for codes, the phrases reasons are built from, and advice.

A wording table, kept apart from the rules so that a change of words can never change a decision
(and so that the rules read as rules). The reason *codes* are the policy's; only their sentences are
built here.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date

from sharing_protocols.policy.facts import (
    ACCEPTED,
    DRAFT,
    IDENTIFICATION,
    LINKED,
    MORE_INFORMATION_REQUESTED,
    NOT_ACCEPTED,
    PROGRAMME_MEMBERSHIP,
    SUBMITTED,
    SUPPORT_COORDINATION,
    TO_COUNCIL,
    TO_PARTNER,
    Action,
    TriageAction,
)

ORGANISATION_KINDS = {
    "gp_practice": "GP practices",
    "school": "schools",
    "rsl": "housing associations",
    "probation": "probation services",
    "police": "police forces",
    "health_visiting": "health visiting teams",
    "council_team": "council teams",
    "other": "other partner organisations",
}

CATEGORIES = {
    PROGRAMME_MEMBERSHIP: "whether a person is in a supported family",
    "crime_asb": "crime and anti-social behaviour",
    "education": "school attendance",
    "children_need_help": "children who need help",
    "employment_finance": "work and money",
    "domestic_abuse": "domestic abuse",
    "health": "health",
}

PURPOSES = {
    SUPPORT_COORDINATION: "coordinating support",
    IDENTIFICATION: "identifying families who need support",
}

ACTIONS = {
    Action.VIEW_FLAGS: "view flags",
    Action.NOMINATE: "nominate families",
    Action.SEARCH_ACCESS_LOG: "search the access log",
    Action.VERIFY_ACCESS_LOG: "verify the access log",
}

RELATIONSHIP_KINDS = {
    "registered_patient": "a registered patient",
    "on_roll": "a pupil on your roll",
    "tenant": "a tenant",
    "on_caseload": "on your caseload",
    "nominator": "someone your organisation nominated",
}

PROTOCOL_STATUSES = {
    "draft": "still a draft",
    "suspended": "suspended",
    "withdrawn": "withdrawn",
}

MONTHS = (
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

ADVICE_ROLE = "Ask your organisation's administrator if you need this access."
ADVICE_BREAK_GLASS_REASON = (
    "Say why you need emergency access. Every emergency access is reviewed by the data protection officer."
)
ADVICE_RELATIONSHIP = (
    "You can only see people your organisation serves. "
    "If you need this person's information in an emergency, use break-glass access."
)
ADVICE_PROTOCOL = "Ask your information governance lead whether a sharing protocol is being agreed."
ADVICE_NOTICE = "Contact the family's lead professional."
ADVICE_OBJECTION = "Contact the family's lead professional if you need to discuss this person's support."


def label(labels: Mapping[str, str], value: str) -> str:
    return labels.get(value) or value.replace("_", " ")


@functools.cache
def kind_words(kind: str) -> str:
    """Plural words for an organisation kind, mid-sentence ("gp_practice" -> "GP practices")."""
    return label(ORGANISATION_KINDS, kind)


@functools.cache
def category_words(category: str) -> str:
    """Lower-case words for a data category, mid-sentence ("crime_asb" -> "crime and anti-social behaviour")."""
    return label(CATEGORIES, category)


@functools.cache
def sharing_words(category: str) -> str:
    return f"sharing information about {category_words(category)}"


@functools.cache
def purpose_label(purpose: str) -> str:
    return label(PURPOSES, purpose)


@functools.lru_cache(maxsize=4096)
def long_date(day: date) -> str:
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


@functools.cache
def flow_phrase(category: str, kind: str, direction: str) -> str:
    """E.g. "the council sharing information about health with GP practices"."""
    what = f"information about {category_words(category)}"
    if direction == TO_COUNCIL:
        return f"{kind_words(kind)} sharing {what} with the council"
    if direction == TO_PARTNER:
        return f"the council sharing {what} with {kind_words(kind)}"
    return f"sharing {what} with {kind_words(kind)} ({direction.replace('_', ' ')})"


def sentence_start(words: str) -> str:
    return words[:1].upper() + words[1:]  # not str.capitalize, which would write "Gp practices"


ADVICE_ROUTE = "Choose a route your organisation can use, or contact the council's Supporting Families team."


ADVICE_NOMINATION_ORGANISATION = (
    "You can only see nominations made by your own organisation. "
    "If you need to know about this one, contact the council's Supporting Families team."
)
ADVICE_DRAFT = "Only the person who started a draft can see or change it. Ask them to finish it, or start your own."


TRIAGE_WORDS = {
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

NOMINATION_STATUS_WORDS = {
    DRAFT: "a draft",
    SUBMITTED: "submitted",
    MORE_INFORMATION_REQUESTED: "waiting for more information",
    ACCEPTED: "accepted",
    NOT_ACCEPTED: "not accepted",
    LINKED: "added to an existing record",
}

ADVICE_TRIAGE_ROLE = "Ask the council's Supporting Families team manager if you need this access."
ADVICE_TRIAGE_KIND = "Nominations are triaged by the council's Supporting Families team: contact them."
ADVICE_DECIDED = "Open the nomination to see its decision and history."
ADVICE_NOT_ACCEPTED = "Accept the nomination first."

ADVICE_LOG_ORGANISATION = (
    "You can only read your own organisation's records. Ask the council's data protection officer."
)


#: every reason code, as the data protection officer reads it in the access log (a test checks each has one)
REASON_LABELS = {
    "role_permitted": "the user's role allows this",
    "role_not_permitted": "the user's role does not allow this",
    "break_glass_reason_given": "an emergency reason was given",
    "break_glass_reason_missing": "no emergency reason was given",
    "relationship_live": "the organisation serves the person",
    "lead_professional": "the user is the family's lead professional",
    "relationship_waived_break_glass": "no relationship: waived by break-glass",
    "no_relationship": "the organisation does not serve the person",
    "protocol_in_force": "a sharing protocol in force covers it",
    "no_protocol": "no sharing protocol in force covers it",
    "notice_covers": "the notice given to the family covers it",
    "notice_waived_break_glass": "no notice cover: waived by break-glass",
    "no_notice": "the notice given to the family does not cover it",
    "no_objection": "no objection recorded",
    "objection_upheld": "an upheld objection covers it",
    "objection_overridden": "an objection was overridden on a recorded basis",
    # nominations: the partner's side
    "route_for_sector": "the organisation's sector may use the route",
    "route_not_for_sector": "the organisation's sector may not use the route",
    "nomination_of_organisation": "the organisation made the nomination",
    "nomination_not_of_organisation": "the nomination is not the organisation's (or does not exist)",
    "draft_of_nominator": "the user started the draft",
    "draft_of_someone_else": "the draft is another user's",
    # nominations: the council's triage
    "triaging_organisation": "the user acts for the council's Supporting Families team",
    "not_triaging_organisation": "the user does not act for the council's Supporting Families team",
    "nomination_status_allows": "the nomination's status allows this step",
    "nomination_accepted": "the nomination has been accepted",
    "nomination_not_accepted": "the nomination has not been accepted yet",
    "nomination_not_submitted": "the nomination has not been submitted",
    "nomination_already_decided": "the nomination has already been decided",
    # the access log
    "record_in_scope": "the record is one the officer may read",
    "record_not_of_organisation": "the record is another organisation's",
}
