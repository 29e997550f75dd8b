"""Truth tables for the partial decisions: a person served but not flagged, an emergency (break-glass)
grant, choosing a nomination route, and reading one record of the access log.

The default facts: Dr Priya Patel, a practitioner at Riverside Medical Practice (a GP practice), looks up
Alex on 1 June 2024. Each table row changes one or two facts and states every reason code the decision
gives, in order. None of these decisions shows anything about a family: the tier is always NOTHING.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sharing_protocols import policy
from sharing_protocols.policy import (
    IDENTIFICATION,
    ROLE_ACTIONS,
    SUPPORT_COORDINATION,
    TO_COUNCIL,
    TO_PARTNER,
    Action,
    Actor,
    Decision,
    Facts,
    Flow,
    Protocol,
    Relationship,
    Request,
    RouteFacts,
    Subject,
    Tier,
    decide,
    decide_break_glass_grant,
    decide_log_record,
    decide_nomination,
    decide_nomination_route,
    decide_served,
    log_scope,
)

ON = date(2024, 6, 1)
DAY = timedelta(days=1)
GP_ORG, OTHER_ORG, COUNCIL_ORG, SCHOOL_ORG = "org-riverside", "org-hillside", "org-council", "org-oakfield"
ALEX, SAM = "person-alex", "person-sam"
PRIYA, LEAD = "user-priya", "user-lead"

ATTENDANCE = RouteFacts(
    "school_attendance", "School attendance of equivalent concern", "education", frozenset({"school"})
)
HEALTH = RouteFacts(
    "health_concern", "Health of equivalent concern", "health", frozenset({"gp_practice", "health_visiting"})
)
NOWHERE = RouteFacts("retired_route", "A route no sector may use", "housing", frozenset())


# ------------------------------------------------------------------------------------------ builders


def an_actor(*roles: str, kind: str = "gp_practice", organisation_id: str = GP_ORG, user_id: str = PRIYA) -> Actor:
    return Actor(user_id, organisation_id, kind, frozenset(roles or {"practitioner"}))


def a_request(*, break_glass: bool = False, reason: str = "") -> Request:
    return Request(Action.VIEW_FLAGS, SUPPORT_COORDINATION, TO_PARTNER, ON, break_glass, reason)


def a_subject(*, lead: str | None = LEAD) -> Subject:
    return Subject(ALEX, "family-1", lead, frozenset({"health"}))


def a_relationship(
    *,
    organisation_id: str = GP_ORG,
    person_id: str = ALEX,
    kind: str = "registered_patient",
    valid_from: date = date(2019, 1, 1),
    valid_to: date | None = None,
) -> Relationship:
    return Relationship(organisation_id, person_id, kind, valid_from, valid_to)


def a_protocol(kinds: frozenset[str], flows: frozenset[Flow], status: str = "in_force", pid: str = "p1") -> Protocol:
    return Protocol(pid, f"ISP-{pid}", status, date(2024, 1, 1), None, frozenset(), kinds, flows, "Art 6(1)(e)")


def codes(decision: Decision) -> list[str]:
    return [r.code for r in decision.reasons]


def assert_shows_nothing(decision: Decision) -> None:
    assert decision.tier is Tier.NOTHING
    assert decision.grants == ()
    assert decision.categories == frozenset()


def assert_reasons_consistent(decision: Decision) -> None:
    """Every reason but a refusal's last passed; a refusal's last failed, with advice."""
    *before, last = decision.reasons
    assert all(r.passed for r in before)
    assert last.passed is decision.permitted
    assert decision.permitted or last.advice


# ------------------------------------------------------------------------------- decide_served

VIEWING_ROLES = ("practitioner", "coordinator")
NON_VIEWING_ROLES = ("dpo", "org_admin", "sysadmin")

#: scenario -> (relationships with the subject, the family's lead professional, the relationship code)
SERVED = {
    "live": ((a_relationship(),), LEAD, "relationship_live"),
    "live_from_today": ((a_relationship(valid_from=ON),), LEAD, "relationship_live"),
    "live_to_today": ((a_relationship(valid_to=ON),), LEAD, "relationship_live"),
    "expired_yesterday": ((a_relationship(valid_to=ON - DAY),), LEAD, "no_relationship"),
    "starting_tomorrow": ((a_relationship(valid_from=ON + DAY),), LEAD, "no_relationship"),
    "nominator_only": ((a_relationship(kind="nominator"),), LEAD, "no_relationship"),
    "nominator_and_caseload": (
        (a_relationship(kind="nominator"), a_relationship(kind="caseload")),
        LEAD,
        "relationship_live",
    ),
    "another_organisation": ((a_relationship(organisation_id=OTHER_ORG),), LEAD, "no_relationship"),
    "another_person": ((a_relationship(person_id=SAM),), LEAD, "no_relationship"),
    "none": ((), LEAD, "no_relationship"),
    "no_lead_assigned": ((), None, "no_relationship"),
    "actor_is_lead": ((), PRIYA, "lead_professional"),
    "actor_is_lead_relationship_expired": ((a_relationship(valid_to=ON - DAY),), PRIYA, "lead_professional"),
    "actor_is_lead_and_served": ((a_relationship(),), PRIYA, "relationship_live"),
}
SERVED_ROWS = pytest.mark.parametrize(("relationships", "lead", "relationship_code"), SERVED.values(), ids=SERVED)
ALL_VIEW_ROLES = pytest.mark.parametrize("role", VIEWING_ROLES + NON_VIEWING_ROLES)


def test_the_viewing_roles_are_exactly_practitioner_and_coordinator() -> None:
    assert frozenset(VIEWING_ROLES) == ROLE_ACTIONS[Action.VIEW_FLAGS]
    assert not ROLE_ACTIONS[Action.VIEW_FLAGS] & frozenset(NON_VIEWING_ROLES)


@ALL_VIEW_ROLES
@SERVED_ROWS
def test_decide_served_checks_the_role_then_the_relationship(role, relationships, lead, relationship_code) -> None:
    decision = decide_served(an_actor(role), a_request(), a_subject(lead=lead), relationships)
    if role in VIEWING_ROLES:
        assert codes(decision) == ["role_permitted", relationship_code]
        assert decision.permitted is (relationship_code != "no_relationship")
    else:
        assert codes(decision) == ["role_not_permitted"]
        assert not decision.permitted
    assert_shows_nothing(decision)
    assert decision.break_glass is False
    assert_reasons_consistent(decision)


@ALL_VIEW_ROLES
@SERVED_ROWS
def test_decide_served_never_says_more_than_decide(role, relationships, lead, relationship_code) -> None:
    actor, request, subject = an_actor(role), a_request(), a_subject(lead=lead)
    served = decide_served(actor, request, subject, relationships)
    full = decide(Facts(actor, request, subject, relationships))
    assert full.reasons[: len(served.reasons)] == served.reasons
    if not served.permitted:
        assert not full.permitted
        assert full.reasons == served.reasons  # a refusal reads exactly like a flagged person's


relationships = st.lists(
    st.builds(
        a_relationship,
        organisation_id=st.sampled_from([GP_ORG, OTHER_ORG]),
        person_id=st.sampled_from([ALEX, SAM]),
        kind=st.sampled_from(["registered_patient", "caseload", "nominator"]),
        valid_from=st.sampled_from([ON - 10 * DAY, ON, ON + DAY]),
        valid_to=st.sampled_from([None, ON - DAY, ON, ON + 10 * DAY]),
    ),
    max_size=4,
).map(tuple)


@given(relationships, st.sampled_from(VIEWING_ROLES + NON_VIEWING_ROLES), st.sampled_from([None, LEAD, PRIYA]))
def test_decide_served_agrees_with_decide_for_any_relationships(found, role, lead) -> None:
    actor, request, subject = an_actor(role), a_request(), a_subject(lead=lead)
    served = decide_served(actor, request, subject, found)
    full = decide(Facts(actor, request, subject, found))
    assert full.reasons[: len(served.reasons)] == served.reasons
    assert served.permitted or full.reasons == served.reasons


# -------------------------------------------------------------------------- decide_break_glass_grant

GIVEN = ["role_permitted", "break_glass_reason_given", "relationship_waived_break_glass"]


@pytest.mark.parametrize(
    ("role", "reason", "permitted", "expected"),
    [
        ("practitioner", "x" * 30, True, GIVEN),
        ("coordinator", "x" * 30, True, GIVEN),
        ("practitioner", "  x  ", True, GIVEN),
        ("dpo", "x" * 30, False, ["role_not_permitted"]),
        ("sysadmin", "x" * 30, False, ["role_not_permitted"]),
        ("dpo", "   ", False, ["role_not_permitted"]),  # the role is checked before the reason
        ("practitioner", "   ", False, ["role_permitted", "break_glass_reason_missing"]),
        ("practitioner", "", False, ["role_permitted", "break_glass_reason_missing"]),
        ("coordinator", "\t\n", False, ["role_permitted", "break_glass_reason_missing"]),
    ],
)
def test_decide_break_glass_grant(role, reason, permitted, expected) -> None:
    actor, request = an_actor(role), a_request(break_glass=True, reason=reason)
    decision = decide_break_glass_grant(actor, request)
    assert decision.permitted is permitted
    assert codes(decision) == expected
    assert decision.break_glass is True  # always marked, for the DPO's review
    assert_shows_nothing(decision)
    assert_reasons_consistent(decision)
    # and it says no more than viewing the flag of someone the organisation does not serve would
    full = decide(Facts(actor, request, a_subject()))
    assert full.reasons[: len(decision.reasons)] == decision.reasons
    assert permitted or full.reasons == decision.reasons


@pytest.mark.parametrize("reason", ["", "x" * 30])
@pytest.mark.parametrize("role", ["practitioner", "dpo"])
def test_a_break_glass_grant_needs_a_break_glass_request(role, reason) -> None:
    with pytest.raises(ValueError, match="break-glass"):
        decide_break_glass_grant(an_actor(role), a_request(break_glass=False, reason=reason))


# -------------------------------------------------------------------------- decide_nomination_route

ROUTE_OK = ["role_permitted", "route_for_sector"]
NOT_SECTOR = ["role_permitted", "route_not_for_sector"]
NO_ROLE = ["role_not_permitted"]
ROUTE_TABLE = [
    (("practitioner",), "school", ATTENDANCE, True, ROUTE_OK),
    (("practitioner",), "gp_practice", HEALTH, True, ROUTE_OK),
    (("practitioner",), "health_visiting", HEALTH, True, ROUTE_OK),
    (("practitioner", "dpo"), "school", ATTENDANCE, True, ROUTE_OK),
    (("practitioner",), "gp_practice", ATTENDANCE, False, NOT_SECTOR),
    (("practitioner",), "school", HEALTH, False, NOT_SECTOR),
    (("practitioner",), "council_team", ATTENDANCE, False, NOT_SECTOR),
    (("practitioner",), "school", NOWHERE, False, NOT_SECTOR),
    (("coordinator",), "school", ATTENDANCE, False, NO_ROLE),
    (("dpo",), "gp_practice", HEALTH, False, NO_ROLE),
    (("org_admin",), "school", ATTENDANCE, False, NO_ROLE),
    (("sysadmin",), "school", ATTENDANCE, False, NO_ROLE),
    (("coordinator",), "gp_practice", ATTENDANCE, False, NO_ROLE),  # both fail: the role is checked first
]


@pytest.mark.parametrize(("roles", "kind", "route", "permitted", "expected"), ROUTE_TABLE)
def test_decide_nomination_route_checks_the_role_then_the_sector(roles, kind, route, permitted, expected) -> None:
    decision = decide_nomination_route(an_actor(*roles, kind=kind), route)
    assert decision.permitted is permitted
    assert codes(decision) == expected
    assert decision.break_glass is False
    assert_shows_nothing(decision)
    assert_reasons_consistent(decision)
    if len(expected) == 2:
        assert route.title in decision.reasons[-1].text


def covering(route: RouteFacts, kind: str) -> Protocol:
    return a_protocol(frozenset({kind}), frozenset({Flow(route.category, IDENTIFICATION, TO_COUNCIL)}))


def check_nomination_begins_with_route(actor: Actor, route: RouteFacts, protocols: tuple[Protocol, ...]) -> None:
    chosen = decide_nomination_route(actor, route)
    sent = decide_nomination(actor, route, ON, protocols)
    if not chosen.permitted:
        assert sent == chosen
    else:
        assert sent.reasons[: len(chosen.reasons)] == chosen.reasons
        assert codes(sent)[len(chosen.reasons) :] in (["protocol_in_force"], ["no_protocol"])


@pytest.mark.parametrize("with_protocol", [False, True], ids=["no_protocol", "covering_protocol"])
@pytest.mark.parametrize(("roles", "kind", "route", "permitted", "expected"), ROUTE_TABLE)
def test_sending_a_nomination_begins_with_choosing_its_route(
    roles, kind, route, permitted, expected, with_protocol
) -> None:
    actor = an_actor(*roles, kind=kind)
    protocols = (covering(route, kind),) if with_protocol else ()
    check_nomination_begins_with_route(actor, route, protocols)
    sent = decide_nomination(actor, route, ON, protocols)
    assert sent.permitted is (permitted and with_protocol)


protocols = st.lists(
    st.builds(
        a_protocol,
        kinds=st.frozensets(st.sampled_from(["school", "gp_practice", "rsl"])),
        flows=st.frozensets(
            st.builds(
                Flow,
                st.sampled_from(["education", "health", "housing"]),
                st.sampled_from([IDENTIFICATION, SUPPORT_COORDINATION]),
                st.sampled_from([TO_COUNCIL, TO_PARTNER]),
            )
        ),
        status=st.sampled_from(["in_force", "suspended"]),
        pid=st.sampled_from(["p1", "p2"]),
    ),
    max_size=4,
).map(tuple)


@given(
    protocols,
    st.frozensets(st.sampled_from(["practitioner", "coordinator", "dpo"]), min_size=1),
    st.sampled_from(["school", "gp_practice", "rsl", "council_team"]),
    st.sampled_from([ATTENDANCE, HEALTH, NOWHERE]),
)
def test_for_any_protocols_a_nomination_is_decided_by_its_route_first(found, roles, kind, route) -> None:
    check_nomination_begins_with_route(an_actor(*roles, kind=kind), route, found)


# --------------------------------------------------------------------------- log_scope, log records


@pytest.mark.parametrize(
    ("kind", "organisation_id", "roles", "expected"),
    [
        ("council_team", COUNCIL_ORG, ("dpo",), None),
        ("council_team", COUNCIL_ORG, ("practitioner",), None),
        ("gp_practice", GP_ORG, ("dpo",), GP_ORG),
        ("school", SCHOOL_ORG, ("dpo", "sysadmin"), SCHOOL_ORG),
        ("rsl", OTHER_ORG, ("practitioner",), OTHER_ORG),
    ],
)
def test_log_scope_is_every_organisation_for_the_council_and_their_own_otherwise(
    kind, organisation_id, roles, expected
) -> None:
    assert log_scope(an_actor(*roles, kind=kind, organisation_id=organisation_id)) == expected


COUNCIL_DPO = {"kind": "council_team", "organisation_id": COUNCIL_ORG}
GP_DPO = {"kind": "gp_practice", "organisation_id": GP_ORG}
IN_SCOPE = ["role_permitted", "record_in_scope"]
OUT_OF_SCOPE = ["role_permitted", "record_not_of_organisation"]
LOG_TABLE = [
    ("dpo", COUNCIL_DPO, GP_ORG, True, IN_SCOPE),
    ("dpo", COUNCIL_DPO, COUNCIL_ORG, True, IN_SCOPE),
    ("dpo", COUNCIL_DPO, OTHER_ORG, True, IN_SCOPE),
    ("dpo", COUNCIL_DPO, None, True, IN_SCOPE),  # a record made by nobody signed in is the council's
    ("dpo", GP_DPO, GP_ORG, True, IN_SCOPE),
    ("dpo", GP_DPO, OTHER_ORG, False, OUT_OF_SCOPE),
    ("dpo", GP_DPO, COUNCIL_ORG, False, OUT_OF_SCOPE),
    ("dpo", GP_DPO, None, False, OUT_OF_SCOPE),
    ("practitioner", GP_DPO, GP_ORG, False, ["role_not_permitted"]),
    ("practitioner", COUNCIL_DPO, None, False, ["role_not_permitted"]),
    ("coordinator", COUNCIL_DPO, GP_ORG, False, ["role_not_permitted"]),
    ("sysadmin", COUNCIL_DPO, GP_ORG, False, ["role_not_permitted"]),  # may verify the log, not search it
    ("sysadmin", GP_DPO, OTHER_ORG, False, ["role_not_permitted"]),  # role first, scope never reached
]


@pytest.mark.parametrize(("role", "where", "record_org", "permitted", "expected"), LOG_TABLE)
def test_decide_log_record_checks_the_role_then_the_scope(role, where, record_org, permitted, expected) -> None:
    decision = decide_log_record(an_actor(role, **where), Action.SEARCH_ACCESS_LOG, record_org)
    assert decision.permitted is permitted
    assert codes(decision) == expected
    assert decision.break_glass is False
    assert_shows_nothing(decision)
    assert_reasons_consistent(decision)


@pytest.mark.parametrize("record_org", [GP_ORG, OTHER_ORG, COUNCIL_ORG, None])
@pytest.mark.parametrize("where", [COUNCIL_DPO, GP_DPO, {"kind": "school", "organisation_id": SCHOOL_ORG}])
def test_a_dpo_reads_one_record_exactly_when_their_log_scope_would_list_it(where, record_org) -> None:
    actor = an_actor("dpo", **where)
    scope = log_scope(actor)
    listed = scope is None or scope == record_org
    assert decide_log_record(actor, Action.SEARCH_ACCESS_LOG, record_org).permitted is listed


@pytest.mark.parametrize("action", [Action.VIEW_FLAGS, Action.NOMINATE])
@pytest.mark.parametrize("role", ["dpo", "practitioner"])
def test_decide_log_record_refuses_to_decide_a_subject_action(action, role) -> None:
    with pytest.raises(ValueError, match="about a subject"):
        decide_log_record(an_actor(role, **COUNCIL_DPO), action, COUNCIL_ORG)


def test_decide_served_refuses_to_decide_a_break_glass_request():
    """An emergency look-up must state its reason, which only decide_break_glass_grant checks."""
    request = policy.Request(
        policy.Action.VIEW_FLAGS, policy.SUPPORT_COORDINATION, policy.TO_PARTNER, date(2026, 12, 4), True, ""
    )
    actor = policy.Actor("u", "o", "gp_practice", frozenset({"practitioner"}))
    with pytest.raises(ValueError):
        policy.decide_served(actor, request, policy.Subject("p", "", None, frozenset()), ())
