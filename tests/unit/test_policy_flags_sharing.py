"""Truth tables for the pure flag decision, part 2: protocols, notices, objections, role-only actions
and the explanations (the defaults are in ``policy_builders``; each test changes one fact).
"""

from __future__ import annotations

from datetime import date

import pytest

from sharing_protocols.policy import (
    IDENTIFICATION,
    PROGRAMME_MEMBERSHIP,
    ROLE_ACTIONS,
    ROLE_ONLY_ACTIONS,
    SUPPORT_COORDINATION,
    TO_COUNCIL,
    TO_PARTNER,
    Action,
    Flow,
    Tier,
    decide,
    decide_action,
)
from tests.unit.policy_builders import (
    ALL_ROLES,
    DAY,
    GP_ORG,
    LEAD,
    ON,
    OTHER_FAMILY,
    OTHER_GP_ORG,
    SAM,
    SCHOOL_ORG,
    a_break_glass_request,
    a_notice,
    a_protocol,
    a_relationship,
    a_request,
    a_school_actor,
    a_subject,
    an_actor,
    an_objection,
    assert_denied_with,
    assert_existence_only,
    codes,
    facts,
    flows_for,
    reason,
)

# ----------------------------------------------------------------------------------------- protocol


@pytest.mark.parametrize("status", ["draft", "suspended", "withdrawn", "IN_FORCE", ""])
def test_a_protocol_not_in_force_covers_nothing(status):
    decision = decide(facts(protocols=(a_protocol(status=status),)))

    assert_denied_with(decision, "no_protocol")


@pytest.mark.parametrize(
    ("valid_from", "valid_to", "covers"),
    [
        (ON, None, True),
        (ON + DAY, None, False),
        (ON - DAY, ON, True),
        (date(2023, 1, 1), ON - DAY, False),
        (ON, ON, True),
    ],
    ids=["in-force-from-today", "not-yet-in-force", "expires-today", "expired-yesterday", "single-day"],
)
def test_protocol_validity_is_inclusive_at_both_ends(valid_from, valid_to, covers):
    decision = decide(facts(protocols=(a_protocol(valid_from=valid_from, valid_to=valid_to),)))

    if covers:
        assert decision.permitted
        assert decision.protocol_ids == ("protocol-gp",)
    else:
        assert_denied_with(decision, "no_protocol")


def test_a_protocol_signed_by_the_organisation_itself_covers_it():
    protocol = a_protocol(party_organisation_ids=frozenset({GP_ORG}), party_kinds=frozenset())

    assert decide(facts(protocols=(protocol,))).tier is Tier.DETAIL


def test_a_protocol_signed_by_another_organisation_of_the_same_kind_does_not_cover_it():
    protocol = a_protocol(party_organisation_ids=frozenset({OTHER_GP_ORG}), party_kinds=frozenset())

    assert_denied_with(decide(facts(protocols=(protocol,))), "no_protocol")


def test_a_protocol_for_all_gp_practices_covers_a_gp_practice_but_not_a_school():
    school_facts = facts(
        actor=a_school_actor(),
        relationships=(a_relationship(organisation_id=SCHOOL_ORG, kind="on_roll"),),
        notices=(a_notice(kinds=("school",)),),
    )

    assert decide(facts()).permitted
    assert_denied_with(decide(school_facts), "no_protocol")


def test_a_protocol_for_another_purpose_does_not_cover_support_coordination():
    protocol = a_protocol(flows=flows_for(PROGRAMME_MEMBERSHIP, "health", purpose=IDENTIFICATION))

    assert_denied_with(decide(facts(protocols=(protocol,))), "no_protocol")


def test_a_protocol_for_the_other_direction_does_not_cover_sharing_with_the_partner():
    protocol = a_protocol(flows=flows_for(PROGRAMME_MEMBERSHIP, "health", direction=TO_COUNCIL))

    assert_denied_with(decide(facts(protocols=(protocol,))), "no_protocol")


def test_a_flow_must_match_category_purpose_and_direction_together():
    mixed = frozenset(
        {
            Flow(PROGRAMME_MEMBERSHIP, IDENTIFICATION, TO_PARTNER),
            Flow(PROGRAMME_MEMBERSHIP, SUPPORT_COORDINATION, TO_COUNCIL),
            Flow("health", SUPPORT_COORDINATION, TO_PARTNER),
        }
    )

    assert_denied_with(decide(facts(protocols=(a_protocol(flows=mixed),))), "no_protocol")


def test_gp_cannot_see_health_without_a_protocol_covering_health():
    decision = decide(facts(protocols=(a_protocol(categories=(PROGRAMME_MEMBERSHIP,)),)))

    assert_existence_only(decision, "health", "no_protocol")
    withheld = decision.failed[0]
    assert withheld.text == (
        "No sharing protocol in force covers the council sharing information about health with GP practices "
        "for coordinating support."
    )
    assert withheld.advice == "Ask your information governance lead whether a sharing protocol is being agreed."


def test_no_protocol_for_programme_membership_shows_nothing_at_all():
    decision = decide(facts(protocols=(a_protocol(categories=("health",)),)))

    assert_denied_with(decision, "no_protocol")
    assert decision.failed[0].category == PROGRAMME_MEMBERSHIP
    assert codes(decision, "health") == [], "the concerns are never examined when the flag itself is refused"


def test_break_glass_never_waives_a_missing_protocol_for_programme_membership():
    decision = decide(facts(request=a_break_glass_request(), protocols=()))

    assert_denied_with(decision, "no_protocol")
    assert decision.break_glass is True


def test_break_glass_never_waives_a_missing_protocol_for_a_concern():
    protocol = a_protocol(categories=(PROGRAMME_MEMBERSHIP,))

    decision = decide(facts(request=a_break_glass_request(), protocols=(protocol,)))

    assert_existence_only(decision, "health", "no_protocol")


def test_a_suspended_protocol_stops_covering_at_once_even_with_notice_given():
    suspended = a_protocol(status="suspended", valid_from=date(2020, 1, 1), valid_to=date(2030, 1, 1))

    assert_denied_with(decide(facts(protocols=(suspended,))), "no_protocol")


@pytest.mark.parametrize(
    ("protocol", "explanation"),
    [
        (a_protocol(status="suspended"), "Sharing protocol ISP-2024-GP, which would cover it, is suspended."),
        (a_protocol(status="draft"), "Sharing protocol ISP-2024-GP, which would cover it, is still a draft."),
        (a_protocol(status="withdrawn"), "Sharing protocol ISP-2024-GP, which would cover it, is withdrawn."),
        (
            a_protocol(valid_from=ON + DAY),
            "Sharing protocol ISP-2024-GP, which would cover it, does not come into force until 2 June 2024.",
        ),
        (
            a_protocol(valid_to=date(2024, 3, 31)),
            "Sharing protocol ISP-2024-GP, which covered it, expired on 31 March 2024.",
        ),
    ],
    ids=["suspended", "draft", "withdrawn", "not-yet", "expired"],
)
def test_a_refusal_names_the_protocol_that_would_cover_it_and_why_it_does_not(protocol, explanation):
    decision = decide(facts(protocols=(protocol,)))

    assert_denied_with(decision, "no_protocol")
    assert decision.failed[0].text == (
        "No sharing protocol in force covers the council sharing information about whether a person is in a "
        f"supported family with GP practices for coordinating support. {explanation}"
    )


def test_a_protocol_for_other_partners_is_not_mentioned_in_a_refusal():
    decision = decide(facts(protocols=(a_protocol(party_kinds=frozenset({"school"})),)))

    assert "ISP-2024-GP" not in decision.failed[0].text


def test_the_protocol_relied_on_is_the_one_with_the_smallest_reference():
    later = a_protocol(id="a-protocol", reference="ISP-B")
    earlier = a_protocol(id="z-protocol", reference="ISP-A")

    for protocols in [(later, earlier), (earlier, later)]:
        decision = decide(facts(protocols=protocols))
        assert decision.protocol_ids == ("z-protocol",)
        assert {g.protocol_ref for g in decision.grants} == {"ISP-A"}


def test_protocols_with_the_same_reference_are_chosen_by_smallest_id():
    first = a_protocol(id="p-1", reference="ISP-A")
    second = a_protocol(id="p-2", reference="ISP-A")

    assert decide(facts(protocols=(second, first))).protocol_ids == ("p-1",)


def test_an_out_of_force_protocol_with_a_smaller_reference_is_never_chosen():
    draft = a_protocol(id="p-draft", reference="AAA", status="draft")
    in_force = a_protocol(id="p-live", reference="ZZZ")

    assert decide(facts(protocols=(draft, in_force))).protocol_ids == ("p-live",)


def test_each_category_can_rely_on_a_different_protocol_and_the_log_lists_each_once():
    membership = a_protocol(id="p-membership", reference="ISP-1", categories=(PROGRAMME_MEMBERSHIP,))
    health = a_protocol(id="p-health", reference="ISP-2", categories=("health", "education"))
    notice = a_notice(categories=(PROGRAMME_MEMBERSHIP, "health", "education"))
    subject = a_subject(categories=frozenset({"health", "education"}))

    decision = decide(facts(subject=subject, protocols=(health, membership), notices=(notice,)))

    assert [(g.category, g.protocol_id) for g in decision.grants] == [
        (PROGRAMME_MEMBERSHIP, "p-membership"),
        ("education", "p-health"),
        ("health", "p-health"),
    ]
    assert decision.protocol_ids == ("p-membership", "p-health")


def test_a_partner_nominating_relies_on_a_protocol_for_identification_towards_the_council():
    request = a_request(action=Action.NOMINATE, purpose=IDENTIFICATION, direction=TO_COUNCIL)
    protocol = a_protocol(flows=flows_for(PROGRAMME_MEMBERSHIP, purpose=IDENTIFICATION, direction=TO_COUNCIL))

    decision = decide(facts(request=request, protocols=(protocol,), subject=a_subject(categories=frozenset())))

    assert decision.permitted
    assert reason(decision, "protocol_in_force").text == (
        "Sharing protocol ISP-2024-GP covers GP practices sharing information about whether a person is in a "
        "supported family with the council for identifying families who need support."
    )


# ------------------------------------------------------------------------------------------- notice


def test_school_cannot_see_health_without_notice_cover():
    protocol = a_protocol(party_kinds=frozenset({"school"}), categories=(PROGRAMME_MEMBERSHIP, "education", "health"))
    notice = a_notice(kinds=("school",), categories=(PROGRAMME_MEMBERSHIP, "education"))
    school_facts = facts(
        actor=a_school_actor(),
        subject=a_subject(categories=frozenset({"education", "health"})),
        relationships=(a_relationship(organisation_id=SCHOOL_ORG, kind="on_roll"),),
        protocols=(protocol,),
        notices=(notice,),
    )

    decision = decide(school_facts)

    assert decision.permitted
    assert decision.tier is Tier.DETAIL
    assert decision.categories == frozenset({"education"})
    assert [(r.code, r.category) for r in decision.failed] == [("no_notice", "health")]
    withheld = decision.failed[0]
    assert withheld.text == (
        "No fair processing notice given to this family covers the council sharing information about health "
        "with schools."
    )
    assert withheld.advice == "Contact the family's lead professional."


def test_no_notice_given_at_all_shows_nothing():
    decision = decide(facts(notices=()))

    assert_denied_with(decision, "no_notice")
    assert decision.failed[0].category == PROGRAMME_MEMBERSHIP


def test_a_notice_given_to_another_family_does_not_cover_this_one():
    assert_denied_with(decide(facts(notices=(a_notice(family_id=OTHER_FAMILY),))), "no_notice")


def test_a_notice_given_for_other_family_members_does_not_cover_this_person():
    assert_denied_with(decide(facts(notices=(a_notice(member_person_ids=frozenset({SAM})),))), "no_notice")


@pytest.mark.parametrize(("given_on", "covers"), [(ON - DAY, True), (ON, True), (ON + DAY, False)])
def test_a_notice_covers_from_the_day_it_was_given(given_on, covers):
    decision = decide(facts(notices=(a_notice(given_on=given_on),)))

    if covers:
        assert decision.notice_ids == ("notice-1",)
    else:
        assert_denied_with(decision, "no_notice")


def test_a_notice_naming_the_category_only_for_another_sector_does_not_cover_this_recipient():
    notice = a_notice(coverage=frozenset({("gp_practice", PROGRAMME_MEMBERSHIP), ("school", "health")}))

    assert_existence_only(decide(facts(notices=(notice,))), "health", "no_notice")


def test_a_notice_naming_the_recipient_kind_only_for_other_categories_withholds_the_rest():
    notice = a_notice(categories=(PROGRAMME_MEMBERSHIP, "education"))

    assert_existence_only(decide(facts(notices=(notice,))), "health", "no_notice")


def test_the_notice_relied_on_is_quoted_with_its_version_and_date():
    decision = decide(facts())

    assert reason(decision, "notice_covers", "health").text == (
        "The fair processing notice given to this family (FPN v2, 1 March 2024) covers the council sharing "
        "information about health with GP practices."
    )


def test_break_glass_waives_a_missing_notice_and_the_grant_records_no_notice():
    decision = decide(facts(request=a_break_glass_request(), notices=()))

    assert decision.permitted
    assert decision.tier is Tier.DETAIL
    assert codes(decision).count("notice_waived_break_glass") == 2
    assert all(g.notice_id is None and g.notice_ref is None for g in decision.grants)
    assert decision.notice_ids == ()
    assert decision.protocol_ids == ("protocol-gp",)


def test_break_glass_waives_only_the_notice_that_is_missing():
    notice = a_notice(categories=(PROGRAMME_MEMBERSHIP,))

    decision = decide(facts(request=a_break_glass_request(), notices=(notice,)))

    assert codes(decision, PROGRAMME_MEMBERSHIP)[1] == "notice_covers"
    assert codes(decision, "health")[1] == "notice_waived_break_glass"
    assert [g.notice_id for g in decision.grants] == ["notice-1", None]
    assert decision.notice_ids == ("notice-1",)


def test_the_earliest_covering_notice_is_relied_on():
    older = a_notice(id="notice-b", version_ref="FPN v1", given_on=date(2023, 1, 1))
    newer = a_notice(id="notice-a", version_ref="FPN v2", given_on=date(2024, 1, 1))

    decision = decide(facts(notices=(newer, older)))

    assert decision.notice_ids == ("notice-b",)


def test_notices_given_the_same_day_are_chosen_by_smallest_id():
    first = a_notice(id="notice-1")
    second = a_notice(id="notice-2")

    assert decide(facts(notices=(second, first))).notice_ids == ("notice-1",)


def test_a_later_notice_that_omits_a_category_does_not_withdraw_an_earlier_notices_cover():
    older = a_notice(id="notice-old", given_on=date(2023, 1, 1), categories=(PROGRAMME_MEMBERSHIP, "health"))
    newer = a_notice(id="notice-new", given_on=date(2024, 1, 1), categories=(PROGRAMME_MEMBERSHIP,))

    decision = decide(facts(notices=(older, newer)))

    assert decision.categories == frozenset({"health"})
    assert decision.notice_ids == ("notice-old",)


def test_notices_are_unioned_across_versions():
    membership = a_notice(id="notice-1", given_on=date(2023, 1, 1), categories=(PROGRAMME_MEMBERSHIP,))
    health = a_notice(id="notice-2", given_on=date(2024, 1, 1), categories=("health",))

    decision = decide(facts(notices=(health, membership)))

    assert decision.categories == frozenset({"health"})
    assert [g.notice_id for g in decision.grants] == ["notice-1", "notice-2"]
    assert decision.notice_ids == ("notice-1", "notice-2")


# ---------------------------------------------------------------------------------------- objection


@pytest.mark.parametrize("purpose", [None, SUPPORT_COORDINATION], ids=["every-purpose", "this-purpose"])
def test_an_upheld_objection_to_health_withholds_health(purpose):
    decision = decide(facts(objections=(an_objection(purpose=purpose),)))

    assert_existence_only(decision, "health", "objection_upheld")
    withheld = decision.failed[0]
    assert (
        withheld.text
        == "This person has objected to sharing information about health, and their objection is respected."
    )
    assert withheld.advice


def test_an_objection_to_another_purpose_does_not_withhold():
    decision = decide(facts(objections=(an_objection(purpose=IDENTIFICATION),)))

    assert decision.categories == frozenset({"health"})
    assert codes(decision, "health")[-1] == "no_objection"


def test_an_objection_by_another_family_member_does_not_withhold():
    decision = decide(facts(objections=(an_objection(person_id=SAM),)))

    assert decision.categories == frozenset({"health"})


def test_an_objection_to_another_category_does_not_withhold():
    decision = decide(facts(objections=(an_objection(category="education"),)))

    assert decision.categories == frozenset({"health"})


def test_an_overridden_objection_passes_and_quotes_the_recorded_basis():
    objection = an_objection(upheld=False, basis="Safeguarding: risk of significant harm (Children Act 1989 s47).")

    decision = decide(facts(objections=(objection,)))

    assert decision.categories == frozenset({"health"})
    overridden = reason(decision, "objection_overridden")
    assert overridden.passed
    assert overridden.text == (
        "This person objected to sharing information about health, but the objection was overridden: "
        "Safeguarding: risk of significant harm (Children Act 1989 s47)."
    )


def test_an_upheld_objection_wins_over_an_overridden_one():
    objections = (
        an_objection(id="o-1", upheld=False, basis="Safeguarding"),
        an_objection(id="o-2", upheld=True, purpose=SUPPORT_COORDINATION),
    )

    assert_existence_only(decide(facts(objections=objections)), "health", "objection_upheld")


def test_an_upheld_objection_to_programme_membership_shows_nothing():
    decision = decide(facts(objections=(an_objection(category=PROGRAMME_MEMBERSHIP),)))

    assert_denied_with(decision, "objection_upheld")


def test_break_glass_never_overrides_an_upheld_objection():
    decision = decide(facts(request=a_break_glass_request(), objections=(an_objection(),)))

    assert_existence_only(decision, "health", "objection_upheld")
    assert decision.break_glass is True


def test_break_glass_never_overrides_an_upheld_objection_to_programme_membership():
    objection = an_objection(category=PROGRAMME_MEMBERSHIP)

    decision = decide(facts(request=a_break_glass_request(), relationships=(), objections=(objection,)))

    assert_denied_with(decision, "objection_upheld")


# ------------------------------------------------------------------------------------ decide_action


@pytest.mark.parametrize("action", sorted(ROLE_ONLY_ACTIONS))
@pytest.mark.parametrize("role", ALL_ROLES)
def test_log_actions_are_decided_by_role_alone(action, role):
    decision = decide_action(an_actor(organisation_kind="council_team", roles=frozenset({role})), action)

    allowed = role in ROLE_ACTIONS[action]
    assert decision.permitted is allowed
    assert decision.tier is Tier.NOTHING
    assert decision.grants == ()
    assert decision.break_glass is False
    assert codes(decision) == ["role_permitted" if allowed else "role_not_permitted"]


def test_a_sysadmin_may_verify_but_not_search_the_access_log():
    sysadmin = an_actor(roles=frozenset({"sysadmin"}))

    assert decide_action(sysadmin, Action.VERIFY_ACCESS_LOG).permitted
    refused = decide_action(sysadmin, Action.SEARCH_ACCESS_LOG)
    assert not refused.permitted
    assert refused.failed[0].text == "Your role does not allow you to search the access log."
    assert refused.failed[0].advice == "Ask your organisation's administrator if you need this access."


@pytest.mark.parametrize("action", [Action.VIEW_FLAGS, Action.NOMINATE])
def test_decide_action_refuses_actions_about_a_subject(action):
    with pytest.raises(ValueError, match="use decide"):
        decide_action(an_actor(), action)


@pytest.mark.parametrize("action", sorted(ROLE_ONLY_ACTIONS))
def test_decide_refuses_role_only_actions(action):
    with pytest.raises(ValueError, match="use decide_action"):
        decide(facts(actor=an_actor(roles=frozenset({"dpo"})), request=a_request(action=action)))


# ----------------------------------------------------------------------------------- explanations


def test_categories_and_organisation_kinds_are_named_in_plain_words():
    protocol = a_protocol(party_kinds=frozenset({"rsl"}), categories=(PROGRAMME_MEMBERSHIP,))
    rsl_facts = facts(
        actor=an_actor(organisation_id="org-rsl", organisation_kind="rsl"),
        subject=a_subject(categories=frozenset({"crime_asb"})),
        relationships=(a_relationship(organisation_id="org-rsl", kind="tenant"),),
        protocols=(protocol,),
        notices=(a_notice(kinds=("rsl",)),),
    )

    decision = decide(rsl_facts)

    assert reason(decision, "relationship_live").text == "Your organisation currently serves this person (a tenant)."
    assert decision.failed[0].text == (
        "No sharing protocol in force covers the council sharing information about crime and anti-social "
        "behaviour with housing associations for coordinating support."
    )


def test_an_unknown_organisation_kind_is_named_in_plain_words():
    protocol = a_protocol(party_kinds=frozenset({"youth_offending_team"}), categories=(PROGRAMME_MEMBERSHIP,))
    actor = an_actor(organisation_kind="youth_offending_team")

    decision = decide(facts(actor=actor, protocols=(protocol,), notices=(a_notice(kinds=("youth_offending_team",)),)))

    assert decision.failed[0].text == (
        "No sharing protocol in force covers the council sharing information about health with youth offending "
        "team for coordinating support."
    )


REFUSALS = {
    "role_not_permitted": facts(actor=an_actor(roles=frozenset())),
    "break_glass_reason_missing": facts(request=a_break_glass_request(break_glass_reason="")),
    "no_relationship": facts(relationships=()),
    "no_protocol": facts(protocols=()),
    "no_notice": facts(notices=()),
    "objection_upheld": facts(objections=(an_objection(category=PROGRAMME_MEMBERSHIP),)),
}


@pytest.mark.parametrize("code", sorted(REFUSALS))
def test_every_refusal_explains_itself_and_says_what_to_do(code):
    decision = decide(REFUSALS[code])

    assert_denied_with(decision, code)
    failed = decision.failed[0]
    assert failed.text.endswith(".")
    assert failed.advice.endswith(".")
    assert "_" not in failed.text, "no raw identifiers in what the user reads"


def test_every_reason_code_is_reachable():
    scenarios = [
        *REFUSALS.values(),
        facts(),
        facts(request=a_break_glass_request(), relationships=(), notices=()),
        facts(actor=an_actor(user_id=LEAD), relationships=()),
        facts(objections=(an_objection(upheld=False, basis="Statutory gateway"),)),
    ]
    reached = {code for f in scenarios for code in codes(decide(f))}
    reached |= {r.code for r in decide_action(an_actor(roles=frozenset({"dpo"})), Action.SEARCH_ACCESS_LOG).reasons}

    assert reached == {
        "role_permitted",
        "role_not_permitted",
        "break_glass_reason_given",
        "break_glass_reason_missing",
        "relationship_live",
        "lead_professional",
        "relationship_waived_break_glass",
        "no_relationship",
        "protocol_in_force",
        "no_protocol",
        "notice_covers",
        "notice_waived_break_glass",
        "no_notice",
        "no_objection",
        "objection_upheld",
        "objection_overridden",
    }


def test_value_types_are_frozen():
    decision = decide(facts())

    with pytest.raises(AttributeError):
        decision.permitted = False  # type: ignore[misc]
    with pytest.raises(AttributeError):
        decision.reasons[0].passed = False  # type: ignore[misc]
