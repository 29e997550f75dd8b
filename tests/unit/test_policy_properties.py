"""Properties of the sharing decision over random facts in a small universe.

The universe is deliberately tiny (three organisations of two kinds, three people in two families,
three categories, a week of dates) so that random protocols, notices, relationships and objections
collide often and the interesting cases (partly covered, covered by two protocols, notices for the
wrong member) come up in a few hundred examples.

The central property is monotonicity: taking away a protocol, a relationship or a notice, or adding an
objection, never widens access. It is what makes the policy safe to reason about: no fact that argues
against sharing can ever make more data flow.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sharing_protocols.policy import (
    IDENTIFICATION,
    PROGRAMME_MEMBERSHIP,
    ROLE_ACTIONS,
    ROLE_ONLY_ACTIONS,
    SUPPORT_COORDINATION,
    TO_COUNCIL,
    TO_PARTNER,
    Action,
    Actor,
    Decision,
    Facts,
    Flow,
    NoticeGiven,
    Objection,
    Protocol,
    Relationship,
    Request,
    Subject,
    Tier,
    decide,
    decide_action,
    decide_many,
)

PROPERTIES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ORGANISATIONS = ("org-1", "org-2", "org-3")
KINDS = ("gp_practice", "school")
PEOPLE = ("person-1", "person-2", "person-3")
FAMILIES = ("family-1", "family-2")
USERS = ("user-1", "user-2")
CATEGORIES = (PROGRAMME_MEMBERSHIP, "health", "education")
PURPOSES = (SUPPORT_COORDINATION, IDENTIFICATION)
DIRECTIONS = (TO_PARTNER, TO_COUNCIL)
ROLES = ("practitioner", "coordinator", "dpo", "sysadmin", "org_admin")
STATUSES = ("in_force", "draft", "suspended", "withdrawn")
START = date(2024, 1, 1)
END = START + timedelta(days=6)

# Strategies are built once here, not inside the composites: hypothesis validates each new strategy
# object, and rebuilding them per draw made generation several times slower.
days = st.integers(min_value=0, max_value=6).map(lambda n: START + timedelta(days=n))
open_or_day = st.none() | days
open_or_end = st.none() | st.just(END)
organisation_ids = st.sampled_from(ORGANISATIONS)
kinds = st.sampled_from(KINDS)
people = st.sampled_from(PEOPLE)
families = st.sampled_from(FAMILIES)
categories = st.sampled_from(CATEGORIES)
purposes = st.sampled_from(PURPOSES)
directions = st.sampled_from(DIRECTIONS)
statuses = st.sampled_from(STATUSES)
references = st.sampled_from(("ISP-A", "ISP-B", "ISP-C"))
versions = st.sampled_from(("FPN v1", "FPN v2"))
relationship_kinds = st.sampled_from(("registered_patient", "on_roll"))
bases = st.sampled_from(("", "Safeguarding"))
any_flows = st.frozensets(st.builds(Flow, categories, purposes, directions), max_size=6)
any_coverage = st.frozensets(st.tuples(kinds, categories), max_size=5)
some_kinds = st.frozensets(kinds)
some_organisations = st.frozensets(organisation_ids)
some_people = st.frozensets(people)
some_categories = st.frozensets(categories)

# Each protocol, notice, relationship and objection is drawn either "lined up" with the request (the
# fields that decide whether it applies are set so that it does, the rest stay random) or entirely at
# random. Purely random facts would almost never line a protocol, a notice and a relationship up with
# the same request, and monotonicity over facts that never permit anything would prove little.
lined_up = st.sampled_from((True, True, False))


@st.composite
def protocols(draw, index: int, actor: Actor, request: Request) -> Protocol:
    flows, party_kinds = draw(any_flows), draw(some_kinds)
    status, valid_from, valid_to = draw(statuses), draw(days), draw(open_or_day)
    if draw(lined_up):
        status, valid_from, valid_to = "in_force", min(valid_from, request.on), draw(open_or_end)
        party_kinds |= {actor.organisation_kind}
        covered = draw(some_categories) | {PROGRAMME_MEMBERSHIP}
        flows |= {Flow(c, request.purpose, request.direction) for c in covered}
    return Protocol(
        id=f"protocol-{index}",
        reference=draw(references),
        status=status,
        valid_from=valid_from,
        valid_to=valid_to,
        party_organisation_ids=draw(some_organisations),
        party_kinds=party_kinds,
        flows=flows,
        lawful_basis="Art 6(1)(e)",
    )


@st.composite
def notices(draw, index: int, actor: Actor, subject: Subject, request: Request) -> NoticeGiven:
    family, members, given_on, coverage = draw(families), draw(some_people), draw(days), draw(any_coverage)
    if draw(lined_up):
        family, members, given_on = subject.family_id, members | {subject.person_id}, min(given_on, request.on)
        coverage |= {(actor.organisation_kind, c) for c in draw(some_categories) | {PROGRAMME_MEMBERSHIP}}
    return NoticeGiven(
        id=f"notice-{index}",
        version_ref=draw(versions),
        family_id=family,
        member_person_ids=members,
        given_on=given_on,
        coverage=coverage,
    )


@st.composite
def relationships(draw, index: int, actor: Actor, subject: Subject, request: Request) -> Relationship:
    organisation, person, valid_from, valid_to = draw(organisation_ids), draw(people), draw(days), draw(open_or_day)
    if draw(lined_up):
        organisation, person = actor.organisation_id, subject.person_id
        valid_from, valid_to = min(valid_from, request.on), draw(st.none() | st.just(request.on) | open_or_end)
    return Relationship(
        organisation_id=organisation,
        person_id=person,
        kind=draw(relationship_kinds),
        valid_from=valid_from,
        valid_to=valid_to,
    )


@st.composite
def objections(draw, index: int, subject: Subject, request: Request) -> Objection:
    person, purpose = draw(people), draw(st.none() | purposes)
    if draw(lined_up):
        person, purpose = subject.person_id, draw(st.sampled_from((None, request.purpose)))
    return Objection(
        id=f"objection-{index}",
        person_id=person,
        category=draw(categories),
        purpose=purpose,
        upheld=draw(st.booleans()),
        basis=draw(bases),
    )


actors = st.builds(
    Actor,
    user_id=st.sampled_from(USERS),
    organisation_id=organisation_ids,
    organisation_kind=kinds,
    # a practitioner half the time, so that most requests get past the role check
    roles=st.builds(
        frozenset.union,
        st.frozensets(st.sampled_from(ROLES)),
        st.sampled_from((frozenset(), frozenset({"practitioner"}))),
    ),
)

requests = st.builds(
    Request,
    action=st.sampled_from((Action.VIEW_FLAGS, Action.NOMINATE)),
    purpose=purposes,
    direction=directions,
    on=days,
    break_glass=st.booleans(),
    break_glass_reason=st.sampled_from(("Child at risk tonight", "", "  ", "Child at risk tonight")),
)

subjects = st.builds(
    Subject,
    person_id=people,
    family_id=families,
    lead_professional_user_id=st.none() | st.sampled_from(USERS),
    categories=some_categories,
)


@st.composite
def all_facts(draw) -> Facts:
    """Random facts about one request; ids within each kind of fact are unique, as the register's are."""
    actor, request, subject = draw(actors), draw(requests), draw(subjects)

    def some(make, max_size: int, *context) -> tuple:
        size = draw(st.integers(min_value=0, max_value=max_size))
        return tuple(draw(make(i, *context)) for i in range(size))

    return Facts(
        actor=actor,
        request=request,
        subject=subject,
        relationships=some(relationships, 3, actor, subject, request),
        protocols=some(protocols, 4, actor, request),
        notices=some(notices, 3, actor, subject, request),
        objections=some(objections, 3, subject, request),
    )


def assert_not_wider(after: Decision, before: Decision) -> None:
    """``after`` sees no more than ``before``: permitted only True->False, tier never up, categories shrink."""
    if not before.permitted:
        assert not after.permitted
    assert after.tier <= before.tier
    assert after.categories <= before.categories
    assert {g.category for g in after.grants} <= {g.category for g in before.grants}


def without(values: tuple, index: int) -> tuple:
    return values[:index] + values[index + 1 :]


# ----------------------------------------------------------------------------------- monotonicity


@PROPERTIES
@given(all_facts())
def test_removing_any_protocol_never_widens_access(facts):
    before = decide(facts)
    for i in range(len(facts.protocols)):
        assert_not_wider(decide(replace(facts, protocols=without(facts.protocols, i))), before)


@PROPERTIES
@given(all_facts())
def test_removing_any_relationship_never_widens_access(facts):
    before = decide(facts)
    for i in range(len(facts.relationships)):
        assert_not_wider(decide(replace(facts, relationships=without(facts.relationships, i))), before)


@PROPERTIES
@given(all_facts())
def test_removing_any_notice_never_widens_access(facts):
    before = decide(facts)
    for i in range(len(facts.notices)):
        assert_not_wider(decide(replace(facts, notices=without(facts.notices, i))), before)


@PROPERTIES
@given(all_facts(), st.data())
def test_adding_any_objection_never_widens_access(facts, data):
    before = decide(facts)
    objection = data.draw(objections(99, facts.subject, facts.request))
    assert_not_wider(decide(replace(facts, objections=(*facts.objections, objection))), before)


@PROPERTIES
@given(all_facts())
def test_upholding_an_overridden_objection_never_widens_access(facts):
    before = decide(facts)
    for i, objection in enumerate(facts.objections):
        if not objection.upheld:
            upheld = replace(objection, upheld=True)
            changed = (*without(facts.objections, i), upheld)
            assert_not_wider(decide(replace(facts, objections=changed)), before)


@PROPERTIES
@given(all_facts())
def test_nothing_is_permitted_before_any_protocol_comes_into_force(facts):
    before_everything = replace(facts, request=replace(facts.request, on=START - timedelta(days=1)))
    assert not decide(before_everything).permitted


# -------------------------------------------------------------------------------------- break-glass


def _covers(facts: Facts, category: str = PROGRAMME_MEMBERSHIP) -> bool:
    """A direct reading of rule 4a, independent of the implementation: some protocol in force covers it."""
    actor, request = facts.actor, facts.request
    return any(
        p.status == "in_force"
        and p.valid_from <= request.on
        and (p.valid_to is None or request.on <= p.valid_to)
        and (actor.organisation_id in p.party_organisation_ids or actor.organisation_kind in p.party_kinds)
        and Flow(category, request.purpose, request.direction) in p.flows
        for p in facts.protocols
    )


def _role_allowed(facts: Facts) -> bool:
    return bool(facts.actor.roles & ROLE_ACTIONS[facts.request.action])


def _with_break_glass(facts: Facts, on: bool, reason: str = "Child at risk tonight") -> Facts:
    return replace(facts, request=replace(facts.request, break_glass=on, break_glass_reason=reason if on else ""))


@PROPERTIES
@given(all_facts())
def test_break_glass_never_permits_when_the_role_fails_or_no_protocol_covers(facts):
    emergency = decide(_with_break_glass(facts, True))

    if not _role_allowed(facts) or not _covers(facts):
        assert not emergency.permitted
    assert emergency.break_glass is True


@PROPERTIES
@given(all_facts())
def test_break_glass_never_narrows_and_is_always_marked(facts):
    ordinary = decide(_with_break_glass(facts, False))
    emergency = decide(_with_break_glass(facts, True))

    assert_not_wider(ordinary, emergency)
    assert ordinary.break_glass is False
    assert emergency.break_glass is True


@PROPERTIES
@given(all_facts())
def test_break_glass_without_a_reason_is_always_refused(facts):
    decision = decide(_with_break_glass(facts, True, reason=" "))

    assert not decision.permitted
    assert decision.break_glass is True


@PROPERTIES
@given(all_facts())
def test_break_glass_never_overrides_an_upheld_objection(facts):
    decision = decide(_with_break_glass(facts, True))
    upheld = {
        o.category
        for o in facts.objections
        if o.upheld
        and o.person_id == facts.subject.person_id
        and (o.purpose is None or o.purpose == facts.request.purpose)
    }

    assert not (decision.categories & upheld)
    if PROGRAMME_MEMBERSHIP in upheld:
        assert not decision.permitted


# ------------------------------------------------------------------------------ shape and determinism


@PROPERTIES
@given(all_facts(), st.randoms(use_true_random=False))
def test_decide_is_deterministic_and_ignores_the_order_of_the_facts(facts, rnd: random.Random):
    first = decide(facts)

    def shuffled(values: tuple) -> tuple:
        values = list(values)
        rnd.shuffle(values)
        return tuple(values)

    reordered = replace(
        facts,
        relationships=shuffled(facts.relationships),
        protocols=shuffled(facts.protocols),
        notices=shuffled(facts.notices),
        objections=shuffled(facts.objections),
    )
    assert decide(facts) == first
    assert decide(reordered) == first


@PROPERTIES
@given(all_facts())
def test_every_decision_is_consistent_and_every_refusal_explains_itself(facts):
    decision = decide(facts)

    assert decision.break_glass is facts.request.break_glass
    assert decision.reasons
    if not decision.permitted:
        assert decision.failed, "a refusal always names the condition that failed"
        assert decision.tier is Tier.NOTHING
        assert decision.grants == ()
        assert decision.categories == frozenset()
        return
    assert decision.tier >= Tier.EXISTENCE_AND_CONTACT
    assert decision.grants[0].category == PROGRAMME_MEMBERSHIP
    assert decision.categories == frozenset(g.category for g in decision.grants[1:])
    assert decision.categories <= facts.subject.categories - {PROGRAMME_MEMBERSHIP}
    assert (decision.tier is Tier.DETAIL) == bool(decision.categories)
    withheld = facts.subject.categories - {PROGRAMME_MEMBERSHIP} - decision.categories
    assert {r.category for r in decision.failed} == withheld, "each withheld concern says why"
    if any(g.notice_id is None for g in decision.grants):
        assert facts.request.break_glass
    assert set(decision.protocol_ids) == {g.protocol_id for g in decision.grants}
    assert len(decision.protocol_ids) == len(set(decision.protocol_ids))
    assert len(decision.notice_ids) == len(set(decision.notice_ids))


def _category_allowed(facts: Facts, category: str) -> bool:
    """A direct reading of rule 4 (protocol, notice or break-glass, no upheld objection) for one category."""
    actor, request, subject = facts.actor, facts.request, facts.subject
    notice = request.break_glass or any(
        n.family_id == subject.family_id
        and subject.person_id in n.member_person_ids
        and n.given_on <= request.on
        and (actor.organisation_kind, category) in n.coverage
        for n in facts.notices
    )
    objected = any(
        o.upheld
        and o.person_id == subject.person_id
        and o.category == category
        and (o.purpose is None or o.purpose == request.purpose)
        for o in facts.objections
    )
    return _covers(facts, category) and notice and not objected


@PROPERTIES
@given(all_facts())
def test_decide_agrees_with_a_direct_reading_of_the_rules(facts):
    """Permitted only when role, relationship, protocol and notice all allow it; detail per category likewise."""
    actor, request, subject = facts.actor, facts.request, facts.subject
    relationship = (
        any(
            r.organisation_id == actor.organisation_id
            and r.person_id == subject.person_id
            and r.valid_from <= request.on
            and (r.valid_to is None or request.on <= r.valid_to)
            for r in facts.relationships
        )
        or subject.lead_professional_user_id == actor.user_id
        or request.break_glass
    )
    reason_given = not request.break_glass or bool(request.break_glass_reason.strip())
    permitted = (
        _role_allowed(facts) and reason_given and relationship and _category_allowed(facts, PROGRAMME_MEMBERSHIP)
    )
    detail = {c for c in subject.categories - {PROGRAMME_MEMBERSHIP} if _category_allowed(facts, c)}

    decision = decide(facts)

    assert decision.permitted is permitted
    assert decision.categories == (frozenset(detail) if permitted else frozenset())


@PROPERTIES
@given(actors, st.sampled_from(sorted(ROLE_ONLY_ACTIONS)))
def test_decide_action_permits_exactly_when_the_role_is_allowed(actor, action):
    decision = decide_action(actor, action)

    assert decision.permitted is bool(actor.roles & ROLE_ACTIONS[action])
    assert decision.tier is Tier.NOTHING
    assert decision.failed == (() if decision.permitted else decision.reasons)


# ---------------------------------------------------------------------------------- many at once


@st.composite
def many_subjects(draw) -> list[Facts]:
    """Facts about several subjects of one request: same actor, request and protocols, each subject with
    its own relationships, notices and objections (and, sometimes, the same subject twice)."""
    first = draw(all_facts())
    others = draw(st.lists(all_facts(), max_size=5))
    return [first] + [
        replace(other, actor=first.actor, request=first.request, protocols=first.protocols) for other in others
    ]


@PROPERTIES
@given(many_subjects())
def test_deciding_many_subjects_at_once_is_deciding_each(facts):
    """``decide_many`` (the list pages) shares work between subjects; it must never share a result."""
    first = facts[0]
    together = decide_many(
        first.actor,
        first.request,
        first.protocols,
        [(f.subject, f.relationships, f.notices, f.objections) for f in facts],
    )
    assert together == [decide(f) for f in facts]
    # and in any order: nothing one subject's decision worked out may leak into the next one's
    backwards = decide_many(
        first.actor,
        first.request,
        first.protocols,
        [(f.subject, f.relationships, f.notices, f.objections) for f in reversed(facts)],
    )
    assert backwards == [decide(f) for f in reversed(facts)]
