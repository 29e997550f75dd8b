"""The page kit turns whatever a crafted request sends into an answer: a page number, a validation
error, a stale version; never an exception and never a value the database cannot hold."""

from __future__ import annotations

import string

from flask import Flask
from flask_wtf import FlaskForm
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict
from wtforms import StringField, TextAreaField

from portal.kit.fields import LAST_PAGE, GovDateField, VersionedForm, page_number
from portal.kit.formatting import govuk_datetime
from portal.kit.validators import Optional, Required, Text, has_control, strip


@given(st.text(max_size=12))
def test_a_page_number_is_ascii_digits_in_range_or_the_first_page(text):
    number = page_number({"page": text})
    assert 1 <= number <= LAST_PAGE
    if text.isascii() and text.isdigit() and len(text) <= 5:
        assert number == min(max(int(text), 1), LAST_PAGE)
    else:
        assert number == 1


def test_superscripts_and_other_digits_are_not_page_numbers():
    assert "²".isdigit() and page_number({"page": "²"}) == 1
    assert page_number({"page": "٣"}) == 1  # Arabic-Indic three: int() would accept it
    assert page_number({}) == 1 and page_number({"page": "7"}) == 7


class _Shapes(FlaskForm):
    class Meta:
        csrf = False

    name = StringField(filters=[strip], validators=[Required("Enter a name"), Text("Name", 20)])
    note = TextAreaField(filters=[strip], validators=[Optional(), Text("Note", 50, minimum=5, multiline=True)])
    when = GovDateField("When", what="The date", required="Enter the date")


def _submit(app, data):
    with app.test_request_context(method="POST"):
        form = _Shapes(formdata=MultiDict(data))
        form.validate()
        return form


APP = Flask(__name__)
APP.config.update(SECRET_KEY="x")


@given(st.text(alphabet=string.printable + "\x00\x07\x1b\u200e\u2028é²", max_size=60))
def test_free_text_never_raises_and_never_keeps_a_control_character(text):
    form = _submit(APP, [("name", text), ("note", text), ("when", "1"), ("when", "2"), ("when", "2026")])
    for field in (form.name, form.note):
        if not field.errors and field.data:
            assert not has_control(field.data, "\n\t")
            assert field.data == field.data.strip()


def test_a_minimum_is_measured_after_trimming():
    form = _submit(APP, [("name", "Ann"), ("note", "a" + " " * 30), ("when", "1"), ("when", "2"), ("when", "2026")])
    assert form.note.errors == ["Note must be 5 characters or more"]


def test_control_characters_are_refused_in_each_kind_of_text():
    form = _submit(APP, [("name", "A\tB"), ("note", "line\x00"), ("when", "1"), ("when", "2"), ("when", "2026")])
    assert form.name.errors == ["Name must not include special characters such as tabs or line breaks"]
    assert form.note.errors == ["Note must not include control codes"]


def test_a_date_says_what_is_wrong_with_it():
    cases = {
        ("", "", ""): "Enter the date",
        ("3", "", "2026"): "The date must include a month",
        ("31", "2", "2026"): "The date must be a real date",
        ("1", "2", "26"): "Year must include 4 numbers",
        ("²", "2", "2026"): "The date must be a real date",
    }
    for parts, message in cases.items():
        form = _submit(APP, [("name", "Ann"), *(("when", p) for p in parts)])
        assert form.when.errors == [message], parts
    one_part = _submit(APP, [("name", "Ann"), ("when", "3")])
    assert one_part.when.errors == ["The date must be a real date"]


@given(st.text(max_size=45))
def test_a_version_is_a_number_of_up_to_nine_digits_or_minus_one(text):
    with APP.test_request_context(method="POST"):
        form = VersionedForm(formdata=MultiDict([("version", text)]), meta={"csrf": False})
        number = form.version_number
    assert number == (int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else -1)
    assert number < 2**31


def test_moments_are_shown_in_uk_time():
    from datetime import UTC, datetime

    assert govuk_datetime(datetime(2026, 7, 1, 8, 5, tzinfo=UTC)) == "1 July 2026 at 9:05am"
    assert govuk_datetime(datetime(2026, 12, 1, 13, 30, tzinfo=UTC)) == "1 December 2026 at 1:30pm"
    assert govuk_datetime(None) == ""
