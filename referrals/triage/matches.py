"""A coordinator's verdicts on the candidate matches of a nomination's people: this known person is
them, is not them, or nobody known is (a new person will be recorded on acceptance).

Apart from the nomination page (``service.py``, which re-exports ``review_match`` and ``MatchChoice``
for the views) because it is the one triage step about identity: each verdict is a ``match_review``
row, written once (the latest counts), so how a person was identified can always be shown. Nothing is
ever merged silently.
"""

from __future__ import annotations

import enum
import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import gate
from portal.access_log.events import EventType
from portal.gate import AccessContext, Seen
from referrals.matching import find_candidates
from referrals.models import MatchStatus, NominatedPerson, NominationEventKind
from referrals.triage.core import (
    MatchProblem,
    NominationNotFound,
    add_event,
    advance,
    authorise,
    details_of,
    known_with_identifiers,
)
from referrals.triage.models import MatchOutcome, MatchReview
from sharing_protocols.policy import TriageAction


class MatchChoice(enum.StrEnum):
    CONFIRM = "confirm"  #: this candidate is the nominated person
    REJECT = "reject"  #: this candidate is not the nominated person
    NEW_PERSON = "new-person"  #: nobody known is the nominated person: a new person will be created


def latest_verdicts(
    session: Session, nominated_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, dict[uuid.UUID, MatchOutcome]]:
    """nominated person -> known person -> the latest verdict on that pair."""
    verdicts: dict[uuid.UUID, dict[uuid.UUID, MatchOutcome]] = defaultdict(dict)
    if not nominated_ids:
        return verdicts
    for row in session.execute(
        select(MatchReview.nominated_person_id, MatchReview.person_id, MatchReview.outcome)
        .where(MatchReview.nominated_person_id.in_(sorted(nominated_ids)))
        .order_by(MatchReview.reviewed_at, MatchReview.id)
    ):
        verdicts[row.nominated_person_id][row.person_id] = row.outcome
    return verdicts


def rejected_by(verdicts: dict[uuid.UUID, dict[uuid.UUID, MatchOutcome]]) -> dict[uuid.UUID, set[uuid.UUID]]:
    return {
        np_id: {pid for pid, outcome in by_person.items() if outcome == MatchOutcome.REJECTED}
        for np_id, by_person in verdicts.items()
    }


def _check(
    session: Session,
    people: Sequence[NominatedPerson],
    nominated: NominatedPerson,
    choice: MatchChoice,
    person_id: uuid.UUID | None,
) -> None:
    """Whether the verdict may be recorded, before anything is written.

    Raises:
        MatchProblem: no known person named, not a candidate (matching must suggest them, and a rejected
            one is not suggested again), already matched to someone else in the nomination, or (for
            "nobody known") someone known with the same NHS number or UPN.
    """
    name = f"{nominated.given_name} {nominated.family_name}"
    if choice is MatchChoice.NEW_PERSON:
        if nominated.id in known_with_identifiers(session, [nominated]):
            raise MatchProblem(
                f"Someone already known has the same NHS number or UPN as {name}: confirm that match, or ask the "
                "nominator to check the number."
            )
        return
    if person_id is None:
        raise MatchProblem("Choose a known person to confirm or reject.")
    if not (choice == MatchChoice.REJECT and nominated.person_id == person_id):
        verdicts = rejected_by(latest_verdicts(session, [nominated.id]))
        found = find_candidates(session, {nominated.id: details_of(nominated)}, limit=None, exclude=verdicts)
        if person_id not in {c.key for c in found[nominated.id]}:
            raise MatchProblem(f"That person is not a candidate match for {name}.")
    if choice == MatchChoice.CONFIRM and any(p.person_id == person_id and p.id != nominated.id for p in people):
        raise MatchProblem("That person is already matched to someone else in this nomination.")


def _apply(
    nominated: NominatedPerson, choice: MatchChoice, person_id: uuid.UUID | None
) -> tuple[str, MatchOutcome | None, str]:
    """Set the nominated person's match; returns the outcome for the log, the verdict on the pair (none
    when nobody known is them: there is no pair), and the history message."""
    name = f"{nominated.given_name} {nominated.family_name}"
    if choice == MatchChoice.CONFIRM:
        nominated.person_id = person_id
        nominated.match_status = MatchStatus.CONFIRMED
        return "confirmed", MatchOutcome.CONFIRMED, f"{name} is a person already known."
    if choice == MatchChoice.REJECT:
        if nominated.person_id == person_id:
            nominated.person_id = None
            nominated.match_status = MatchStatus.UNREVIEWED
        return "rejected", MatchOutcome.REJECTED, f"A suggested match for {name} is not them."
    nominated.person_id = None
    nominated.match_status = MatchStatus.NEW_PERSON
    return "new_person", None, f"Nobody already known is {name}: a new person will be recorded."


def review_match(
    session: Session,
    ctx: AccessContext,
    nomination_id: uuid.UUID,
    nominated_person_id: uuid.UUID,
    choice: MatchChoice,
    *,
    version: int,
    person_id: uuid.UUID | None = None,
) -> None:
    """Record a coordinator's verdict on a match; flush, never commit. Nothing is ever merged silently.

    - CONFIRM: ``person_id`` (one of the candidates matching suggests) is the nominated person.
    - REJECT: ``person_id`` is not; it is not suggested again (a confirmed match can be rejected too).
    - NEW_PERSON: nobody known is; accepting will create a new person. Refused when someone known has
      the same NHS number or UPN: that is the same person, or one of the identifiers is wrong.

    Raises:
        AccessDenied: not a coordinator, or the nomination is decided (logged).
        NominationNotFound: no such nomination or person in it.
        MatchProblem: not a candidate, already matched to another person in the nomination, or an
            identifier already known.
        StaleNomination: the nomination changed since the page was opened.
    """
    state, permit = authorise(
        session, ctx, TriageAction.REVIEW_MATCH, nomination_id, EventType.NOMINATION_MATCH_REVIEWED
    )
    people = session.scalars(select(NominatedPerson).where(NominatedPerson.nomination_id == state.id)).all()
    nominated = next((p for p in people if p.id == nominated_person_id), None)
    if nominated is None:
        raise NominationNotFound("That person is not in this nomination.")
    if choice is MatchChoice.NEW_PERSON:
        person_id = None
    _check(session, people, nominated, choice, person_id)
    advance(session, ctx, state, version)
    outcome, verdict, message = _apply(nominated, choice, person_id)
    if verdict is not None:
        session.add(
            MatchReview(
                nominated_person_id=nominated.id,
                person_id=person_id,
                outcome=verdict,
                reviewed_by_id=ctx.user_id,
                reviewed_at=ctx.at,
            )
        )
    kind = NominationEventKind.MATCH_CONFIRMED if choice == MatchChoice.CONFIRM else NominationEventKind.MATCH_REJECTED
    add_event(session, ctx, state, kind, message)
    gate.record(
        session,
        ctx,
        EventType.NOMINATION_MATCH_REVIEWED,
        permit,
        [Seen(person_id, None)] if person_id else [],
        detail={"nomination_id": str(state.id), "nominated_person_id": str(nominated.id), "outcome": outcome},
    )
