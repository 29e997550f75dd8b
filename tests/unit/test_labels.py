"""Every status, event, role and answer has its words, for the coordinator and for the nominator."""

from __future__ import annotations

from referrals import labels
from referrals.models import FamilyTold, HouseholdRole, NominationEventKind, NominationStatus


def test_every_status_has_words_for_both_audiences():
    assert set(labels.STATUS_LABELS) == set(NominationStatus)
    assert set(labels.NOMINATOR_STATUS_LABELS) == set(NominationStatus)


def test_the_nominator_is_never_told_which_record_theirs_joined():
    assert labels.NOMINATOR_STATUS_LABELS[NominationStatus.LINKED] == "Added to an existing record"
    assert "Linked" in labels.STATUS_LABELS[NominationStatus.LINKED]


def test_every_event_has_the_coordinators_words_and_the_nominators_are_a_subset():
    assert set(labels.EVENT_LABELS) == set(NominationEventKind)
    assert set(labels.NOMINATOR_EVENT_LABELS) <= set(NominationEventKind)


def test_roles_and_answers_are_all_named():
    assert set(labels.ROLE_LABELS) == set(HouseholdRole)
    assert set(labels.FAMILY_TOLD_LABELS) == set(FamilyTold)


def test_an_event_without_words_is_written_out_rather_than_missing():
    assert labels.event_label(NominationEventKind.FLAGS_RAISED, {}) == "Flags raised"
