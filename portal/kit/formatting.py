"""How pages write dates and identifiers, in one place: the template filters and the views use these."""

from __future__ import annotations

from datetime import date, datetime


def govuk_date(value: date | datetime) -> str:
    """Dates as GOV.UK writes them: 5 January 2026."""
    return f"{value.day} {value:%B %Y}"


def format_nhs_number(value: str) -> str:
    """NHS numbers in the 3-3-4 groups people read them in."""
    return f"{value[:3]} {value[3:6]} {value[6:]}" if len(value) == 10 else value
