"""Truth tables for the pure flag decision, part 1: the happy path, the role, break-glass and the
relationship (the defaults are in ``policy_builders``; each test changes one fact).
"""

from __future__ import annotations

from datetime import date

import pytest

from sharing_protocols.policy import (
    IDENTIFICATION,
    PROGRAMME_MEMBERSHIP,
    ROLE_ACTIONS,
    TO_COUNCIL,
    Action,
    Grant,
    Tier,
    decide,
)
from tests.unit.policy_builders import (
    ALL_ROLES,
    DAY,
    LEAD,
    ON,
    OTHER_GP_ORG,
    SAM,
    a_break_glass_request,
    a_notice,
    a_protocol,
    a_relationship,
    a_request,
    a_subject,
    an_actor,
    assert_denied_with,
    codes,
    facts,
    flows_for,
    reason,
)

# ------------------------------------------------------------------------------------ the happy path


def test_gp_sees_health_detail_for_a_registered_patient_when_protocol_and_notice_cover_it():
    decision = decide(facts())

    assert decision.permitted
    assert decision.tier is Tier.DETAIL
    assert decision.categories == frozenset({"health"})
    assert decision.failed == ()
    assert decision.break_glass is False
    assert codes(decision) == [
        "role_permitted",
        "relationship_live",
        "protocol_in_force",
        "notice_covers",
        "no_objection",
        "protocol_in_force",
        "notice_covers",
        "no_objection",
    ]
    assert decision.grants == (
        Grant(PROGRAMME_MEMBERSHIP, "protocol-gp", "ISP-2024-GP", "notice-1", "FPN v2"),
        Grant("health", "protocol-gp", "ISP-2024-GP", "notice-1", "FPN v2"),
    )
    assert decision.protocol_ids == ("protocol-gp",)
    assert decision.notice_ids == ("notice-1",)


def test_a_flag_with_no_concerns_shows_existence_and_contact_only():
    decision = decide(facts(subject=a_subject(categories=frozenset())))

    assert decision.permitted
    assert decision.tier is Tier.EXISTENCE_AND_CONTACT
    assert decision.categories == frozenset()
    assert decision.failed == ()


def test_programme_membership_listed_as_a_concern_is_not_counted_as_detail():
    decision = decide(facts(subject=a_subject(categories=frozenset({PROGRAMME_MEMBERSHIP}))))

    assert decision.tier is Tier.EXISTENCE_AND_CONTACT
    assert decision.categories == frozenset()
    assert [g.category for g in decision.grants] == [PROGRAMME_MEMBERSHIP]


def test_concerns_are_checked_in_sorted_order_after_programme_membership():
    protocol = a_protocol(categories=(PROGRAMME_MEMBERSHIP, "health", "education", "crime_asb"))
    notice = a_notice(categories=(PROGRAMME_MEMBERSHIP, "health", "education", "crime_asb"))
    subject = a_subject(categories=frozenset({"health", "education", "crime_asb"}))

    decision = decide(facts(subject=subject, protocols=(protocol,), notices=(notice,)))

    assert [g.category for g in decision.grants] == [PROGRAMME_MEMBERSHIP, "crime_asb", "education", "health"]
    assert decision.categories == frozenset({"health", "education", "crime_asb"})


# --------------------------------------------------------------------------------------------- role


@pytest.mark.parametrize("action", [Action.VIEW_FLAGS, Action.NOMINATE])
@pytest.mark.parametrize("role", ALL_ROLES)
def test_only_the_roles_listed_for_an_action_pass_the_role_check(action, role):
    request = a_request(action=action, purpose=IDENTIFICATION, direction=TO_COUNCIL)
    protocol = a_protocol(flows=flows_for(PROGRAMME_MEMBERSHIP, "health", purpose=IDENTIFICATION, direction=TO_COUNCIL))

    decision = decide(facts(actor=an_actor(roles=frozenset({role})), request=request, protocols=(protocol,)))

    allowed = role in ROLE_ACTIONS[action]
    assert decision.permitted is allowed
    assert decision.reasons[0].code == ("role_permitted" if allowed else "role_not_permitted")
    if not allowed:
        assert_denied_with(decision, "role_not_permitted")


def test_role_table_is_as_agreed():
    assert dict(ROLE_ACTIONS) == {
        Action.VIEW_FLAGS: {"practitioner", "coordinator"},
        Action.NOMINATE: {"practitioner"},
        Action.SEARCH_ACCESS_LOG: {"dpo"},
        Action.VERIFY_ACCESS_LOG: {"dpo", "sysadmin"},
    }
    assert set(ROLE_ACTIONS) == set(Action)


def test_a_user_with_no_roles_is_refused_and_told_to_ask_their_administrator():
    decision = decide(facts(actor=an_actor(roles=frozenset())))

    assert_denied_with(decision, "role_not_permitted")
    refused = decision.failed[0]
    assert refused.text == "Your role does not allow you to view flags."
    assert refused.advice == "Ask your organisation's administrator if you need this access."


def test_one_allowed_role_among_others_is_enough():
    decision = decide(facts(actor=an_actor(roles=frozenset({"org_admin", "practitioner"}))))

    assert decision.permitted


def test_break_glass_never_widens_the_role():
    decision = decide(facts(actor=an_actor(roles=frozenset({"dpo"})), request=a_break_glass_request()))

    assert_denied_with(decision, "role_not_permitted")
    assert decision.break_glass is True


def test_a_role_refusal_says_nothing_about_the_subject():
    decision = decide(facts(actor=an_actor(roles=frozenset({"sysadmin"}))))

    assert codes(decision) == ["role_not_permitted"]
    assert all(r.category is None for r in decision.reasons)


# -------------------------------------------------------------------------------------- break-glass


@pytest.mark.parametrize("blank", ["", " ", "\t\n  "])
def test_break_glass_without_a_reason_is_refused_even_when_everything_else_allows(blank):
    decision = decide(facts(request=a_break_glass_request(break_glass_reason=blank)))

    assert_denied_with(decision, "break_glass_reason_missing")
    assert decision.break_glass is True
    assert decision.failed[0].advice


def test_break_glass_with_a_reason_records_that_the_reason_was_given():
    decision = decide(facts(request=a_break_glass_request()))

    assert codes(decision)[:2] == ["role_permitted", "break_glass_reason_given"]
    assert reason(decision, "break_glass_reason_given").passed


def test_break_glass_is_marked_even_when_it_widens_nothing():
    decision = decide(facts(request=a_break_glass_request()))

    assert decision.break_glass is True
    assert decision.tier is Tier.DETAIL
    assert "relationship_waived_break_glass" not in codes(decision)
    assert "notice_waived_break_glass" not in codes(decision)
    assert decision.notice_ids == ("notice-1",)


def test_an_ordinary_request_is_never_marked_break_glass():
    assert decide(facts()).break_glass is False
    assert decide(facts(relationships=())).break_glass is False


def test_a_blank_break_glass_reason_on_an_ordinary_request_is_irrelevant():
    decision = decide(facts(request=a_request(break_glass=False, break_glass_reason="")))

    assert decision.permitted
    assert "break_glass_reason_missing" not in codes(decision)


# ------------------------------------------------------------------------------------- relationship


def test_registered_patient_relationship_passes_and_names_how_the_organisation_serves_them():
    decision = decide(facts())

    live = reason(decision, "relationship_live")
    assert live.passed
    assert live.text == "Your organisation currently serves this person (a registered patient)."


@pytest.mark.parametrize(
    ("valid_from", "valid_to", "live"),
    [
        (ON, None, True),
        (ON + DAY, None, False),
        (ON - DAY, ON, True),
        (ON - 10 * DAY, ON - DAY, False),
        (ON, ON, True),
        (date(2000, 1, 1), None, True),
    ],
    ids=["starts-today", "starts-tomorrow", "ends-today", "ended-yesterday", "single-day", "open-ended"],
)
def test_relationship_validity_is_inclusive_at_both_ends(valid_from, valid_to, live):
    relationship = a_relationship(valid_from=valid_from, valid_to=valid_to)

    decision = decide(facts(relationships=(relationship,)))

    if live:
        assert decision.permitted
        assert "relationship_live" in codes(decision)
    else:
        assert_denied_with(decision, "no_relationship")


def test_another_organisations_patient_is_refused_with_advice_about_break_glass():
    decision = decide(facts(relationships=(a_relationship(organisation_id=OTHER_GP_ORG),)))

    assert_denied_with(decision, "no_relationship")
    refused = decision.failed[0]
    assert refused.text == "Your organisation does not currently serve this person."
    assert refused.advice == (
        "You can only see people your organisation serves. "
        "If you need this person's information in an emergency, use break-glass access."
    )


def test_a_relationship_with_another_family_member_does_not_count():
    decision = decide(facts(relationships=(a_relationship(person_id=SAM),)))

    assert_denied_with(decision, "no_relationship")


def test_a_refusal_for_no_relationship_says_nothing_about_the_subjects_concerns():
    decision = decide(facts(relationships=()))

    assert codes(decision) == ["role_permitted", "no_relationship"]


def test_the_lead_professional_sees_the_family_without_an_organisational_relationship():
    decision = decide(facts(actor=an_actor(user_id=LEAD), relationships=()))

    assert decision.permitted
    assert "lead_professional" in codes(decision)


def test_a_family_without_a_lead_professional_gives_no_lead_professional_route():
    decision = decide(facts(subject=a_subject(lead_professional_user_id=None), relationships=()))

    assert_denied_with(decision, "no_relationship")


def test_a_live_relationship_is_preferred_over_lead_professional_in_the_explanation():
    decision = decide(facts(actor=an_actor(user_id=LEAD)))

    assert "relationship_live" in codes(decision)
    assert "lead_professional" not in codes(decision)


def test_break_glass_waives_the_relationship_and_is_marked():
    decision = decide(facts(request=a_break_glass_request(), relationships=()))

    assert decision.permitted
    assert decision.tier is Tier.DETAIL
    assert decision.break_glass is True
    waived = reason(decision, "relationship_waived_break_glass")
    assert waived.passed
    assert "will be reviewed" in waived.text


def test_break_glass_does_not_replace_a_live_relationship():
    decision = decide(facts(request=a_break_glass_request()))

    assert "relationship_live" in codes(decision)
