"""The framework file wired into the app: loaded and checked once at start, refused when malformed.

Loading at start rather than on first use means a council officer's mistake in the file stops the
deployment with every problem listed, instead of breaking the nomination journey for a partner later.
Run ``python -m referrals.setup FILE`` to check an edited file before deploying it; it needs no database
or secrets.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from flask import Flask, current_app

from portal.errors import ConfigError
from portal.organisations.models import OrganisationKind
from referrals.framework import DEFAULT_FRAMEWORK, SHIPPED_FRAMEWORKS, Framework, FrameworkError, load_framework

EXTENSION = "framework"


def organisation_kinds() -> frozenset[str]:
    return frozenset(kind.value for kind in OrganisationKind)


def framework_path(configured: str) -> str:
    """The framework file ``PORTAL_FRAMEWORK_FILE`` names: a path, or the key of a framework shipped
    with the portal (so a council need not know where the package was installed to switch to the 2022
    outcome framework); by default the 2015 framework."""
    value = configured.strip() or DEFAULT_FRAMEWORK
    shipped = SHIPPED_FRAMEWORKS.get(value)
    return str(shipped) if shipped else value


def init_app(app: Flask) -> None:
    """Load ``FRAMEWORK_FILE`` into ``app.extensions["framework"]``.

    Raises:
        ConfigError: the file cannot be read or is not a valid framework; the message lists every problem.
    """
    path = framework_path(app.config.get("FRAMEWORK_FILE") or "")
    try:
        framework = load_framework(path, organisation_kinds())
    except FrameworkError as exc:
        raise ConfigError(f"Refusing to start: {exc}") from exc
    app.extensions[EXTENSION] = framework


def current_framework() -> Framework:
    """The framework the running app was started with."""
    try:
        return current_app.extensions[EXTENSION]
    except KeyError:
        raise RuntimeError("no framework loaded: create_app must call referrals.setup.init_app(app)") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Check framework files and summarise each, for a council officer about to deploy an edited one."""
    paths = list(sys.argv[1:] if argv is None else argv)
    if not paths:
        print("usage: python -m referrals.setup FRAMEWORK_FILE [...]", file=sys.stderr)
        return 2
    status = 0
    for path in paths:
        try:
            framework = load_framework(path, organisation_kinds())
        except FrameworkError as exc:
            print(exc, file=sys.stderr)
            status = 1
            continue
        indicators = sum(len(c.indicators) for c in framework.criteria)
        print(
            f"{path}: valid. {framework.name} (version {framework.version}): {len(framework.criteria)} criteria, "
            f"{indicators} indicators, {len(framework.routes)} routes; a family is eligible with "
            f"{framework.threshold} or more criteria."
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
