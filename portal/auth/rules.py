"""Route access declarations: every route says who may call it, and anything undeclared is refused.

Two decorators, read by a ``before_request`` hook that runs before any view. A route with neither is
refused with a 403 at run time (fail closed) and fails ``tests/architecture/test_route_declarations``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from portal.organisations.models import Role

__all__ = ["Role", "declaration", "public", "requires", "signed_in"]  # views take Role from here

F = TypeVar("F", bound=Callable[..., Any])

#: attribute set on view functions: a frozenset of roles, or PUBLIC
ACCESS_ATTR = "_portal_access"
PUBLIC = "public"
SIGNED_IN = "signed_in"


def requires(*roles: Role) -> Callable[[F], F]:
    """Allow signed-in users holding at least one of ``roles``."""
    if not roles:
        raise ValueError("requires() needs at least one role; use signed_in() for any signed-in user")

    def decorate(view: F) -> F:
        setattr(view, ACCESS_ATTR, frozenset(roles))
        return view

    return decorate


def signed_in(view: F) -> F:
    """Allow any signed-in user, whatever their roles (their own home and account pages)."""
    setattr(view, ACCESS_ATTR, SIGNED_IN)
    return view


def public(view: F) -> F:
    """Allow anyone: sign-in, health and the start page only."""
    setattr(view, ACCESS_ATTR, PUBLIC)
    return view


def declaration(view: Callable[..., Any] | None) -> Any:
    """Return a view's declaration, or None when it has none."""
    return getattr(view, ACCESS_ATTR, None) if view is not None else None
