"""Properties of matching, over random people: what must hold for every input, not just the examples."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from referrals.matching import (
    PersonDetails,
    compare,
    jaro_winkler,
    lookup_blocking_values,
    name_key,
    name_tokens,
    normalise_name,
    rank,
    stored_blocking_values,
)

PROPERTIES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

LETTERS = "abcdefghijklmnopqrstuvwxyzéèëöüçñåøł"
name_parts = st.text(alphabet=LETTERS, min_size=1, max_size=10)
names = st.lists(name_parts, min_size=1, max_size=3).flatmap(
    lambda parts: st.sampled_from([" ", "-", "  ", " - "]).map(lambda sep: sep.join(parts))
)
given_names = st.sampled_from(["Tyler", "Mia", "Bill", "William", "T", "Kelly", "Imran", "Zara", "Mary Ann", "Ann"])
family_names = st.sampled_from(["Brown", "Browne", "Ahmed", "Smith-Jones", "Smith", "Walsh", "Welsh", "O'Brien"])
dobs = st.one_of(st.none(), st.dates(min_value=date(1950, 1, 1), max_value=date(2025, 12, 31)))
postcodes = st.one_of(st.none(), st.sampled_from(["EX1 1AB", "EX1 1AD", "EX11AB", "M1 1AE", "SW1A 1AA"]))
nhs_numbers = st.one_of(st.none(), st.sampled_from(["9990000018", "9990000026", "9990000034"]))
upns = st.one_of(st.none(), st.sampled_from(["B801200005001", "P207000016049"]))
people = st.builds(PersonDetails, given_names, family_names, dobs, postcodes, nhs_numbers, upns)


@PROPERTIES
@given(names)
def test_normalising_twice_changes_nothing(raw):
    once = normalise_name(raw)
    assert normalise_name(once) == once
    assert name_key(name_key(raw)) == name_key(raw)


@PROPERTIES
@given(names)
def test_case_does_not_change_a_name(raw):
    assert normalise_name(raw.upper()) == normalise_name(raw) == normalise_name(raw.title())


@PROPERTIES
@given(names)
def test_accents_do_not_change_a_name(raw):
    stripped = "".join(ch for ch in unicodedata.normalize("NFKD", raw) if not unicodedata.combining(ch))
    assert normalise_name(stripped) == normalise_name(raw)


@PROPERTIES
@given(st.lists(name_parts, min_size=1, max_size=4), st.lists(st.sampled_from([" ", "-", " -", "  "]), min_size=3))
def test_hyphens_and_spaces_separate_words_alike(parts, separators):
    hyphenated = "-".join(parts)
    mixed = "".join(p + separators[i % len(separators)] for i, p in enumerate(parts))
    assert name_tokens(hyphenated) == name_tokens(mixed) == name_tokens(" ".join(parts))
    assert name_key(hyphenated) == name_key("".join(parts))


@PROPERTIES
@given(st.text(max_size=12), st.text(max_size=12))
def test_jaro_winkler_is_symmetric_and_bounded(a, b):
    assert jaro_winkler(a, b) == jaro_winkler(b, a)
    assert 0.0 <= jaro_winkler(a, b) <= 1.0


@PROPERTIES
@given(people, people)
def test_comparison_is_symmetric(a, b):
    assert compare(a, b) == compare(b, a)


@PROPERTIES
@given(people, people)
def test_nobody_matches_a_person_better_than_themselves(p, other):
    itself = compare(p, p)
    assert itself.differences == ()
    assert itself.score >= compare(p, other).score


@PROPERTIES
@given(people, st.lists(people, max_size=8), st.data())
def test_a_shared_nhs_number_always_ranks_first(nominated, others, data):
    nhs = "9990000042"  # nobody else in the draw has it
    nominated = replace(nominated, nhs_number=nhs)
    twin = replace(data.draw(people), nhs_number=nhs)
    known = [(f"k{i}", p) for i, p in enumerate(others)]
    position = data.draw(st.integers(0, len(known)))
    known.insert(position, ("exact", twin))
    ranked = rank(nominated, known, limit=None)
    assert ranked[0].key == "exact"


@PROPERTIES
@given(people, people, st.sampled_from(["given_name", "family_name", "date_of_birth", "postcode", "upn"]))
def test_making_a_detail_agree_never_lowers_the_score(nominated, known, field):
    agreeing = replace(known, **{field: getattr(nominated, field)})
    if field in ("given_name", "family_name") and _swapped(nominated, known):
        return  # agreeing on one name undoes a swap, which was worth both names; the rule is per detail
    assert compare(nominated, agreeing).score >= compare(nominated, known).score


def _swapped(a: PersonDetails, b: PersonDetails) -> bool:
    return name_key(a.given_name) == name_key(b.family_name) and name_key(a.family_name) == name_key(b.given_name)


@PROPERTIES
@given(people)
def test_a_person_is_always_found_by_their_own_blocking_values(p):
    stored = stored_blocking_values(p.family_name, p.date_of_birth, p.postcode)
    looked_up = lookup_blocking_values(p)
    shared = (
        (stored.dob is not None and stored.dob == looked_up.dob)
        or (stored.postcode is not None and stored.postcode == looked_up.postcode)
        or bool(set(stored.name_years) & set(looked_up.name_years))
    )
    assert shared or (p.date_of_birth is None and p.postcode is None)
