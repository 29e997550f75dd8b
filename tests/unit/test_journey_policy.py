"""Truth tables for the partner side of nominations: who may list and read a nomination, and why a
"nominator" relationship never shows the family's flags.

The default facts: Sarah at Oakfield School (a practitioner) reads a submitted nomination her school
made. Each test changes one fact and states what that does.
"""

from __future__ import annotations

from datetime import date
from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharing_protocols.policy import (
    NO_FLAG_RELATIONSHIPS,
    PROGRAMME_MEMBERSHIP,
    SUPPORT_COORDINATION,
    TO_PARTNER,
    Action,
    Actor,
    Facts,
    Flow,
    NominationFacts,
    NoticeGiven,
    Protocol,
    Relationship,
    Request,
    Subject,
    Tier,
    decide,
    decide_nomination_access,
    decide_nominations_list,
)

SARAH, BEN = "user-sarah", "user-ben"
OAKFIELD, RIVERSIDE = "org-oakfield", "org-riverside"
ROLES = ("practitioner", "org_admin", "coordinator", "dpo", "sysadmin")


def an_actor(*, user_id: str = SARAH, organisation_id: str = OAKFIELD, roles=frozenset({"practitioner"})) -> Actor:
    return Actor(user_id=user_id, organisation_id=organisation_id, organisation_kind="school", roles=roles)


def a_nomination(
    *, organisation_id: str | None = OAKFIELD, nominator: str | None = SARAH, draft: bool = False
) -> NominationFacts:
    return NominationFacts("nomination-1", organisation_id, nominator, draft)


def codes(decision) -> list[str]:
    return [r.code for r in decision.reasons]


# ---------------------------------------------------------------------------------- listing


@pytest.mark.parametrize("role", ROLES)
def test_only_practitioners_list_their_organisations_nominations(role):
    decision = decide_nominations_list(an_actor(roles=frozenset({role})))
    assert decision.permitted is (role == "practitioner")
    assert decision.tier is Tier.NOTHING
    assert codes(decision) == ["role_permitted" if role == "practitioner" else "role_not_permitted"]


# ---------------------------------------------------------------------------------- reading one


def test_a_practitioner_reads_a_submitted_nomination_of_their_organisation():
    decision = decide_nomination_access(an_actor(), a_nomination())
    assert decision.permitted and decision.tier is Tier.NOTHING
    assert codes(decision) == ["role_permitted", "nomination_of_organisation"]
    assert decision.grants == ()


def test_a_colleague_reads_a_submitted_nomination_someone_else_in_the_organisation_made():
    decision = decide_nomination_access(an_actor(user_id=BEN), a_nomination())
    assert decision.permitted


def test_a_draft_is_only_its_nominators():
    assert codes(decide_nomination_access(an_actor(), a_nomination(draft=True))) == [
        "role_permitted",
        "nomination_of_organisation",
        "draft_of_nominator",
    ]
    refused = decide_nomination_access(an_actor(user_id=BEN), a_nomination(draft=True))
    assert not refused.permitted and refused.tier is Tier.NOTHING
    assert [r.code for r in refused.failed] == ["draft_of_someone_else"]
    assert refused.failed[0].text == "This nomination is a draft that someone else in your organisation started."
    assert refused.failed[0].advice


def test_another_organisations_nomination_is_refused_and_says_so():
    refused = decide_nomination_access(an_actor(organisation_id=RIVERSIDE), a_nomination())
    assert not refused.permitted
    assert codes(refused) == ["role_permitted", "nomination_not_of_organisation"]
    assert refused.failed[0].text == "This nomination was not made by your organisation."
    assert "Supporting Families team" in refused.failed[0].advice


def test_a_nomination_that_does_not_exist_is_refused_exactly_like_another_organisations():
    missing = decide_nomination_access(an_actor(), a_nomination(organisation_id=None, nominator=None))
    other = decide_nomination_access(an_actor(organisation_id=RIVERSIDE), a_nomination())
    assert missing == other


@pytest.mark.parametrize("role", [r for r in ROLES if r != "practitioner"])
def test_other_roles_are_refused_before_anything_about_the_nomination_is_checked(role):
    refused = decide_nomination_access(an_actor(roles=frozenset({role})), a_nomination(draft=True))
    assert codes(refused) == ["role_not_permitted"]


@pytest.mark.parametrize(
    ("same_organisation", "same_user", "draft", "role"),
    list(product([True, False], [True, False], [True, False], ["practitioner", "org_admin"])),
)
def test_truth_table(same_organisation, same_user, draft, role):
    actor = an_actor(
        user_id=SARAH if same_user else BEN,
        organisation_id=OAKFIELD if same_organisation else RIVERSIDE,
        roles=frozenset({role}),
    )
    expected = role == "practitioner" and same_organisation and (same_user or not draft)
    assert decide_nomination_access(actor, a_nomination(draft=draft)).permitted is expected


@given(
    st.sampled_from([OAKFIELD, RIVERSIDE, None]),
    st.sampled_from([SARAH, BEN, None]),
    st.booleans(),
    st.frozensets(st.sampled_from(ROLES)),
)
def test_a_permitted_read_always_names_the_organisation_condition_and_a_refusal_one_failed_reason(
    organisation, nominator, draft, roles
):
    decision = decide_nomination_access(
        an_actor(roles=roles), a_nomination(organisation_id=organisation, nominator=nominator, draft=draft)
    )
    if decision.permitted:
        assert organisation == OAKFIELD and "nomination_of_organisation" in codes(decision)
    else:
        assert len(decision.failed) == 1 and decision.reasons[-1] == decision.failed[0]


# -------------------------------------------------- a nominator relationship does not show flags


def _flag_facts(*kinds: str) -> Facts:
    on = date(2026, 1, 10)
    return Facts(
        actor=an_actor(),
        request=Request(Action.VIEW_FLAGS, SUPPORT_COORDINATION, TO_PARTNER, on),
        subject=Subject("person-1", "family-1", None, frozenset({"education"})),
        relationships=tuple(Relationship(OAKFIELD, "person-1", kind, date(2025, 1, 1), None) for kind in kinds),
        protocols=(
            Protocol(
                "p",
                "ISP-SCH v1",
                "in_force",
                date(2025, 1, 1),
                None,
                frozenset(),
                frozenset({"school"}),
                frozenset(Flow(c, SUPPORT_COORDINATION, TO_PARTNER) for c in (PROGRAMME_MEMBERSHIP, "education")),
                "Art 6(1)(e)",
            ),
        ),
        notices=(
            NoticeGiven(
                "n",
                "FPN v1",
                "family-1",
                frozenset({"person-1"}),
                date(2025, 2, 1),
                frozenset({("school", PROGRAMME_MEMBERSHIP), ("school", "education")}),
            ),
        ),
    )


def test_a_nominator_relationship_alone_shows_nothing_of_the_family():
    assert "nominator" in NO_FLAG_RELATIONSHIPS
    decision = decide(_flag_facts("nominator"))
    assert not decision.permitted and decision.tier is Tier.NOTHING
    assert [r.code for r in decision.failed] == ["no_relationship"]


def test_a_nominating_school_still_sees_its_own_pupils_flag_through_the_roll():
    decision = decide(_flag_facts("nominator", "on_roll"))
    assert decision.permitted and decision.tier is Tier.DETAIL
    assert "on your roll" in decision.reasons[1].text
