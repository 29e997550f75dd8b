"""The pure decision on submitting a nomination: role, route open to the sector, protocol in force.

The default facts: a practitioner at Oakfield School nominates under the school attendance route, and an
in-force schools protocol covers education, for identification, from schools to the council. Each test
changes one fact and states what that does.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharing_protocols.policy import (
    IDENTIFICATION,
    SUPPORT_COORDINATION,
    TO_COUNCIL,
    TO_PARTNER,
    Actor,
    Flow,
    Protocol,
    RouteFacts,
    Tier,
    decide_nomination,
)

ON = date(2025, 3, 10)
DAY = timedelta(days=1)
ATTENDANCE = RouteFacts(
    "school_attendance", "School attendance of equivalent concern", "education", frozenset({"school"})
)
HEALTH = RouteFacts(
    "health_concern", "Health of equivalent concern", "health", frozenset({"gp_practice", "health_visiting"})
)


def an_actor(*, kind: str = "school", roles: frozenset[str] = frozenset({"practitioner"})) -> Actor:
    return Actor(user_id="user-1", organisation_id="org-oakfield", organisation_kind=kind, roles=roles)


def a_protocol(
    *,
    id: str = "p-schools",
    reference: str = "ISP-SCHOOLS v2",
    status: str = "in_force",
    valid_from: date = date(2024, 9, 1),
    valid_to: date | None = date(2026, 8, 31),
    kinds: frozenset[str] = frozenset({"school"}),
    organisations: frozenset[str] = frozenset(),
    flows: frozenset[Flow] = frozenset({Flow("education", IDENTIFICATION, TO_COUNCIL)}),
) -> Protocol:
    return Protocol(id, reference, status, valid_from, valid_to, organisations, kinds, flows, "Art 6(1)(e)")


def codes(decision) -> list[str]:
    return [r.code for r in decision.reasons]


def test_a_school_practitioner_may_nominate_under_attendance_with_a_protocol_in_force() -> None:
    decision = decide_nomination(an_actor(), ATTENDANCE, ON, (a_protocol(),))
    assert decision.permitted and decision.tier is Tier.NOTHING
    assert codes(decision) == ["role_permitted", "route_for_sector", "protocol_in_force"]
    assert [(g.category, g.protocol_id, g.protocol_ref, g.notice_id) for g in decision.grants] == [
        ("education", "p-schools", "ISP-SCHOOLS v2", None)
    ]


@pytest.mark.parametrize("role", ["org_admin", "coordinator", "dpo", "sysadmin"])
def test_only_practitioners_nominate(role: str) -> None:
    decision = decide_nomination(an_actor(roles=frozenset({role})), ATTENDANCE, ON, (a_protocol(),))
    assert not decision.permitted and codes(decision) == ["role_not_permitted"]


def test_a_gp_practice_cannot_use_the_school_attendance_route_even_with_a_protocol() -> None:
    protocol = a_protocol(kinds=frozenset({"school", "gp_practice"}))
    decision = decide_nomination(an_actor(kind="gp_practice"), ATTENDANCE, ON, (protocol,))
    assert not decision.permitted
    assert codes(decision) == ["role_permitted", "route_not_for_sector"]
    assert (
        decision.failed[0].text
        == "GP practices cannot nominate under \u201cSchool attendance of equivalent concern\u201d."
    )
    assert decision.failed[0].advice


def test_without_any_protocol_nothing_is_submitted() -> None:
    decision = decide_nomination(an_actor(), ATTENDANCE, ON, ())
    assert not decision.permitted and codes(decision)[-1] == "no_protocol"
    assert decision.failed[0].text == (
        "No sharing protocol in force covers schools sharing information about school attendance with the "
        "council for identifying families who need support."
    )


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"status": "suspended"}, "is suspended"),
        ({"valid_to": ON - DAY}, "expired on 9 March 2025"),
        ({"valid_from": ON + DAY}, "does not come into force until 11 March 2025"),
    ],
)
def test_a_protocol_not_in_force_on_the_day_does_not_cover_it_and_the_reason_says_why(change, why) -> None:
    decision = decide_nomination(an_actor(), ATTENDANCE, ON, (a_protocol(**change),))
    assert not decision.permitted and codes(decision)[-1] == "no_protocol"
    assert why in decision.failed[0].text


def test_the_protocol_must_cover_the_route_category_purpose_and_direction() -> None:
    for flow in (
        Flow("health", IDENTIFICATION, TO_COUNCIL),
        Flow("education", SUPPORT_COORDINATION, TO_COUNCIL),
        Flow("education", IDENTIFICATION, TO_PARTNER),
    ):
        decision = decide_nomination(an_actor(), ATTENDANCE, ON, (a_protocol(flows=frozenset({flow})),))
        assert not decision.permitted, flow


def test_a_protocol_signed_by_the_organisation_itself_covers_it() -> None:
    protocol = a_protocol(kinds=frozenset(), organisations=frozenset({"org-oakfield"}))
    assert decide_nomination(an_actor(), ATTENDANCE, ON, (protocol,)).permitted
    other = a_protocol(kinds=frozenset(), organisations=frozenset({"org-elsewhere"}))
    assert not decide_nomination(an_actor(), ATTENDANCE, ON, (other,)).permitted


def test_a_gp_practice_nominates_under_health_with_a_gp_protocol() -> None:
    protocol = a_protocol(
        id="p-gp", kinds=frozenset({"gp_practice"}), flows=frozenset({Flow("health", IDENTIFICATION, TO_COUNCIL)})
    )
    assert decide_nomination(an_actor(kind="gp_practice"), HEALTH, ON, (protocol,)).permitted
    assert not decide_nomination(an_actor(kind="school"), HEALTH, ON, (protocol,)).permitted


protocols = st.lists(
    st.builds(
        a_protocol,
        id=st.sampled_from(["p1", "p2", "p3"]),
        status=st.sampled_from(["in_force", "suspended", "draft"]),
        valid_from=st.sampled_from([ON - 10 * DAY, ON, ON + DAY]),
        valid_to=st.sampled_from([None, ON - DAY, ON, ON + 10 * DAY]),
        kinds=st.frozensets(st.sampled_from(["school", "gp_practice", "rsl"])),
        flows=st.frozensets(
            st.builds(
                Flow,
                st.sampled_from(["education", "health"]),
                st.sampled_from([IDENTIFICATION, SUPPORT_COORDINATION]),
                st.sampled_from([TO_COUNCIL, TO_PARTNER]),
            )
        ),
    ),
    max_size=4,
)


@given(protocols, st.data())
def test_removing_a_protocol_never_permits_a_refused_nomination(found, data) -> None:
    actor = an_actor(kind=data.draw(st.sampled_from(["school", "gp_practice", "rsl"])))
    route = data.draw(st.sampled_from([ATTENDANCE, HEALTH]))
    full = decide_nomination(actor, route, ON, tuple(found))
    for i in range(len(found)):
        fewer = decide_nomination(actor, route, ON, tuple(found[:i] + found[i + 1 :]))
        assert full.permitted or not fewer.permitted
