"""The validators every form uses, with GOV.UK wording supplied by the field that uses them.

WTForms' own ``DataRequired``/``Optional`` speak in WTForms' words and treat a blank string as an
answer; these treat whitespace as no answer, stop the chain with the page's own message, and refuse
control characters in free text (a NUL byte breaks PostgreSQL text; an escape code is served raw to
whoever reads the message), so every form, in every domain, refuses the same things the same way.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from flask_wtf import FlaskForm
from wtforms import Field
from wtforms.validators import StopValidation


def strip(value: Any) -> Any:
    """A field filter: surrounding spaces are not part of an answer (so limits count what is kept)."""
    return value.strip() if isinstance(value, str) else value


def has_control(text: str, allowed: str = "") -> bool:
    """Whether ``text`` holds a control, format or unassigned code point (Unicode category C*)."""
    return any(unicodedata.category(ch).startswith("C") and ch not in allowed for ch in text)


class Required:
    """The field must have an answer (``DataRequired`` without WTForms' own wording)."""

    field_flags = {"required": True}

    def __init__(self, message: str) -> None:
        self.message = message

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if not field.data or (isinstance(field.data, str) and not field.data.strip()):
            field.errors[:] = []
            raise StopValidation(self.message)


class Optional:
    """No answer is an answer: skip the other checks."""

    def __call__(self, form: FlaskForm, field: Field) -> None:
        if not field.data:
            field.errors[:] = []
            raise StopValidation()


class Text:
    """Length limits, and no control characters (line breaks and tabs are allowed in multi-line answers).

    ``minimum`` counts what is kept, so run it after the ``strip`` filter: thirty spaces are not a reason.
    """

    def __init__(self, what: str, maximum: int, *, minimum: int = 0, multiline: bool = False) -> None:
        self.what, self.maximum, self.minimum, self.multiline = what, maximum, minimum, multiline

    def __call__(self, form: FlaskForm, field: Field) -> None:
        text = field.data or ""
        if self.multiline:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            field.data = text
        if len(text) > self.maximum:
            raise StopValidation(f"{self.what} must be {self.maximum:,} characters or fewer")
        if len(text) < self.minimum:
            raise StopValidation(f"{self.what} must be {self.minimum:,} characters or more")
        if self.multiline and has_control(text, "\n\t"):
            raise StopValidation(f"{self.what} must not include control codes")
        if not self.multiline and has_control(text):
            raise StopValidation(f"{self.what} must not include special characters such as tabs or line breaks")
