"""Forms for the flag pages: shape and field validation only (no database, no policy)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovCheckboxInput, GovTextArea, GovTextInput
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import InputRequired, ValidationError

from portal.families.identifiers import clean_nhs_number, clean_upn
from portal.kit.validators import Required, Text, strip


class SearchForm(FlaskForm):
    """A GET search: it changes nothing, so it carries no CSRF token."""

    class Meta:
        csrf = False

    q = StringField(
        "Search by NHS number, UPN or name",
        widget=GovTextInput(),
        filters=[strip],
        validators=[Text("Search", 100)],
    )


class BreakGlassForm(FlaskForm):
    identifier = StringField(
        "NHS number or UPN of the person",
        widget=GovTextInput(),
        filters=[strip],
        validators=[Required("Enter the person's NHS number or UPN"), Text("NHS number or UPN", 40)],
    )
    reason = TextAreaField(
        "Why do you need to see this person's information now?",
        widget=GovTextArea(),
        filters=[strip],
        validators=[Required("Enter why you need emergency access"), Text("Reason", 1000, minimum=20, multiline=True)],
    )
    confirm = BooleanField(
        "I understand this access is recorded and will be reviewed by the data protection officer",
        widget=GovCheckboxInput(),
        validators=[InputRequired(message="Confirm that you understand this access will be reviewed")],
    )

    def validate_identifier(self, field: StringField) -> None:
        if field.data and not (clean_nhs_number(field.data) or clean_upn(field.data)):
            raise ValidationError("Enter a valid NHS number (10 digits) or UPN (13 characters)")
