"""The portal's page skeleton (templates/layout.html) is GOV.UK Frontend's template.html, rendered once.

It stands in for the library's template for speed (see the comment at its top), so it must not drift:
with the same blocks filled in, both must produce the same document, up to whitespace.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from jinja2 import ChoiceLoader, DictLoader, Environment, FileSystemLoader, PackageLoader, PrefixLoader

ROOT = Path(__file__).resolve().parents[2]

BLOCKS = (
    "{% block pageTitle %}A page - A service{% endblock %}"
    '{% block head %}<link rel="stylesheet" href="/app.css">{% endblock %}'
    '{% block headIcons %}<link rel="icon" href="/favicon.svg">{% endblock %}'
    "{% block bodyStart %}<p>start</p>{% endblock %}"
    '{% block govukHeader %}<div class="govuk-header">header</div>{% endblock %}'
    '{% block govukServiceNavigation %}<nav class="nav">navigation</nav>{% endblock %}'
    "{% block beforeContent %}<p>before</p>{% endblock %}"
    "{% block content %}<h1>Content</h1>{% endblock %}"
    '{% block govukFooter %}<div class="govuk-footer">footer</div>{% endblock %}'
    '{% block bodyEnd %}<script type="module" src="/init.mjs"></script>{% endblock %}'
)


def _environment() -> Environment:
    return Environment(
        loader=ChoiceLoader(
            [
                DictLoader(
                    {
                        "ours.html": '{% extends "layout.html" %}' + BLOCKS,
                        "theirs.html": '{% extends "govuk_frontend_jinja/template.html" %}' + BLOCKS,
                    }
                ),
                FileSystemLoader(str(ROOT / "templates")),
                PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
            ]
        ),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _normalised(document: str) -> str:
    document = re.sub(r">\s+<", "><", document.strip())
    return re.sub(r"\s+", " ", document)


@pytest.mark.parametrize("nonce", [None, "n0nce"])
def test_the_layout_renders_the_same_document_as_the_govuk_template(nonce: str | None) -> None:
    env = _environment()
    context = {"cspNonce": nonce}
    ours = _normalised(env.get_template("ours.html").render(context))
    theirs = _normalised(env.get_template("theirs.html").render(context))
    assert ours == theirs


def test_the_comparison_would_notice_a_difference() -> None:
    env = _environment()
    ours = _normalised(env.get_template("ours.html").render({"cspNonce": "n0nce"}))
    theirs = _normalised(env.get_template("theirs.html").render({"cspNonce": "other"}))
    assert ours != theirs
