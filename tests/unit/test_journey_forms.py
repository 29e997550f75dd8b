"""The journey's forms: GOV.UK wording for each way an answer can be wrong, identifiers normalised, and no
input (random text, crafted parts, control characters) ever raising or rendering a broken page."""

from __future__ import annotations

import string
from datetime import date, timedelta

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from portal.app import _init_templates
from portal.families.identifiers import clean_nhs_number, synthetic_nhs_number, synthetic_upn
from referrals.journey import forms

TODAY = date(2026, 3, 10)


@pytest.fixture(scope="module")
def app() -> Flask:
    app = Flask(__name__, template_folder=None)
    app.config.update(SECRET_KEY="test-only", WTF_CSRF_ENABLED=False)
    _init_templates(app)
    return app


def submit(app: Flask, form_class, data, **kwargs):
    with app.test_request_context(method="POST", data=MultiDict(data)):
        form = form_class(**kwargs)
        form.validate()
        return form


def person(**overrides):
    values = {
        "given_name": "Jamie",
        "family_name": "Smith",
        "date_of_birth": ["3", "4", "2015"],
        "nhs_number": "",
        "upn": "",
        "postcode": "EX1 1AA",
    }
    values.update(overrides)
    return [(k, v) for k, vs in values.items() for v in (vs if isinstance(vs, list) else [vs])]


# ------------------------------------------------------------------------------- identifiers


@given(st.integers(0, 999_999), st.lists(st.sampled_from([" ", "-", ""]), min_size=9, max_size=9))
def test_a_valid_nhs_number_is_accepted_however_it_is_spaced(n, gaps):
    number = synthetic_nhs_number(n)
    typed = "".join(d + g for d, g in zip(number, [*gaps, ""], strict=True))
    assert forms.check_nhs_number(typed) == (number, None)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("943476591", "NHS number must be 10 digits"),
        ("94347659190", "NHS number must be 10 digits"),
        ("943 476 591O", "NHS number must only include numbers"),
        ("943 476 5910", "Enter a valid NHS number: check you have copied it correctly"),
    ],
)
def test_nhs_number_errors(typed, message):
    assert forms.check_nhs_number(typed) == (None, message)


@given(st.text(max_size=40))
def test_any_text_as_an_nhs_number_is_either_valid_or_refused_with_a_message(text):
    cleaned, problem = forms.check_nhs_number(text)
    assert (cleaned is None) != (problem is None)
    if cleaned:
        assert clean_nhs_number(cleaned) == cleaned


def test_upn_check_letter_and_shape():
    upn = synthetic_upn(42)
    assert forms.check_upn(upn.lower()) == (upn, None)
    assert forms.check_upn(f"{upn[:4]} {upn[4:]}") == (upn, None)
    wrong = ("A" if upn[0] != "A" else "B") + upn[1:]
    assert forms.check_upn(wrong) == (None, "Enter a valid UPN: the first letter does not match the rest of the number")
    assert forms.check_upn("A12") == (None, "UPN must be 13 characters")
    assert forms.check_upn("1" * 13)[1].startswith("Enter a UPN in the correct format, like ")
    assert forms.check_upn(forms.EXAMPLE_UPN) == (forms.EXAMPLE_UPN, None)


@given(st.text(max_size=30))
def test_any_text_as_a_upn_or_postcode_never_raises(text):
    for check in (forms.check_upn, forms.check_postcode):
        cleaned, problem = check(text)
        assert (cleaned is None) != (problem is None)


def test_postcodes_are_normalised():
    assert forms.check_postcode("sw1a1aa") == ("SW1A 1AA", None)
    assert forms.check_postcode("  ex1   1aa ") == ("EX1 1AA", None)
    assert forms.check_postcode("EX1") == (None, "Enter a real postcode")


# ------------------------------------------------------------------------------- dates of birth


@pytest.mark.parametrize(
    ("day", "child", "message"),
    [
        (TODAY, False, None),
        (TODAY + timedelta(days=1), False, "Date of birth must be today or in the past"),
        (date(1906, 3, 10), False, None),
        (date(1906, 3, 9), False, "Date of birth must be after 10 March 1906"),
        (date(2008, 3, 11), True, None),
        (date(2008, 3, 10), True, "Date of birth must be after 10 March 2008 for a child (under 18)"),
        (date(2008, 3, 10), False, None),
    ],
)
def test_a_date_of_birth_must_be_plausible(day, child, message):
    assert forms.check_date_of_birth(day, TODAY, child=child) == message


def test_the_29th_of_february_has_an_anniversary():
    assert forms.check_date_of_birth(date(2006, 3, 1), date(2024, 2, 29), child=True) is None
    assert forms.check_date_of_birth(date(2006, 2, 28), date(2024, 2, 29), child=True)


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (["", "", ""], "Enter their date of birth"),
        (["3", "", "2015"], "Date of birth must include a month"),
        (["", "4", ""], "Date of birth must include a day and a year"),
        (["31", "2", "2015"], "Date of birth must be a real date"),
        (["3", "4", "15"], "Year must include 4 numbers"),
        (["three", "4", "2015"], "Date of birth must be a real date"),
        (["3", "4", "\uff12\uff10\uff11\uff15"], "Date of birth must be a real date"),  # full-width digits
        (["3", "4", "2099"], "Date of birth must be today or in the past"),
        (["3", "4", "1850"], "Date of birth must be after 10 March 1906"),
        (["3"], "Date of birth must be a real date"),  # a crafted request with one part
        (["3", "4", "2015", "1"], "Date of birth must be a real date"),
    ],
)
def test_date_of_birth_errors(app, parts, message):
    form = submit(app, forms.PersonForm, person(date_of_birth=parts), today=TODAY)
    assert form.errors["date_of_birth"] == [message]


def test_a_household_child_must_be_under_18(app):
    data = [*person(date_of_birth=["1", "1", "2000"]), ("role", "child")]
    form = submit(app, forms.MemberForm, data, today=TODAY)
    assert form.errors == {"date_of_birth": ["Date of birth must be after 10 March 2008 for a child (under 18)"]}
    data = [*person(date_of_birth=["1", "1", "2000"]), ("role", "parent_carer")]
    assert submit(app, forms.MemberForm, data, today=TODAY).errors == {}


def test_a_household_member_needs_only_a_name_and_a_role(app):
    data = [("given_name", "Sam"), ("family_name", "Smith"), ("role", "other_adult")]
    form = submit(app, forms.MemberForm, data, today=TODAY)
    assert form.errors == {} and form.date_of_birth.data is None and not form.postcode.data


# ------------------------------------------------------------------------------- the person page


def test_a_valid_person_is_normalised(app):
    upn = synthetic_upn(7)
    form = submit(
        app, forms.PersonForm, person(nhs_number="999 000 0018", upn=upn.lower(), postcode="ex11aa"), today=TODAY
    )
    assert form.errors == {}
    assert (form.nhs_number.data, form.upn.data, form.postcode.data) == ("9990000018", upn, "EX1 1AA")
    assert form.date_of_birth.data == date(2015, 4, 3)


def test_every_missing_answer_has_its_own_message(app):
    form = submit(app, forms.PersonForm, [], today=TODAY)
    assert form.errors == {
        "given_name": ["Enter the first name"],
        "family_name": ["Enter the last name"],
        "date_of_birth": ["Enter their date of birth"],
        "postcode": ["Enter their postcode"],
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("given_name", "J" * 101, "First name must be 100 characters or fewer"),
        ("given_name", "Ja\x00mie", "First name must not include special characters such as tabs or line breaks"),
        ("family_name", "Smith\nJones", "Last name must not include special characters such as tabs or line breaks"),
    ],
)
def test_names_are_limited(app, field, value, message):
    assert submit(app, forms.PersonForm, person(**{field: value}), today=TODAY).errors == {field: [message]}


def test_names_from_anywhere_are_allowed(app):
    form = submit(
        app, forms.PersonForm, person(given_name="Siân-Łucja", family_name="O\u2019Brien Nguy\u1ec5n"), today=TODAY
    )
    assert form.errors == {}


_field_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=120) | st.sampled_from(
    ["", " ", "9434765919", "SW1A 1AA", forms.EXAMPLE_UPN]
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.fixed_dictionaries(
        {name: _field_text for name in ("given_name", "family_name", "nhs_number", "upn", "postcode", "role")}
    ),
    st.lists(st.text(max_size=8), max_size=5),
)
def test_any_answers_give_a_valid_person_or_gov_uk_messages_and_a_page_that_renders(app, fields, parts):
    data = [*fields.items(), *(("date_of_birth", p) for p in parts)]
    for form_class in (forms.PersonForm, forms.MemberForm):
        with app.test_request_context(method="POST", data=MultiDict(data)):
            form = form_class(today=TODAY)
            valid = form.validate()
            assert valid == (form.errors == {})
            for messages in form.errors.values():
                assert len(messages) == 1 and messages[0] and messages[0][0].isupper()
            for field in form:
                if field.name != "csrf_token":
                    assert "<" in str(field(params={"id": "date_of_birth"} if field.name == "date_of_birth" else {}))


# ------------------------------------------------------------------------------- other pages


@pytest.mark.parametrize("value", ["", "maybe", "YES"])
def test_a_radio_answer_that_was_not_offered_is_refused_like_no_answer(app, value):
    form = submit(app, forms.ImmediateRiskForm, [("immediate_risk", value)])
    assert form.errors == {"immediate_risk": ["Select yes if anyone is at immediate risk of harm"]}


def test_a_route_not_offered_but_in_the_framework_passes_the_form_so_the_policy_can_refuse_it(app):
    with app.test_request_context(method="POST", data={"route": "schools_only"}):
        form = forms.RouteForm().offer([("health", "Health")], ["health", "schools_only"])
        assert form.validate() and form.route.data == "schools_only"
        assert [c.value for c in form.route.choices] == ["health"]  # only the sector's routes are shown
    with app.test_request_context(method="POST", data={"route": "invented"}):
        form = forms.RouteForm().offer([("health", "Health")], ["health", "schools_only"])
        assert not form.validate() and form.errors == {"route": ["Select what your concern is about"]}


def test_long_answers_keep_line_breaks_and_are_limited(app):
    form = submit(app, forms.ConcernForm, [("concern", "  First line\r\nSecond\tline  ")])
    assert form.errors == {} and form.concern.data == "First line\nSecond\tline"
    too_long = submit(app, forms.ConcernForm, [("concern", "x" * 5001)])
    assert too_long.errors == {"concern": ["What you are worried about must be 5,000 characters or fewer"]}
    assert submit(app, forms.ConcernForm, [("concern", "bell\x07")]).errors["concern"][0].endswith("control codes")
    assert submit(app, forms.ConcernForm, [("concern", "   ")]).errors == {
        "concern": ["Enter what you are worried about"]
    }


@given(st.text(alphabet=string.printable + "\x00\x1b", max_size=12))
def test_a_crafted_version_is_never_a_number_it_was_not(text):
    app = Flask(__name__)
    app.config.update(SECRET_KEY="x", WTF_CSRF_ENABLED=False)
    with app.test_request_context(method="POST", data={"version": text}):
        form = forms.SubmitForm()
        number = form.version_number
        assert number == (int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else -1)
