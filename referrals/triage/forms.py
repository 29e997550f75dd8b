"""Forms for triage: shape and field validation only (no database, no policy).

Every form that changes a nomination is a ``portal.kit.fields.VersionedForm``: it carries the version the
page showed, which the service compares and swaps, so a stale page or a replayed POST is refused rather
than applied. Free text and dates use the page kit's validators and date field, as every form does.
Choices that depend on data are set by the view from what the service returned, and WTForms refuses
anything else a crafted request sends; where the choices are the family's (its members, who may lead it,
the notice versions) the service checks the values itself (``validate_choice=False`` here), so a POST
need not read the family before the service does.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import (
    GovCharacterCount,
    GovCheckboxesInput,
    GovCheckboxInput,
    GovRadioInput,
    GovSelect,
    GovTextInput,
)
from wtforms import (
    BooleanField,
    Field,
    HiddenField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, ValidationError

from consent.models import NOTICE_METHOD_LABELS
from portal.kit.fields import GovDateField, Select, VersionedForm
from portal.kit.validators import Optional, Required, Text, strip

MAX_MESSAGE = 2000


def choices(pairs: Sequence[tuple[str, str]]) -> list[SelectChoice]:
    return [SelectChoice(value, label) for value, label in pairs]


class QueueFiltersForm(FlaskForm):
    """A GET filter: it changes nothing, so it carries no CSRF token."""

    class Meta:
        csrf = False

    route = Select("Route", message="Choose a route from the list", default="")
    organisation = Select("Nominating organisation", message="Choose an organisation from the list", default="")
    age = Select("Time since it was submitted", message="Choose a time from the list", default="")
    status = Select("Status", message="Choose a status from the list", default="")


def _uuid_or_none(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


class MatchForm(VersionedForm):
    """One button on the nomination page: confirm or reject a candidate, or "no match: a new person"."""

    choice = HiddenField(validators=[InputRequired()])
    person_id = HiddenField()

    def validate_choice(self, field: Field) -> None:
        if field.data not in ("confirm", "reject", "new-person"):
            raise ValidationError("Choose what to do with this match")

    def validate_person_id(self, field: Field) -> None:
        if self.choice.data in ("confirm", "reject") and _uuid_or_none(field.data) is None:
            raise ValidationError("Choose a known person")

    @property
    def person(self) -> uuid.UUID | None:
        return _uuid_or_none(self.person_id.data)


class RequestInformationForm(VersionedForm):
    message = TextAreaField(
        "What do you need to know?",
        description="The nominator sees this message in their nominations, and answers it there.",
        widget=GovCharacterCount(),
        filters=[strip],
        validators=[Required("Enter what you need to know"), Text("Your message", MAX_MESSAGE, multiline=True)],
    )


class DeclineForm(VersionedForm):
    reason = TextAreaField(
        "Why is the nomination not being accepted?",
        description="The nominator sees this reason. Do not include anything they should not know about the family.",
        widget=GovCharacterCount(),
        filters=[strip],
        validators=[
            Required("Enter why the nomination is not being accepted"),
            Text("The reason", MAX_MESSAGE, multiline=True),
        ],
    )


NEW_FAMILY = "new"
BY_REFERENCE = "reference"


class AcceptForm(VersionedForm):
    """Which family, and (fields added per person by ``accept_form``) the criteria each person meets."""

    family = RadioField(
        "Which family should these people join?",
        widget=GovRadioInput(),
        validators=[InputRequired(message="Choose the family these people should join")],
    )
    family_reference = StringField(
        "Family reference",
        description="Only if you chose another family, for example SF-000101",
        widget=GovTextInput(),
        filters=[strip],
        validators=[Optional(), Text("The family reference", 20)],
    )
    #: (field name, nominated person id) of the criteria fields added for this request
    criteria_fields: tuple[tuple[str, uuid.UUID], ...] = ()

    def validate_family_reference(self, field: Field) -> None:
        if self.family.data == BY_REFERENCE and not (field.data or "").strip():
            raise ValidationError("Enter the reference of the family these people should join")

    def chosen_criteria(self) -> dict[uuid.UUID, set[str]]:
        return {person_id: set(getattr(self, name).data or ()) for name, person_id in self.criteria_fields}


def criteria_field_name(person_id: uuid.UUID) -> str:
    return f"criteria_{person_id.hex}"


def accept_form(
    people: Sequence[tuple[uuid.UUID, str]], criteria: Sequence[tuple[str, str]], **kwargs: object
) -> AcceptForm:
    """An accept form with a set of criteria checkboxes for each nominated person (id, name)."""
    fields = {
        criteria_field_name(person_id): SelectMultipleField(
            f"Criteria {name} meets",
            description="Select all that apply.",
            choices=choices(criteria),
            widget=GovCheckboxesInput(),
            validate_choice=True,
        )
        for person_id, name in people
    }
    form_class = type("AcceptNominationForm", (AcceptForm,), fields)
    form = form_class(**kwargs)  # type: ignore[arg-type]
    form.criteria_fields = tuple((criteria_field_name(person_id), person_id) for person_id, _ in people)
    return form


class LeadProfessionalForm(VersionedForm):
    lead = SelectField(
        "Lead professional",
        description="A practitioner, usually in the council's Supporting Families team. Partners who serve the "
        "family will see their name, telephone number and email address.",
        widget=GovSelect(),
        validate_choice=False,
        validators=[DataRequired(message="Choose the lead professional")],
    )


METHODS = [(method.value, label) for method, label in NOTICE_METHOD_LABELS.items()]


class NoticeForm(VersionedForm):
    notice_version = RadioField(
        "Which version of the fair processing notice was the family given?",
        widget=GovRadioInput(),
        validate_choice=False,
        validators=[InputRequired(message="Choose the version of the notice the family was given")],
    )
    members = SelectMultipleField(
        "Who was it given to?",
        description="Select everyone it was given to, or given on behalf of (for a child).",
        widget=GovCheckboxesInput(),
        validate_choice=False,
        validators=[DataRequired(message="Select the family members the notice was given to")],
    )
    given_on = GovDateField(
        "When was it given?",
        what="The date it was given",
        required="Enter the date it was given",
        description="For example, 27 3 2026",
    )
    method = RadioField(
        "How was it given?",
        widget=GovRadioInput(),
        choices=choices(METHODS),
        validators=[InputRequired(message="Choose how the notice was given")],
    )
    given_by = RadioField(
        "Who gave it?",
        widget=GovRadioInput(),
        validate_choice=False,
        validators=[InputRequired(message="Choose who gave the notice")],
    )

    def validate_given_on(self, field: Field) -> None:
        if field.data and field.data > date.today():
            raise ValidationError("The date it was given must be today or in the past")


class FlagsForm(VersionedForm):
    review_on = GovDateField(
        "Review date",
        required="Enter the review date",
        description="When the council will check the flags are still needed. For example, 27 3 2026",
    )
    ends_on = GovDateField(
        "End date", required="Enter the end date", description="After this date partners no longer see the flags."
    )
    family_told = BooleanField(
        "The family has been told that partners who serve them will see that they are supported",
        widget=GovCheckboxInput(),
    )

    def validate_review_on(self, field: Field) -> None:
        if field.data and field.data <= date.today():
            raise ValidationError("The review date must be in the future")

    def validate_ends_on(self, field: Field) -> None:
        if field.data and self.review_on.data and field.data < self.review_on.data:
            raise ValidationError("The end date must be the same as or after the review date")
