"""The programme's framework as data: headline criteria, their indicators, the equivalent-concern routes
partners nominate under, and the eligibility threshold.

The national rules change (six headline criteria in 2015-2020, ten headline outcomes from 2022) and each
council tunes them, so the framework is a YAML file a council officer edits (``referrals/frameworks/``
holds the shipped ones), not code. Pure: the standard library, PyYAML and the pure sharing policy only
(an import-linter contract enforces it); the organisation kinds a route may name are passed in, so the
package never imports the ORM models. The Flask wiring is ``referrals.setup``.
"""

from referrals.framework.model import (
    DEFAULT_FRAMEWORK,
    SHIPPED_FRAMEWORKS,
    Criterion,
    Framework,
    FrameworkError,
    Indicator,
    Route,
)
from referrals.framework.parse import load_framework, parse_framework

__all__ = [
    "DEFAULT_FRAMEWORK",
    "SHIPPED_FRAMEWORKS",
    "Criterion",
    "Framework",
    "FrameworkError",
    "Indicator",
    "Route",
    "load_framework",
    "parse_framework",
]
