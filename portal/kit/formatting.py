"""How pages write dates and identifiers, in one place: the template filters and the views use these."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

#: the council's clock: moments are stored in UTC and shown as the council reads them
LOCAL = ZoneInfo("Europe/London")


def govuk_date(value: date | datetime) -> str:
    """Dates as GOV.UK writes them: 5 January 2026."""
    return f"{value.day} {value:%B %Y}"


def format_nhs_number(value: str) -> str:
    """NHS numbers in the 3-3-4 groups people read them in."""
    return f"{value[:3]} {value[3:6]} {value[6:]}" if len(value) == 10 else value


def govuk_datetime(value: datetime | None) -> str:
    """A moment as the council reads it: 24 November 2026 at 9:30am (UK time; naive values are UTC)."""
    if value is None:
        return ""
    local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(LOCAL)
    hour = local.hour % 12 or 12
    return f"{local.day} {local:%B %Y} at {hour}:{local:%M}{'am' if local.hour < 12 else 'pm'}"
