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
from typing import Any

from flask import Flask
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


def init_app(app: Flask) -> None:
    cache = ComponentCache(app)
    app.jinja_env.globals["govuk_component"] = cache.render
    app.jinja_env.globals["CSRF_PLACEHOLDER"] = CSRF_PLACEHOLDER
