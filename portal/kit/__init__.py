"""The GOV.UK page kit: what every page of every domain shares (formatting, fields, validators, the
failed-page pattern), so that each exists once.

``init_app`` registers the formatting filters with the app, once, for every template.
"""

from __future__ import annotations

from flask import Flask

from portal.kit.formatting import format_nhs_number, govuk_date, govuk_datetime


def init_app(app: Flask) -> None:
    app.add_template_filter(govuk_date, "govuk_date")
    app.add_template_filter(govuk_datetime, "govuk_datetime")
    app.add_template_filter(format_nhs_number, "nhs_number")
