"""Identifier validation: NHS number check digits, UPN check letters, postcode shapes, names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.families.identifiers import (
    clean_nhs_number,
    clean_postcode,
    clean_upn,
    normalise_name,
    synthetic_nhs_number,
    synthetic_upn,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("943 476 5919", "9434765919"), ("943-476-5919", "9434765919"), (" 9434765919 ", "9434765919")],
)
def test_valid_nhs_numbers_are_standardised(raw, expected):
    assert clean_nhs_number(raw) == expected


@pytest.mark.parametrize("raw", ["943 476 5910", "94347659", "", None, "abcdefghij", "94347659190"])
def test_invalid_nhs_numbers_are_refused(raw):
    assert clean_nhs_number(raw) is None


@pytest.mark.parametrize(("raw", "expected"), [("B801200005001", "B801200005001"), ("p207000016049", "P207000016049")])
def test_valid_upns_are_upper_cased(raw, expected):
    assert clean_upn(raw) == expected


def test_temporary_upn_with_a_final_letter_is_valid():
    assert clean_upn("A80120000501A") == "A80120000501A"


@pytest.mark.parametrize("raw", ["A801200005001", "Q207000016049", "B80120000500", "I801200005001", "", None])
def test_invalid_upns_are_refused(raw):
    assert clean_upn(raw) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("sw1a1aa", "SW1A 1AA"), ("EC1A 1BB", "EC1A 1BB"), ("m1 1ae", "M1 1AE"), ("GIR0AA", "GIR 0AA")],
)
def test_postcodes_are_normalised(raw, expected):
    assert clean_postcode(raw) == expected


@pytest.mark.parametrize("raw", ["QA1 1AA", "SW1A 1AI", "BFPO 1", "", "12345"])
def test_invalid_postcodes_are_refused(raw):
    assert clean_postcode(raw) is None


def test_names_compare_without_case_punctuation_or_spacing():
    assert normalise_name("  O'Brien-Smith ") == normalise_name("o brien  SMITH")


@given(st.integers(min_value=0, max_value=100_000))
def test_demo_identifiers_are_always_valid(n):
    assert clean_nhs_number(synthetic_nhs_number(n)) is not None
    assert clean_upn(synthetic_upn(n)) is not None


@given(st.text(max_size=20))
def test_cleaning_never_raises(text):
    clean_nhs_number(text)
    clean_upn(text)
    clean_postcode(text)


def test_demo_upns_do_not_repeat():
    assert len({synthetic_upn(n) for n in range(5000)}) == 5000
