"""The pure decision on a coordinator's triage actions: role, the council's own team, the nomination's state.

The truth table below is written out independently of the policy's own tables: every action, role,
organisation kind and nomination status, and what must happen. The default actor is Chris, a
coordinator in the council's Supporting Families team.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharing_protocols.policy import (
    IDENTIFICATION,
    SUPPORT_COORDINATION,
    TRIAGE_PURPOSES,
    Actor,
    NominationState,
    Tier,
    TriageAction,
    decide_triage,
)

ROLES = ["coordinator", "practitioner", "org_admin", "dpo", "sysadmin"]
KINDS = ["council_team", "gp_practice", "school", "rsl", "probation", "police", "health_visiting", "other"]
STATUSES = ["draft", "submitted", "more_information_requested", "linked", "accepted", "not_accepted"]
OPEN = {"submitted", "more_information_requested", "linked"}

#: action -> the statuses in which a coordinator of the council may take it (None: not about a nomination)
EXPECTED_STATUSES: dict[TriageAction, set[str] | None] = {
    TriageAction.LIST_NOMINATIONS: None,
    TriageAction.VIEW_NOMINATION: OPEN | {"accepted", "not_accepted"},
    TriageAction.REVIEW_MATCH: OPEN,
    TriageAction.REQUEST_INFORMATION: OPEN,
    TriageAction.DECLINE_NOMINATION: OPEN,
    TriageAction.ACCEPT_NOMINATION: OPEN,
    TriageAction.ASSIGN_LEAD_PROFESSIONAL: {"accepted"},
    TriageAction.RECORD_NOTICE: {"accepted"},
    TriageAction.RAISE_FLAGS: {"accepted"},
}


def an_actor(*, roles=("coordinator",), kind="council_team") -> Actor:
    return Actor(user_id="u-chris", organisation_id="org-council", organisation_kind=kind, roles=frozenset(roles))


def a_nomination(status: str = "submitted", category: str = "education") -> NominationState:
    return NominationState(id="n-1", reference="SFN-7K3M9Q", status=status, category=category)


def codes(decision) -> list[str]:
    return [r.code for r in decision.reasons]


def test_every_action_is_in_the_table():
    assert set(EXPECTED_STATUSES) == set(TriageAction)


CASES = [
    (action, role, kind, status)
    for action in TriageAction
    for role, kind in itertools.product(ROLES, KINDS)
    for status in ([None] if EXPECTED_STATUSES[action] is None else STATUSES)
]


@pytest.mark.parametrize(("action", "role", "kind", "status"), CASES)
def test_truth_table(action, role, kind, status):
    nomination = None if status is None else a_nomination(status)
    decision = decide_triage(an_actor(roles=(role,), kind=kind), action, nomination)
    allowed = EXPECTED_STATUSES[action]
    expected = role == "coordinator" and kind == "council_team" and (allowed is None or status in allowed)
    assert decision.permitted is expected
    if role != "coordinator":
        assert codes(decision) == ["role_not_permitted"]
    elif kind != "council_team":
        assert codes(decision) == ["role_permitted", "not_triaging_organisation"]
    elif status == "draft":
        assert codes(decision)[-1] == "nomination_not_submitted"
    elif not expected:
        assert codes(decision)[-1] == (
            "nomination_not_accepted" if allowed == {"accepted"} else "nomination_already_decided"
        )
    assert decision.break_glass is False and decision.grants == ()


def test_a_permitted_nomination_action_is_at_detail_in_the_nominations_category():
    decision = decide_triage(an_actor(), TriageAction.VIEW_NOMINATION, a_nomination(category="health"))
    assert decision.permitted and decision.tier is Tier.DETAIL and decision.categories == {"health"}
    assert codes(decision) == ["role_permitted", "triaging_organisation", "nomination_status_allows"]


def test_the_queue_shows_no_one_nominations_detail():
    decision = decide_triage(an_actor(), TriageAction.LIST_NOMINATIONS)
    assert decision.permitted and decision.tier is Tier.NOTHING and decision.categories == frozenset()


def test_a_refusal_sees_nothing():
    decision = decide_triage(an_actor(roles=("practitioner",)), TriageAction.VIEW_NOMINATION, a_nomination())
    assert not decision.permitted and decision.tier is Tier.NOTHING and decision.categories == frozenset()


def test_a_partner_with_a_coordinator_role_by_mistake_is_refused_and_told_who_triages():
    decision = decide_triage(an_actor(kind="gp_practice"), TriageAction.VIEW_NOMINATION, a_nomination())
    reason = decision.failed[0]
    assert reason.text == "Only the council's Supporting Families team triages nominations, not GP practices."
    assert reason.advice


def test_a_decided_nomination_cannot_be_redecided_and_the_reason_says_so():
    decision = decide_triage(an_actor(), TriageAction.DECLINE_NOMINATION, a_nomination("accepted"))
    assert decision.failed[0].text == (
        "Nomination SFN-7K3M9Q has already been decided (it is accepted), so it can no longer be changed."
    )


def test_flags_need_an_accepted_nomination():
    decision = decide_triage(an_actor(), TriageAction.RAISE_FLAGS, a_nomination("submitted"))
    assert decision.failed[0].code == "nomination_not_accepted"
    assert "Only once a nomination is accepted can you raise flags" in decision.failed[0].text


def test_a_draft_is_the_nominators_alone():
    decision = decide_triage(an_actor(), TriageAction.VIEW_NOMINATION, a_nomination("draft"))
    assert decision.failed[0].code == "nomination_not_submitted"


def test_an_unknown_status_is_refused():
    assert not decide_triage(an_actor(), TriageAction.VIEW_NOMINATION, a_nomination("archived")).permitted


def test_roles_are_combined_but_only_coordinator_counts():
    actor = an_actor(roles=("practitioner", "dpo", "coordinator"))
    assert decide_triage(actor, TriageAction.ACCEPT_NOMINATION, a_nomination()).permitted
    assert not decide_triage(an_actor(roles=()), TriageAction.LIST_NOMINATIONS).permitted


def test_purposes_identification_until_accepted_then_support_coordination():
    assert {a for a, p in TRIAGE_PURPOSES.items() if p == SUPPORT_COORDINATION} == {
        TriageAction.ASSIGN_LEAD_PROFESSIONAL,
        TriageAction.RECORD_NOTICE,
        TriageAction.RAISE_FLAGS,
    }
    assert set(TRIAGE_PURPOSES) == set(TriageAction)
    assert all(p in (IDENTIFICATION, SUPPORT_COORDINATION) for p in TRIAGE_PURPOSES.values())


def test_a_nomination_action_needs_its_nomination_and_the_queue_needs_none():
    with pytest.raises(ValueError, match="about one nomination"):
        decide_triage(an_actor(), TriageAction.ACCEPT_NOMINATION)
    with pytest.raises(ValueError, match="not about one nomination"):
        decide_triage(an_actor(), TriageAction.LIST_NOMINATIONS, a_nomination())


@given(
    st.frozensets(st.sampled_from(ROLES)),
    st.sampled_from(KINDS),
    st.sampled_from([a for a in TriageAction if a is not TriageAction.LIST_NOMINATIONS]),
    st.sampled_from(STATUSES),
    st.sampled_from(ROLES),
)
def test_removing_a_role_never_permits_what_was_refused(roles, kind, action, status, removed):
    full = decide_triage(an_actor(roles=roles, kind=kind), action, a_nomination(status))
    fewer = decide_triage(an_actor(roles=roles - {removed}, kind=kind), action, a_nomination(status))
    assert full.permitted or not fewer.permitted
