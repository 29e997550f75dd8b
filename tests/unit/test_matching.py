"""Matching nominated people to known people: normalisation, blocking values, comparison, ranking.

Each test states one rule of ``referrals.matching`` with the example a coordinator would recognise.
The properties (symmetry, "a shared NHS number always ranks first", monotonicity) are in
``test_matching_properties.py``.
"""

from __future__ import annotations

from datetime import date

import pytest

from referrals.matching import (
    SIMILAR_FAMILY_NAME,
    PersonDetails,
    Strength,
    compare,
    jaro_winkler,
    lookup_blocking_values,
    name_key,
    name_tokens,
    normalise_name,
    normalise_postcode,
    postcode_sector,
    rank,
    same_given_name_forms,
    stored_blocking_values,
)

DOB = date(2014, 3, 9)


def person(
    given: str = "Tyler", family: str = "Brown", dob: date | None = DOB, postcode: str | None = "EX1 1AB", **ids
):
    return PersonDetails(given, family, dob, postcode, ids.get("nhs"), ids.get("upn"))


# ------------------------------------------------------------------------------------ normalisation


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Brown", "brown"),
        ("  BROWN  ", "brown"),
        ("Zoë", "zoe"),
        ("Siobhán Ó'Brien", "siobhan obrien"),
        ("O\u2019Neill", "oneill"),
        ("Smith-Jones", "smith jones"),
        ("Smith  -  Jones", "smith jones"),
        ("St. John", "st john"),
        ("Łukasz Wójcik", "lukasz wojcik"),
        ("Søren Ærø", "soren aero"),
        ("STRAßE", "strasse"),
        ("", ""),
    ],
)
def test_names_are_normalised_for_case_accents_and_punctuation(raw, expected):
    assert normalise_name(raw) == expected


def test_hyphens_spaces_and_nothing_between_the_parts_of_a_name_agree():
    assert name_key("Smith-Jones") == name_key("Smith Jones") == name_key("SmithJones") == "smithjones"
    assert name_tokens("Smith-Jones") == ("smith", "jones")


def test_names_in_other_scripts_keep_their_letters():
    assert normalise_name("محمد  Ali") == "محمد ali"


@pytest.mark.parametrize(
    ("raw", "compact", "sector"),
    [("sw1a 1aa", "SW1A1AA", "SW1A1"), (" EX1  1AB ", "EX11AB", "EX11"), ("M1 1AE", "M11AE", "M11"), ("", None, None)],
)
def test_postcodes_are_compared_without_spaces_or_case(raw, compact, sector):
    assert normalise_postcode(raw) == compact
    assert postcode_sector(raw) == sector


def test_common_short_forms_of_given_names_are_the_same_name_either_way_round():
    assert same_given_name_forms("bill", "william") and same_given_name_forms("william", "bill")
    assert same_given_name_forms("kate", "catherine")
    assert same_given_name_forms("mohammed", "muhammad")
    assert not same_given_name_forms("bill", "bill")  # the same name is not "another form"
    assert not same_given_name_forms("bill", "robert")


@pytest.mark.parametrize(
    ("a", "b", "similar"),
    [("thomson", "thompson", True), ("smith", "smyth", True), ("walsh", "welsh", True), ("brown", "ahmed", False)],
)
def test_jaro_winkler_finds_spelling_variants_similar(a, b, similar):
    assert (jaro_winkler(a, b) >= SIMILAR_FAMILY_NAME) is similar
    assert jaro_winkler(a, b) == jaro_winkler(b, a)


def test_jaro_winkler_known_values():
    assert jaro_winkler("martha", "marhta") == pytest.approx(0.9611, abs=1e-4)
    assert jaro_winkler("dwayne", "duane") == pytest.approx(0.84, abs=1e-4)
    assert jaro_winkler("", "abc") == 0.0 and jaro_winkler("abc", "abc") == 1.0


# ------------------------------------------------------------------------------------ blocking values


def test_a_stored_person_is_blocked_by_date_of_birth_postcode_and_family_name_with_year():
    values = stored_blocking_values("Smith-Jones", DOB, "ex1 1ab")
    assert values.dob == "2014-03-09"
    assert values.postcode == "EX11AB"
    assert values.name_years == ("smithjones|2014",)


def test_a_nominated_double_barrelled_name_is_also_looked_up_by_each_part():
    values = lookup_blocking_values(person(family="Smith-Jones"))
    assert values.name_years == ("smithjones|2014", "smith|2014", "jones|2014")


def test_without_a_date_of_birth_the_name_alone_does_not_block():
    assert lookup_blocking_values(person(dob=None)).name_years == ()
    assert stored_blocking_values("Brown", None, None).name_years == ("brown|?",)


def test_stored_and_looked_up_values_agree_for_the_same_person_written_differently():
    stored = stored_blocking_values("O'Brien", DOB, "EX1 1AB")
    looked_up = lookup_blocking_values(person(family="OBRIEN", postcode="ex11ab"))
    assert set(stored.name_years) <= set(looked_up.name_years)
    assert (stored.dob, stored.postcode) == (looked_up.dob, looked_up.postcode)


# ------------------------------------------------------------------------------------ comparison


def test_the_same_person_agrees_on_everything_and_is_a_strong_match():
    c = compare(person(), person())
    assert c.reasons == ("same date of birth", "family name matches, given name matches", "same postcode")
    assert c.differences == ()
    assert c.strength is Strength.STRONG


def test_a_shared_nhs_number_is_exact_whatever_else_differs_and_the_differences_are_shown():
    c = compare(person(nhs="9990000018"), person(given="Kyle", dob=date(2013, 1, 1), nhs="9990000018"))
    assert c.same_nhs_number and c.strength is Strength.EXACT
    assert "same NHS number" in c.reasons
    assert c.differences == ("different date of birth", "different given name")


def test_a_shared_upn_is_exact():
    c = compare(person(upn="B801200005001"), person(upn="B801200005001"))
    assert c.same_upn and c.strength is Strength.EXACT


def test_different_identifiers_count_against():
    same = compare(person(), person())
    different = compare(person(nhs="9990000018"), person(nhs="9990000026"))
    assert different.score < same.score and "different NHS number" in different.differences


def test_a_missing_identifier_is_no_evidence_either_way():
    assert compare(person(nhs="9990000018"), person()).score == compare(person(), person()).score


@pytest.mark.parametrize(
    ("known_dob", "reason"),
    [
        (date(2014, 9, 3), "same date of birth with day and month swapped"),
        (date(2014, 3, 20), "same month and year of birth"),
        (date(2014, 7, 1), "same year of birth"),
    ],
)
def test_near_dates_of_birth_are_explained(known_dob, reason):
    c = compare(person(), person(dob=known_dob))
    assert reason in c.reasons
    assert c.score < compare(person(), person()).score


def test_a_different_date_of_birth_counts_against():
    c = compare(person(), person(dob=date(1990, 1, 1)))
    assert "different date of birth" in c.differences


@pytest.mark.parametrize(
    ("nominated", "known", "phrase"),
    [
        (("Tyler", "Browne"), ("Tyler", "Brown"), "family name similar, given name matches"),
        (
            ("Tyler", "Brown"),
            ("Tyler", "Smith-Brown"),
            "family name matches part of a double-barrelled name, given name matches",
        ),
        (("Bill", "Brown"), ("William", "Brown"), "family name matches, given name is another form of the same name"),
        (("Tylor", "Brown"), ("Tyler", "Brown"), "family name matches, given name similar"),
        (("T", "Brown"), ("Tyler", "Brown"), "family name matches, given name matches the initial"),
        (("Mary Ann", "Brown"), ("Ann", "Brown"), "family name matches, given names share a name"),
        (("Brown", "Tyler"), ("Tyler", "Brown"), "given and family names swapped"),
    ],
)
def test_names_are_explained_in_one_phrase(nominated, known, phrase):
    c = compare(person(*nominated), person(*known))
    assert phrase in c.reasons


def test_different_names_are_listed_as_differences():
    c = compare(person("Tyler", "Brown"), person("Zara", "Ahmed"))
    assert set(c.differences) == {"different family name", "different given name"}


def test_a_different_postcode_is_not_evidence_against_because_people_move():
    moved = compare(person(), person(postcode="M1 1AE"))
    unknown = compare(person(), person(postcode=None))
    assert moved.score == unknown.score
    assert "same postcode" not in moved.reasons


def test_a_postcode_in_the_same_sector_counts_a_little():
    near = compare(person(), person(postcode="EX1 1ZZ"))
    assert "postcode in the same sector" in near.reasons
    assert compare(person(), person(postcode="M1 1AE")).score < near.score < compare(person(), person()).score


# ------------------------------------------------------------------------------------------ ranking


def test_candidates_are_ranked_best_first_and_weak_ones_are_left_out():
    known = [
        ("sibling", person(given="Mia", dob=date(2017, 5, 1))),
        ("same", person()),
        ("near", person(given="Tylor", postcode="M1 1AE")),
        ("stranger", person("Zara", "Ahmed", date(1990, 1, 1), "M1 1AE")),
    ]
    ranked = rank(person(), known)
    assert [c.key for c in ranked] == ["same", "near"]
    assert ranked[0].strength is Strength.STRONG


def test_a_shared_nhs_number_ranks_first_even_above_a_perfect_match_without_it():
    known = [("twin", person()), ("exact", person(given="Kyle", dob=None, postcode=None, nhs="9990000018"))]
    ranked = rank(person(nhs="9990000018"), known)
    assert [c.key for c in ranked] == ["exact", "twin"]


def test_ties_are_broken_by_id_so_the_order_never_changes():
    known = [("b", person()), ("a", person()), ("c", person())]
    assert [c.key for c in rank(person(), known)] == ["a", "b", "c"]
    assert [c.key for c in rank(person(), reversed(known))] == ["a", "b", "c"]


def test_the_limit_keeps_the_best():
    known = [(f"p{i}", person()) for i in range(9)]
    assert len(rank(person(), known, limit=3)) == 3
    assert len(rank(person(), known, limit=None)) == 9
