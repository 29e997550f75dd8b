"""The policy truth tables' default facts and builders, shared by the flag-decision test modules.

The default facts describe one fully covered request: Dr Priya Patel at Riverside Medical Practice (a GP
practice) views the flag of Alex, a registered patient in a supported family with a health concern; an
in-force protocol covers programme membership and health for GP practices, and the notice given to the
family names both. Each test changes one fact and states what that does.
"""

from __future__ import annotations

from datetime import date, timedelta

from sharing_protocols.policy import (
    PROGRAMME_MEMBERSHIP,
    SUPPORT_COORDINATION,
    TO_PARTNER,
    Action,
    Actor,
    Decision,
    Facts,
    Flow,
    NoticeGiven,
    Objection,
    Protocol,
    Reason,
    Relationship,
    Request,
    Subject,
    Tier,
)

ON = date(2024, 6, 1)
DAY = timedelta(days=1)

GP_ORG = "org-riverside"
OTHER_GP_ORG = "org-hillside"
SCHOOL_ORG = "org-oakfield"
ALEX = "person-alex"
SAM = "person-sam"
FAMILY = "family-1"
OTHER_FAMILY = "family-2"
PRIYA = "user-priya"
LEAD = "user-lead"
ALL_ROLES = ("practitioner", "org_admin", "coordinator", "dpo", "sysadmin")


# ------------------------------------------------------------------------------------------ builders


def an_actor(
    *,
    user_id: str = PRIYA,
    organisation_id: str = GP_ORG,
    organisation_kind: str = "gp_practice",
    roles: frozenset[str] = frozenset({"practitioner"}),
) -> Actor:
    return Actor(user_id=user_id, organisation_id=organisation_id, organisation_kind=organisation_kind, roles=roles)


def a_school_actor(**overrides) -> Actor:
    return an_actor(
        **{"user_id": "user-sarah", "organisation_id": SCHOOL_ORG, "organisation_kind": "school", **overrides}
    )


def a_request(
    *,
    action: Action = Action.VIEW_FLAGS,
    purpose: str = SUPPORT_COORDINATION,
    direction: str = TO_PARTNER,
    on: date = ON,
    break_glass: bool = False,
    break_glass_reason: str = "",
) -> Request:
    return Request(
        action=action,
        purpose=purpose,
        direction=direction,
        on=on,
        break_glass=break_glass,
        break_glass_reason=break_glass_reason,
    )


def a_break_glass_request(**overrides) -> Request:
    return a_request(
        **{"break_glass": True, "break_glass_reason": "Child presenting with injuries in A&E", **overrides}
    )


def a_subject(
    *,
    person_id: str = ALEX,
    family_id: str = FAMILY,
    lead_professional_user_id: str | None = LEAD,
    categories: frozenset[str] = frozenset({"health"}),
) -> Subject:
    return Subject(
        person_id=person_id,
        family_id=family_id,
        lead_professional_user_id=lead_professional_user_id,
        categories=categories,
    )


def a_relationship(
    *,
    organisation_id: str = GP_ORG,
    person_id: str = ALEX,
    kind: str = "registered_patient",
    valid_from: date = date(2019, 1, 1),
    valid_to: date | None = None,
) -> Relationship:
    return Relationship(
        organisation_id=organisation_id, person_id=person_id, kind=kind, valid_from=valid_from, valid_to=valid_to
    )


def flows_for(*categories: str, purpose: str = SUPPORT_COORDINATION, direction: str = TO_PARTNER) -> frozenset[Flow]:
    return frozenset(Flow(c, purpose, direction) for c in categories)


def a_protocol(
    *,
    id: str = "protocol-gp",
    reference: str = "ISP-2024-GP",
    status: str = "in_force",
    valid_from: date = date(2024, 1, 1),
    valid_to: date | None = None,
    party_organisation_ids: frozenset[str] = frozenset(),
    party_kinds: frozenset[str] = frozenset({"gp_practice"}),
    flows: frozenset[Flow] | None = None,
    categories: tuple[str, ...] = (PROGRAMME_MEMBERSHIP, "health"),
    lawful_basis: str = "UK GDPR Art 6(1)(e); Art 9(2)(h)",
) -> Protocol:
    return Protocol(
        id=id,
        reference=reference,
        status=status,
        valid_from=valid_from,
        valid_to=valid_to,
        party_organisation_ids=party_organisation_ids,
        party_kinds=party_kinds,
        flows=flows if flows is not None else flows_for(*categories),
        lawful_basis=lawful_basis,
    )


def a_notice(
    *,
    id: str = "notice-1",
    version_ref: str = "FPN v2",
    family_id: str = FAMILY,
    member_person_ids: frozenset[str] = frozenset({ALEX, SAM}),
    given_on: date = date(2024, 3, 1),
    coverage: frozenset[tuple[str, str]] | None = None,
    kinds: tuple[str, ...] = ("gp_practice",),
    categories: tuple[str, ...] = (PROGRAMME_MEMBERSHIP, "health"),
) -> NoticeGiven:
    return NoticeGiven(
        id=id,
        version_ref=version_ref,
        family_id=family_id,
        member_person_ids=member_person_ids,
        given_on=given_on,
        coverage=coverage if coverage is not None else frozenset((k, c) for k in kinds for c in categories),
    )


def an_objection(
    *,
    id: str = "objection-1",
    person_id: str = ALEX,
    category: str = "health",
    purpose: str | None = None,
    upheld: bool = True,
    basis: str = "",
) -> Objection:
    return Objection(id=id, person_id=person_id, category=category, purpose=purpose, upheld=upheld, basis=basis)


def facts(
    *,
    actor: Actor | None = None,
    request: Request | None = None,
    subject: Subject | None = None,
    relationships: tuple[Relationship, ...] | None = None,
    protocols: tuple[Protocol, ...] | None = None,
    notices: tuple[NoticeGiven, ...] | None = None,
    objections: tuple[Objection, ...] = (),
) -> Facts:
    return Facts(
        actor=actor or an_actor(),
        request=request or a_request(),
        subject=subject or a_subject(),
        relationships=relationships if relationships is not None else (a_relationship(),),
        protocols=protocols if protocols is not None else (a_protocol(),),
        notices=notices if notices is not None else (a_notice(),),
        objections=objections,
    )


def codes(decision: Decision, category: str | None = None) -> list[str]:
    """Reason codes in order; with a category, only the reasons about that category."""
    return [r.code for r in decision.reasons if category is None or r.category == category]


def reason(decision: Decision, code: str, category: str | None = None) -> Reason:
    """The first reason with this code (about this category, if given)."""
    return next(r for r in decision.reasons if r.code == code and (category is None or r.category == category))


def assert_denied_with(decision: Decision, code: str) -> None:
    assert not decision.permitted
    assert decision.tier is Tier.NOTHING
    assert decision.grants == ()
    assert decision.categories == frozenset()
    assert decision.protocol_ids == ()
    assert decision.notice_ids == ()
    assert [r.code for r in decision.failed] == [code]
    assert decision.reasons[-1].code == code, "refusal stops at the first failed gate"


def assert_existence_only(decision: Decision, withheld: str, code: str) -> None:
    assert decision.permitted
    assert decision.tier is Tier.EXISTENCE_AND_CONTACT
    assert decision.categories == frozenset()
    assert [g.category for g in decision.grants] == [PROGRAMME_MEMBERSHIP]
    assert [(r.code, r.category) for r in decision.failed] == [(code, withheld)]
