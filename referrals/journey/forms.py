"""The journey's question pages: shape and field validation only (no database, no policy).

GOV.UK wording for every error, and no input can make a form raise: a crafted request (a radio value
that was never offered, a date in four parts, a megabyte of text) is a validation error like any other.
Identifiers are normalised here (NHS number to ten digits, UPN upper-case, postcode in its standard
form), so the service stores and indexes one form of each.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovCharacterCount, GovTextInput
from wtforms import Field, HiddenField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import StopValidation, ValidationError

from portal.families.identifiers import clean_nhs_number, clean_postcode, clean_upn, upn_check_letter
from portal.kit.fields import Choice, GovDateField, VersionedForm
from portal.kit.formatting import govuk_date
from portal.kit.validators import Optional, Required, Text, strip
from referrals.labels import FAMILY_TOLD_LABELS

NAME_MAX = 100
TEXT_MAX = 5000
REASON_MAX = 2000
#: the oldest plausible date of birth, in years before today
OLDEST_YEARS = 120
CHILD_YEARS = 18
#: a valid example UPN for hints and messages (invented: LA code 999)
EXAMPLE_UPN = upn_check_letter("999101025001") + "999101025001"


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def check_date_of_birth(day: date | None, today: date, *, child: bool = False) -> str | None:
    """The GOV.UK message for an implausible date of birth, or None: not after today, not more than
    120 years ago, and under 18 for a child (pure)."""
    if day is None:
        return None
    if day > today:
        return "Date of birth must be today or in the past"
    oldest = _years_before(today, OLDEST_YEARS)
    if day < oldest:
        return f"Date of birth must be after {govuk_date(oldest)}"
    if child:
        eighteen = _years_before(today, CHILD_YEARS)
        if day <= eighteen:
            return f"Date of birth must be after {govuk_date(eighteen)} for a child (under 18)"
    return None


def check_nhs_number(raw: str) -> tuple[str | None, str | None]:
    """(the NHS number as ten digits, None) or (None, the GOV.UK message). Spaces and dashes are allowed."""
    compact = re.sub(r"[\s-]", "", raw)
    if not re.fullmatch(r"[0-9]+", compact):
        return None, "NHS number must only include numbers"
    if len(compact) != 10:
        return None, "NHS number must be 10 digits"
    cleaned = clean_nhs_number(compact)
    if cleaned is None:
        return None, "Enter a valid NHS number: check you have copied it correctly"
    return cleaned, None


def check_upn(raw: str) -> tuple[str | None, str | None]:
    """(the UPN upper-case, None) or (None, the GOV.UK message)."""
    compact = re.sub(r"\s", "", raw).upper()
    if len(compact) != 13:
        return None, "UPN must be 13 characters"
    if not re.fullmatch(r"[A-Z][0-9]{11}[0-9A-Z]", compact):
        return None, f"Enter a UPN in the correct format, like {EXAMPLE_UPN}"
    cleaned = clean_upn(compact)
    if cleaned is None:
        return None, "Enter a valid UPN: the first letter does not match the rest of the number"
    return cleaned, None


def check_postcode(raw: str) -> tuple[str | None, str | None]:
    """(the postcode in standard form, None) or (None, the GOV.UK message)."""
    cleaned = clean_postcode(raw[:20])
    return (cleaned, None) if cleaned else (None, "Enter a real postcode")


class Identified:
    """Normalise a valid identifier in place, or stop with its message."""

    def __init__(self, check: Any) -> None:
        self.check = check

    def __call__(self, form: FlaskForm, field: Field) -> None:
        cleaned, problem = self.check(field.data[:40])
        if problem:
            raise StopValidation(problem)
        field.data = cleaned


class _TodayForm(FlaskForm):
    """A form that judges dates against a day it is given (the page passes the request's day)."""

    def __init__(self, *args: Any, today: date | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today or date.today()


# --------------------------------------------------------------------------------------- pages


class ImmediateRiskForm(FlaskForm):
    immediate_risk = Choice(
        "Is anyone at immediate risk of harm?",
        choices=[("yes", "Yes"), ("no", "No")],
        message="Select yes if anyone is at immediate risk of harm",
    )
    #: chosen when the page is drawn, so a repeated POST finds the draft it made instead of a second one
    draft_id = HiddenField()

    @property
    def draft_uuid(self) -> uuid.UUID | None:
        try:
            return uuid.UUID(str(self.draft_id.data or ""))
        except ValueError:
            return None


class RouteForm(FlaskForm):
    route = Choice("What is your concern about?", message="Select what your concern is about")

    def offer(self, offered: Sequence[tuple[str, str]], known: Sequence[str]) -> RouteForm:
        """Show ``offered`` (the sector's routes); accept any ``known`` route, so that one the sector may
        not use reaches the policy, which refuses it and logs the refusal."""
        self.route.choices = [SelectChoice(value, label) for value, label in offered]
        self.route.accepted = frozenset(known)
        return self


def _name(label: str, what: str, required: str) -> StringField:
    return StringField(
        label,
        widget=GovTextInput(),
        filters=[strip],
        validators=[Required(required), Text(what, NAME_MAX)],
    )


def _identifier(label: str, check: Any, description: str) -> StringField:
    return StringField(
        label,
        widget=GovTextInput(),
        filters=[strip],
        description=description,
        validators=[Optional(), Identified(check)],
    )


def _date_of_birth(label: str, required: str | None = None) -> GovDateField:
    #: the id is the day input's, so the error summary links to it (the template gives the container its own)
    return GovDateField(
        label, what="Date of birth", required=required, description="For example, 27 3 2012", id="date_of_birth-day"
    )


def _postcode(label: str, required: str | None = None) -> StringField:
    first = Required(required) if required else Optional()
    return StringField(label, widget=GovTextInput(), filters=[strip], validators=[first, Identified(check_postcode)])


def _nhs_number() -> StringField:
    return _identifier("NHS number (if you know it)", check_nhs_number, "For example, 943 476 5919")


def _upn() -> StringField:
    return _identifier("Unique pupil number (UPN, if you know it)", check_upn, f"For example, {EXAMPLE_UPN}")


class _PersonFields(_TodayForm):
    """The checks a person's date of birth needs: plausible, and under 18 for a child."""

    def validate_date_of_birth(self, field: GovDateField) -> None:
        role = getattr(self, "role", None)
        problem = check_date_of_birth(field.data, self.today, child=role is not None and role.data == "child")
        if problem:
            raise ValidationError(problem)


# Fields are declared in the order the page shows them, which is the order of the error summary.


class PersonForm(_PersonFields):
    """The person the concern is about."""

    given_name = _name("First name", "First name", "Enter the first name")
    family_name = _name("Last name", "Last name", "Enter the last name")
    date_of_birth = _date_of_birth("Date of birth", required="Enter their date of birth")
    nhs_number = _nhs_number()
    upn = _upn()
    postcode = _postcode("Postcode", required="Enter their postcode")


class MemberForm(_PersonFields):
    """Another member of the household."""

    role = Choice(
        "Who is this person in the household?",
        choices=[
            ("parent_carer", "Parent or carer"),
            ("child", "Child (under 18)"),
            ("other_adult", "Another adult"),
        ],
        message="Select who this person is in the household",
    )
    given_name = _name("First name", "First name", "Enter the first name")
    family_name = _name("Last name", "Last name", "Enter the last name")
    date_of_birth = _date_of_birth("Date of birth (if you know it)")
    nhs_number = _nhs_number()
    upn = _upn()
    postcode = _postcode("Postcode (if different from the person the concern is about)")


class AddAnotherForm(FlaskForm):
    add_another = Choice(
        "Do you want to add another household member?",
        choices=[("yes", "Yes"), ("no", "No")],
        message="Select yes if you want to add another household member",
    )


class RemoveMemberForm(FlaskForm):
    remove = Choice(
        "Are you sure you want to remove this person?",
        choices=[("yes", "Yes"), ("no", "No")],
        message="Select yes if you want to remove this person",
    )


def _long_text(label: str, what: str, required: str, maximum: int = TEXT_MAX) -> TextAreaField:
    return TextAreaField(
        label,
        widget=GovCharacterCount(),
        filters=[strip],
        validators=[Required(required), Text(what, maximum, multiline=True)],
    )


class ConcernForm(FlaskForm):
    concern = _long_text(
        "What are you worried about?", "What you are worried about", "Enter what you are worried about"
    )


class TriedForm(FlaskForm):
    tried = _long_text(
        "What has your organisation already tried?",
        "What your organisation has tried",
        "Enter what your organisation has already tried",
    )


class FamilyToldForm(FlaskForm):
    family_told = Choice(
        "Does the family know about this nomination?",
        choices=[(told.value, label) for told, label in FAMILY_TOLD_LABELS.items()],
        message="Select whether the family knows about this nomination",
    )


class NotToldReasonForm(FlaskForm):
    not_told_reason = _long_text(
        "Why has the family not been told, or not been given the notice?",
        "The reason",
        "Enter why the family has not been told or given the notice",
        REASON_MAX,
    )


class SubmitForm(VersionedForm):
    """Only the version (and the CSRF token): the answers are already in the draft."""


class GiveInformationForm(VersionedForm):
    message = _long_text("Your answer", "Your answer", "Enter the information the Supporting Families team asked for")


class SeenForm(FlaskForm):
    """Only the CSRF token: opening an updated nomination."""
