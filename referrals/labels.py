"""What the pages call each nomination status, event, household role and "was the family told" answer.

In one place because two audiences read the same records. The nominator is told only that their
information joined an existing record, never which one or whose, so their words for a linked
nomination differ from the coordinator's; the rest is shared. A new status or event gets its words
for both audiences here, beside each other, and ``tests/unit/test_labels.py`` fails if one is missing.
"""

from __future__ import annotations

from referrals.models import FamilyTold, HouseholdRole, NominationEventKind, NominationStatus

#: the coordinator's words for each status (the triage queue, a nomination's page, its linked ones)
STATUS_LABELS = {
    NominationStatus.DRAFT: "Draft",
    NominationStatus.SUBMITTED: "Submitted",
    NominationStatus.MORE_INFORMATION_REQUESTED: "More information requested",
    NominationStatus.ACCEPTED: "Accepted",
    NominationStatus.NOT_ACCEPTED: "Not accepted",
    NominationStatus.LINKED: "Linked to an existing record",
}
#: the nominator's words: "Your nominations", a nomination's page, the email when it changes
NOMINATOR_STATUS_LABELS = {**STATUS_LABELS, NominationStatus.LINKED: "Added to an existing record"}

#: the coordinator's words for each event of a nomination's history
EVENT_LABELS = {
    NominationEventKind.SUBMITTED: "Submitted",
    NominationEventKind.DUPLICATE_LINKED: "Linked to an existing record",
    NominationEventKind.INFORMATION_REQUESTED: "More information requested",
    NominationEventKind.INFORMATION_GIVEN: "More information given",
    NominationEventKind.MATCH_CONFIRMED: "Match confirmed",
    NominationEventKind.MATCH_REJECTED: "Match rejected",
    NominationEventKind.ACCEPTED: "Accepted",
    NominationEventKind.NOT_ACCEPTED: "Not accepted",
    NominationEventKind.LEAD_PROFESSIONAL_ASSIGNED: "Lead professional assigned",
    NominationEventKind.NOTICE_RECORDED: "Fair processing notice recorded",
    NominationEventKind.FLAGS_RAISED: "Flags raised",
}
#: the nominator's words, for the events shared with them (the others are never shown to them)
NOMINATOR_EVENT_LABELS = {
    NominationEventKind.SUBMITTED: "Nomination sent",
    NominationEventKind.DUPLICATE_LINKED: "Added to an existing record",
    NominationEventKind.INFORMATION_REQUESTED: "More information requested",
    NominationEventKind.INFORMATION_GIVEN: "Information given",
    NominationEventKind.ACCEPTED: "Accepted",
    NominationEventKind.NOT_ACCEPTED: "Not accepted",
}

ROLE_LABELS = {
    HouseholdRole.SUBJECT: "The person the concern is about",
    HouseholdRole.PARENT_CARER: "Parent or carer",
    HouseholdRole.CHILD: "Child (under 18)",
    HouseholdRole.OTHER_ADULT: "Another adult",
}

#: the answers to "Does the family know about this nomination?", as asked and as shown afterwards
FAMILY_TOLD_LABELS = {
    FamilyTold.TOLD_AND_NOTICE_GIVEN: "Yes, they have been told and given the fair processing notice",
    FamilyTold.TOLD_NO_NOTICE: "They have been told, but not given the notice",
    FamilyTold.NOT_TOLD: "No, they have not been told",
}


def event_label(kind: NominationEventKind, labels: dict[NominationEventKind, str] = EVENT_LABELS) -> str:
    """An event's words, or its name written out for one that has none yet (never a missing key)."""
    return labels.get(kind, kind.value.replace("_", " ").capitalize())
