"""The data protection officer's access-log filters: shape and field validation only."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovDateInput, GovSelect, GovTextInput
from wtforms import DateField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional, ValidationError

from portal.access_log.events import EventType, Outcome
from sharing_protocols.policy import REASON_LABELS, label

OUTCOME_LABELS = {"permitted": "Permitted", "denied": "Denied", "break_glass": "Break-glass"}


def reason_label(code: str) -> str:
    return label(REASON_LABELS, code)


def event_label(event: str) -> str:
    return event.replace("_", " ").capitalize()


class OptionalDateField(DateField):
    """A GOV.UK day/month/year date that may be left blank, and never breaks on a crafted request.

    The GOV.UK date widget expects exactly three submitted parts; anything else (absent, or a hand
    made URL with one or four parts) is treated as blank or as an error, never as a crash.
    """

    def process_formdata(self, valuelist: list[str]) -> None:
        if not valuelist or not any(v.strip() for v in valuelist):
            self.raw_data = None
            self.data = None
            return
        if len(valuelist) != 3:
            self.raw_data = None
            self.data = None
            raise ValueError(f"{self.label.text} must be a real date, like 27 3 2026")
        try:
            super().process_formdata([" ".join(v.strip() for v in valuelist)])
        except ValueError as exc:
            raise ValueError(f"{self.label.text} must be a real date, like 27 3 2026") from exc


class LogSearchForm(FlaskForm):
    """A GET search: it changes nothing, so it carries no CSRF token."""

    class Meta:
        csrf = False

    person = StringField(
        "Person's NHS number or UPN",
        widget=GovTextInput(),
        validators=[Optional(), Length(max=20, message="NHS number or UPN must be 20 characters or fewer")],
    )
    family = StringField(
        "Family reference",
        widget=GovTextInput(),
        validators=[Optional(), Length(max=20, message="Family reference must be 20 characters or fewer")],
    )
    user_email = StringField(
        "User's email address",
        widget=GovTextInput(),
        validators=[Optional(), Length(max=320, message="Email address must be 320 characters or fewer")],
    )
    organisation = SelectField("Organisation", widget=GovSelect(), validate_choice=True, default="")
    date_from = OptionalDateField("From", widget=GovDateInput(), format="%d %m %Y", validators=[Optional()])
    date_to = OptionalDateField("To", widget=GovDateInput(), format="%d %m %Y", validators=[Optional()])
    outcome = SelectField(
        "Outcome",
        widget=GovSelect(),
        choices=[SelectChoice("", "Any outcome")] + [SelectChoice(o.value, OUTCOME_LABELS[o.value]) for o in Outcome],
        default="",
    )
    event = SelectField(
        "Action",
        widget=GovSelect(),
        choices=[SelectChoice("", "Any action")] + [SelectChoice(e.value, event_label(e.value)) for e in EventType],
        default="",
    )

    def validate_date_to(self, field: DateField) -> None:
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("The 'to' date must be the same as or after the 'from' date")


class IntegrityCheckForm(FlaskForm):
    """Only the CSRF token: the check is a POST because it is logged and can take a while."""


class ReviewForm(FlaskForm):
    """Only the CSRF token: marking an emergency access as reviewed."""
