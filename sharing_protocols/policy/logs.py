"""The access log: who may search, read and verify it, and whose entries they may read.

Reading the log is itself an access (its entries name people), decided by role. The council's data
protection officer reads every organisation's entries; a partner's reads only their own
organisation's (``log_scope``), and one entry or emergency access of another organisation is refused
(``decide_log_record``), exactly as the list that would show it leaves it out.
"""

from __future__ import annotations

from sharing_protocols.policy.checks import check_role, denied
from sharing_protocols.policy.facts import ROLE_ONLY_ACTIONS, TRIAGING_KIND, Action, Actor, Decision, Reason, Tier
from sharing_protocols.policy.wording import ADVICE_LOG_ORGANISATION

#: the organisation kind whose data protection officer reads every organisation's entries: the council's
LOG_READING_KIND = TRIAGING_KIND


def decide_action(actor: Actor, action: Action) -> Decision:
    """Decide an action that is not about any one subject (searching or verifying the access log).

    These actions are allowed by role alone: there is no subject, so no relationship, protocol or notice
    to consult, and no personal data is shown by the decision itself (what the log search then returns is
    the DPO's to see by their role). The tier is always NOTHING because no flag is seen.

    Args:
        actor: the signed-in user.
        action: one of :data:`ROLE_ONLY_ACTIONS`.

    Returns:
        A decision permitted exactly when the actor holds a role allowed for the action, with one reason.

    Raises:
        ValueError: if the action is about a subject (use ``flags.decide``), so that a role check can never
            stand in for the relationship, protocol and notice checks by mistake.
    """
    if action not in ROLE_ONLY_ACTIONS:
        raise ValueError(f"{action} is about a subject: use decide")
    role = check_role(actor, action)
    return Decision(permitted=role.passed, tier=Tier.NOTHING, reasons=(role,))


def log_scope(actor: Actor) -> str | None:
    """Whose entries this actor may read: None for every organisation's, else their own organisation's id."""
    return None if actor.organisation_kind == LOG_READING_KIND else actor.organisation_id


def decide_log_record(actor: Actor, action: Action, organisation_id: str | None) -> Decision:
    """Decide reading (or acting on) one record of the log made by ``organisation_id``.

    The role first (``decide_action``), then the scope: the record must be one the actor's search or
    list would show, so a partner's officer cannot reach another organisation's entry or emergency
    access by its id. A record made by nobody signed in (``None``: a command-line task) is the council's.

    Returns:
        A decision at tier NOTHING with the reasons checked up to the first failure.
    """
    role = decide_action(actor, action)
    if not role.permitted:
        return role
    scope = log_scope(actor)
    if scope is not None and organisation_id != scope:
        return denied(
            [
                *role.reasons,
                Reason(
                    "record_not_of_organisation",
                    "This record is about another organisation's access.",
                    False,
                    ADVICE_LOG_ORGANISATION,
                ),
            ],
            False,
        )
    return Decision(
        permitted=True,
        tier=Tier.NOTHING,
        reasons=(*role.reasons, Reason("record_in_scope", "You may read this organisation's records.", True)),
    )
