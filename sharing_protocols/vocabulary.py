"""The words protocols, notices and pages share: data categories, purposes and directions, with labels.

The constants themselves are defined by the pure policy; this module adds the labels people read.
The six headline criteria of the programme's framework are the default categories;
``programme_membership`` is the fact that a person is in a supported family at all, which is what a
flag discloses before any concern is named. (The framework itself becomes configuration with
nominations; these are its defaults.)
"""

from __future__ import annotations

from sharing_protocols.policy import (
    IDENTIFICATION,
    PROGRAMME_MEMBERSHIP,
    SUPPORT_COORDINATION,
    TO_COUNCIL,
    TO_PARTNER,
)

#: category -> plain-English label, as partners read it on a flag
CATEGORIES: dict[str, str] = {
    PROGRAMME_MEMBERSHIP: "Supporting Families programme membership",
    "crime_asb": "Crime or anti-social behaviour",
    "education": "School attendance",
    "children_need_help": "Children who need help",
    "employment_finance": "Worklessness or financial exclusion",
    "domestic_abuse": "Domestic abuse",
    "health": "Health",
}

PURPOSES: dict[str, str] = {
    SUPPORT_COORDINATION: "coordinating support for the family",
    IDENTIFICATION: "identifying families who need support (nominations)",
}

DIRECTIONS: dict[str, str] = {
    TO_PARTNER: "from the council to the partner",
    TO_COUNCIL: "from the partner to the council",
}


def category_label(category: str) -> str:
    return CATEGORIES.get(category, category.replace("_", " ").capitalize())
