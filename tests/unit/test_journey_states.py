"""The nomination's state machine and duplicate ranking, as pure functions."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referrals.duplicates import Described, MatchedBy, _Known, best_duplicate
from referrals.models import NominationStatus as S
from referrals.states import COUNCIL_EVENTS, TRANSITIONS, may_move, move


def test_every_status_has_its_moves_and_decided_ones_have_none():
    assert set(TRANSITIONS) == set(S)
    for decided in (S.ACCEPTED, S.NOT_ACCEPTED):
        assert TRANSITIONS[decided] == frozenset()


def test_a_linked_nomination_is_still_the_councils_to_decide():
    """Linked means its people were already known, not that it was decided: triage may ask about it,
    accept it into the family it is linked to, or decline it, and nothing else."""
    assert TRANSITIONS[S.LINKED] == {S.MORE_INFORMATION_REQUESTED, S.ACCEPTED, S.NOT_ACCEPTED}


def test_every_move_the_council_makes_is_allowed_from_every_status_open_for_triage():
    for to in COUNCIL_EVENTS:
        for open_status in (S.SUBMITTED, S.MORE_INFORMATION_REQUESTED, S.LINKED):
            assert may_move(open_status, to), (open_status, to)


@pytest.mark.parametrize(("sources", "to"), [({S.ACCEPTED}, S.SUBMITTED), ({S.SUBMITTED, S.DRAFT}, S.ACCEPTED)])
def test_asking_for_a_move_transitions_does_not_list_raises_before_touching_the_database(sources, to):
    with pytest.raises(ValueError, match="TRANSITIONS does not allow it"):
        move(None, uuid.uuid4(), to, at=None, sources=sources)  # no session is needed to refuse it


@pytest.mark.parametrize(
    ("current", "to", "allowed"),
    [
        (S.DRAFT, S.SUBMITTED, True),
        (S.DRAFT, S.LINKED, True),
        (S.DRAFT, S.ACCEPTED, False),  # the council decides only what was sent
        (S.SUBMITTED, S.SUBMITTED, False),  # a double submit is not a move
        (S.SUBMITTED, S.MORE_INFORMATION_REQUESTED, True),
        (S.MORE_INFORMATION_REQUESTED, S.SUBMITTED, True),  # the nominator answered
        (S.MORE_INFORMATION_REQUESTED, S.NOT_ACCEPTED, True),
        (S.ACCEPTED, S.SUBMITTED, False),
        (S.NOT_ACCEPTED, S.MORE_INFORMATION_REQUESTED, False),
        (S.SUBMITTED, S.DRAFT, False),  # nothing sent comes back as a draft
    ],
)
def test_moves(current, to, allowed):
    assert may_move(current, to) is allowed


def test_nothing_moves_back_to_draft():
    assert all(S.DRAFT not in targets for targets in TRANSITIONS.values())


BORN = date(2015, 4, 3)


def described(ordinal=0, given="Jamie", family="Smith", born=BORN, nhs=None, upn=None) -> Described:
    return Described(ordinal, given, family, born, nhs, upn)


def known(*, family=True, given="Jamie", surname="Smith", born=BORN, nhs=None, upn=None) -> _Known:
    return _Known(
        family_id=uuid.uuid4() if family else None,
        person_id=uuid.uuid4() if family else None,
        nomination_id=None if family else uuid.uuid4(),
        given_name=given,
        family_name=surname,
        date_of_birth=born,
        nhs_number_index=nhs,
        upn_index=upn,
    )


def test_identifiers_match_whatever_the_names():
    match = best_duplicate([described(given="J", family="S", nhs="n1")], [known(given="Other", nhs="n1")])
    assert match is not None and match.matched_by is MatchedBy.NHS_NUMBER
    assert best_duplicate([described(upn="u1")], [known(upn="u1", born=None)]).matched_by is MatchedBy.UPN


def test_names_match_when_normalised_and_the_date_of_birth_agrees():
    match = best_duplicate([described(given="  JAMIE", family="smith")], [known()])
    assert match is not None and match.matched_by is MatchedBy.NAME_AND_DATE_OF_BIRTH
    assert best_duplicate([described(born=date(2015, 4, 4))], [known()]) is None
    assert best_duplicate([described(born=None)], [known(born=None)]) is None  # never on a name alone


def test_a_contradicting_identifier_defeats_a_name_match():
    assert best_duplicate([described(nhs="n1")], [known(nhs="n2")]) is None
    assert best_duplicate([described(upn="u1")], [known(upn="u2")]) is None
    assert best_duplicate([described(nhs="n1")], [known(nhs=None)]) is not None  # unknown is not a contradiction


def test_the_strongest_match_wins():
    by_name_family = known()
    by_nhs_nomination = known(family=False, nhs="n1")
    match = best_duplicate([described(nhs="n1")], [by_name_family, by_nhs_nomination])
    assert match.matched_by is MatchedBy.NHS_NUMBER and match.nomination_id == by_nhs_nomination.nomination_id
    family, nomination = known(upn="u1"), known(family=False, upn="u1")
    match = best_duplicate([described(upn="u1")], [nomination, family])
    assert match.family_id == family.family_id and match.person_id == family.person_id  # a family before a nomination
    subject, member = described(0, nhs="a"), described(1, given="Pat", nhs="b")
    match = best_duplicate([member, subject], [known(given="Pat", nhs="b"), known(nhs="a")])
    assert match.ordinal == 0  # the person the concern is about first


@given(st.lists(st.tuples(st.sampled_from(["a", "b", None]), st.sampled_from([BORN, None])), max_size=4))
def test_removing_a_known_person_never_creates_a_match(rows):
    people = [described(nhs="a")]
    everyone = [known(nhs=nhs, born=born) for nhs, born in rows]
    if best_duplicate(people, everyone) is None:
        for i in range(len(everyone)):
            assert best_duplicate(people, everyone[:i] + everyone[i + 1 :]) is None
