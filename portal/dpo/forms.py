"""The data protection officer's access-log filters: shape and field validation only."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovTextInput
from wtforms import StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from portal.access_log.events import EventType, Outcome
from portal.kit.fields import GovDateField, Select
from portal.kit.validators import Optional, Text, strip
from sharing_protocols.policy import REASON_LABELS, label

OUTCOME_LABELS = {"permitted": "Permitted", "denied": "Denied", "break_glass": "Break-glass"}


def reason_label(code: str) -> str:
    return label(REASON_LABELS, code)


def event_label(event: str) -> str:
    return event.replace("_", " ").capitalize()


class LogSearchForm(FlaskForm):
    """A GET search: it changes nothing, so it carries no CSRF token."""

    class Meta:
        csrf = False

    person = StringField(
        "Person's NHS number or UPN",
        widget=GovTextInput(),
        filters=[strip],
        validators=[Optional(), Text("NHS number or UPN", 20)],
    )
    family = StringField(
        "Family reference",
        widget=GovTextInput(),
        filters=[strip],
        validators=[Optional(), Text("Family reference", 20)],
    )
    user_email = StringField(
        "User's email address",
        widget=GovTextInput(),
        filters=[strip],
        validators=[Optional(), Text("Email address", 320)],
    )
    organisation = Select("Organisation", message="Choose an organisation from the list", default="")
    date_from = GovDateField("From", what="The 'from' date")
    date_to = GovDateField("To", what="The 'to' date")
    outcome = Select(
        "Outcome",
        message="Choose an outcome from the list",
        choices=[SelectChoice("", "Any outcome")] + [SelectChoice(o.value, OUTCOME_LABELS[o.value]) for o in Outcome],
        default="",
    )
    event = Select(
        "Action",
        message="Choose an action from the list",
        choices=[SelectChoice("", "Any action")] + [SelectChoice(e.value, event_label(e.value)) for e in EventType],
        default="",
    )

    def validate_date_to(self, field: GovDateField) -> None:
        if field.data and self.date_from.data and field.data < self.date_from.data:
            raise ValidationError("The 'to' date must be the same as or after the 'from' date")


class IntegrityCheckForm(FlaskForm):
    """Only the CSRF token: the check is a POST because it is logged and can take a while."""


class ReviewForm(FlaskForm):
    """Only the CSRF token: marking an emergency access as reviewed."""
