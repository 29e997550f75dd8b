"""GOV.UK components whose markup depends only on their parameters, rendered once per process.

Why: the header, the service navigation and the phase banner are on every page, and rendering them
through govuk-frontend-jinja's macros cost more than a flag page's gate (``bench/README.md``). Their
markup is a pure function of their parameters, so each distinct set of parameters is rendered once, by
the library's own macro, and reused. Nothing is hand-written: an upgrade of govuk-frontend-jinja
changes the cached markup with it.

Only parameters that are the same for many requests belong here (a service name, the navigation items
of a role on a page). The one per-session value on those components, the sign-out form's CSRF token,
is rendered as ``CSRF_PLACEHOLDER`` and put in after the cache, so no session's token is ever cached.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request, url_for
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

#: stands for the request's CSRF token in cached markup (never a real token: it is not base64)
CSRF_PLACEHOLDER = "@@csrf-token@@"

#: component name -> (the govuk-frontend-jinja macro file, the macro's name)
COMPONENTS = {
    "generic-header": ("govuk_frontend_jinja/components/generic-header/macro.html", "govukGenericHeader"),
    "service-navigation": ("govuk_frontend_jinja/components/service-navigation/macro.html", "govukServiceNavigation"),
    "phase-banner": ("govuk_frontend_jinja/components/phase-banner/macro.html", "govukPhaseBanner"),
}


class ComponentCache:
    """A bounded cache of rendered components, keyed by component and parameters."""

    def __init__(self, app: Flask, size: int = 512) -> None:
        self._app = app
        self._size = size
        self._rendered: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def render(self, component: str, params: dict[str, Any]) -> Markup:
        """The component's markup for these parameters, with the request's CSRF token put in."""
        key = component + "\x1f" + json.dumps(params, sort_keys=True, default=str)
        html = self._rendered.get(key)
        if html is None:
            path, name = COMPONENTS[component]
            macro = getattr(self._app.jinja_env.get_template(path).module, name)
            html = str(macro(params))
            with self._lock:
                self._rendered[key] = html
                while len(self._rendered) > self._size:
                    self._rendered.popitem(last=False)
        if CSRF_PLACEHOLDER in html:
            html = html.replace(CSRF_PLACEHOLDER, generate_csrf())
        return Markup(html)  # noqa: S704 - the library macro's own output, escaped by it


@dataclass(frozen=True)
class NavItem:
    """One link in the service navigation, and who sees it."""

    endpoint: str
    text: str
    #: roles any one of which shows it (empty: every signed-in user)
    roles: frozenset[str] = frozenset()
    #: the organisation kind the user must act for (None: any)
    kind: str | None = None
    #: the item is current on every page of this blueprint (else only on its own endpoint)
    blueprint: str | None = None


#: the service navigation, in order; a user sees the items their roles and organisation allow
NAVIGATION = (
    NavItem("main.home", "Home"),
    NavItem("nominations.list_nominations", "Your nominations", frozenset({"practitioner"}), blueprint="nominations"),
    NavItem("triage.list_nominations", "Triage", frozenset({"coordinator"}), "council_team", "triage"),
    NavItem("families.list_flags", "Flagged people", frozenset({"practitioner", "coordinator"}), blueprint="families"),
    NavItem("audit.search_access_log", "Access log", frozenset({"dpo"}), blueprint="audit"),
    NavItem("main.account", "Your account"),
)

_SIGN_OUT = (
    '<li class="govuk-service-navigation__item">'
    '<form method="post" action="{action}" class="app-inline-form" novalidate>'
    f'<input type="hidden" name="csrf_token" value="{CSRF_PLACEHOLDER}">'
    '<button type="submit" class="govuk-service-navigation__link app-link-button">Sign out</button>'
    "</form></li>"
)


class Navigation:
    """The service navigation for the current user and page, built once per (roles, organisation kind,
    current item) and rendered by the library's macro through the component cache.

    Why in Python: building the items in the template cost a ``url_for`` per link and a role look-up
    per item on every page; the items depend only on the key, so each key is built once per process.
    """

    def __init__(self, components: ComponentCache) -> None:
        self._components = components
        self._params: dict[tuple[object, ...], dict[str, Any]] = {}

    def render(self) -> Markup:
        user = current_user
        if not user.is_authenticated:
            key: tuple[object, ...] = ("anonymous",)
        else:
            roles = frozenset(r.value for r in user.roles)
            kind = user.organisation.kind.value
            shown = tuple(i for i in NAVIGATION if (not i.roles or roles & i.roles) and i.kind in (None, kind))
            current = next(
                (
                    i.endpoint
                    for i in shown
                    if request.endpoint == i.endpoint or (i.blueprint is not None and i.blueprint == request.blueprint)
                ),
                None,
            )
            key = (tuple(i.endpoint for i in shown), current)
        params = self._params.get(key)
        if params is None:
            params = self._params[key] = self._build(key)
        return self._components.render("service-navigation", params)

    @staticmethod
    def _build(key: tuple[object, ...]) -> dict[str, Any]:
        service_name = current_app.config["SERVICE_NAME"]
        if key == ("anonymous",):
            items: list[dict[str, Any]] = []
            end, home = "", url_for("main.start")
        else:
            endpoints, current = key
            by_endpoint = {i.endpoint: i for i in NAVIGATION}
            items = [
                {"href": url_for(e), "text": by_endpoint[e].text, "current": e == current}
                for e in endpoints  # type: ignore[union-attr]
            ]
            end, home = Markup(_SIGN_OUT.format(action=url_for("auth.sign_out"))), url_for("main.home")  # noqa: S704
        return {
            "serviceName": service_name,
            "serviceUrl": home,
            "navigation": items,
            "navigationLabel": "Menu",
            "slots": {"navigationEnd": end},
        }


class AppUrls:
    """Addresses that are the same on every page of an app (its assets, its start page), built once.

    ``url_for`` costs about 10 microseconds; a page asked for the same five on every render.
    """

    def __init__(self) -> None:
        self._built: dict[tuple[str, str], str] = {}

    def __call__(self, endpoint: str, filename: str = "") -> str:
        found = self._built.get((endpoint, filename))
        if found is None:
            found = (
                url_for(endpoint, filename=filename) if filename or endpoint.endswith("static") else url_for(endpoint)
            )
            self._built[(endpoint, filename)] = found
        return found


def init_app(app: Flask) -> None:
    cache = ComponentCache(app)
    navigation = Navigation(cache)
    app.jinja_env.globals["app_url"] = AppUrls()
    app.jinja_env.globals["govuk_component"] = cache.render
    app.jinja_env.globals["service_navigation"] = navigation.render
    app.jinja_env.globals["CSRF_PLACEHOLDER"] = CSRF_PLACEHOLDER
