"""The fields and form bases every domain's pages share: one GOV.UK date, one versioned form, one page
number. Each turns whatever a crafted request sends into a validation error or a safe default, never an
exception, and never a value the database cannot hold.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from flask_wtf import FlaskForm
from govuk_frontend_wtf.wtforms_widgets import GovDateInput, GovRadioInput, GovSelect
from wtforms import Field, HiddenField, RadioField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import StopValidation, ValidationError

#: the highest page a list offers: beyond it is a crafted link, answered with the first page
LAST_PAGE = 99_999


def page_number(args: Mapping[str, str], name: str = "page") -> int:
    """The page a list was asked for: ASCII digits from 1 to ``LAST_PAGE``, or else the first page.

    ``str.isdigit`` is not enough: it accepts superscripts (``²``) that ``int`` then refuses.
    """
    text = args.get(name, "1")
    if not re.fullmatch(r"[0-9]{1,5}", text):
        return 1
    return min(max(int(text), 1), LAST_PAGE)


class Choice(RadioField):
    """GOV.UK radios, with one message for no answer and for an answer that was never offered."""

    widget = GovRadioInput()

    def __init__(self, label: str, *, message: str, choices: Sequence[tuple[str, str]] = (), **kwargs: Any) -> None:
        super().__init__(label, validate_choice=False, choices=[SelectChoice(v, t) for v, t in choices], **kwargs)
        self.message = message
        #: values accepted besides those offered (None: only those offered)
        self.accepted: frozenset[str] | None = None

    def pre_validate(self, form: FlaskForm) -> None:
        values = self.accepted if self.accepted is not None else {str(c.value) for c in self.choices or ()}
        if not self.data or str(self.data) not in values:
            raise StopValidation(self.message)


class Select(SelectField):
    """A GOV.UK select whose value must be one it offers, refused in the page's words ("Choose a route
    from the list"), not WTForms' "Not a valid choice." (a crafted or stale link is the usual cause)."""

    widget = GovSelect()

    def __init__(self, label: str, *, message: str, **kwargs: Any) -> None:
        super().__init__(label, validate_choice=True, **kwargs)
        self.message = message

    def pre_validate(self, form: FlaskForm) -> None:
        try:
            super().pre_validate(form)
        except ValidationError:
            raise ValidationError(self.message) from None


class GovDateField(Field):
    """A GOV.UK date input (day, month, year) with GOV.UK's message for each way it can be wrong.

    Always keeps exactly three submitted parts, so the widget redraws whatever was typed; any other
    number of parts (a crafted request) is an error, never a crash. ``what`` names the date in messages
    ("Date of birth must include a month"); ``required`` is the message for no date at all (without
    it the date may be left blank).
    """

    widget = GovDateInput()

    def __init__(self, label: str, *, what: str | None = None, required: str | None = None, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.what = what or self.label.text
        self.required = required
        self.problem: str | None = None

    def _value(self) -> str:
        return self.data.strftime("%d %m %Y") if isinstance(self.data, date) else ""

    def process_formdata(self, valuelist: list[str]) -> None:
        parts = [str(v)[:20] for v in valuelist]
        self.raw_data = [*parts, "", "", ""][:3]
        self.data = None
        self.problem = None
        if len(parts) not in (0, 3):
            self.problem = f"{self.what} must be a real date"
            return
        self.problem = self._parse(*(p.strip() for p in self.raw_data))

    def _parse(self, day: str, month: str, year: str) -> str | None:
        if not (day or month or year):
            return None
        missing = [name for name, value in (("day", day), ("month", month), ("year", year)) if not value]
        if missing:
            return f"{self.what} must include a {' and a '.join(missing)}"
        if not (re.fullmatch(r"[0-9]{1,2}", day) and re.fullmatch(r"[0-9]{1,2}", month) and year.isascii()):
            return f"{self.what} must be a real date"
        if not re.fullmatch(r"[0-9]{4}", year):
            return "Year must include 4 numbers"
        try:
            self.data = date(int(year), int(month), int(day))
        except ValueError:
            return f"{self.what} must be a real date"
        return None

    def pre_validate(self, form: FlaskForm) -> None:
        if self.problem:
            raise StopValidation(self.problem)
        if self.data is None and self.required:
            raise StopValidation(self.required)


class VersionedForm(FlaskForm):
    """A form that changes a record carries the record's version as the page showed it.

    The service compares and swaps it, so a stale page or a replayed POST changes nothing. Anything but
    a plain number of up to nine digits (a crafted value, a number beyond the database's integer) is
    version -1, which no record has: the service refuses it as stale, like any out-of-date page.
    """

    version = HiddenField()

    @property
    def version_number(self) -> int:
        text = str(self.version.data or "")
        return int(text) if re.fullmatch(r"[0-9]{1,9}", text) else -1

    def show_version(self, version: int) -> None:
        """After a failure, carry the version now shown, so a resubmission is judged on what is on screen."""
        self.version.data = str(version)
        self.version.raw_data = [str(version)]
