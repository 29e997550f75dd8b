"""Security headers with a per-request CSP nonce, the deny-by-default route gate, and every app-wide
error page, the gate's among them: a refusal (403, which says which condition failed) and a log that
cannot be written (503: nothing was served).

The nonce lets the GOV.UK template's one inline script run under a CSP without 'unsafe-inline'.
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, abort, current_app, g, redirect, render_template, request, session, url_for
from flask_login import current_user

from portal import db
from portal.auth.rules import PUBLIC, SIGNED_IN, declaration
from portal.gate import AccessDenied, AuditUnavailable


def init_app(app: Flask) -> None:
    """Install the headers, the route gate and the error pages: every request passes all three."""
    _headers_with_nonce(app)
    _route_gate(app)
    _error_pages(app)


def _headers_with_nonce(app: Flask) -> None:
    """A fresh CSP nonce per request for the template's one inline script, and the security headers."""

    @app.before_request
    def _nonce() -> None:
        g.csp_nonce = secrets.token_urlsafe(16)

    @app.context_processor
    def _template_nonce() -> dict[str, str]:
        return {"cspNonce": g.get("csp_nonce", "")}

    @app.after_request
    def _headers(response: Response) -> Response:
        nonce = g.get("csp_nonce", "")
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; "
            f"script-src 'self' 'nonce-{nonce}'; "
            "style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
            "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
        )
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if request.endpoint and not request.endpoint.endswith("static"):
            response.headers["Cache-Control"] = "no-store"
        if request.is_secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        return response


def _route_gate(app: Flask) -> None:
    """Deny by default: a route that declares nobody is a 403 at run time, not only a failing test."""

    @app.before_request
    def _enforce_route_declaration() -> object:
        """Refuse any route that has not declared who may call it, and anyone it does not admit."""
        if request.endpoint is None:
            return None  # 404 / 405: werkzeug answers those
        view = current_app.view_functions.get(request.endpoint)
        if request.endpoint == "static" or request.endpoint.endswith(".static"):
            return None
        rule = declaration(view)
        if rule is None:
            g.forbidden_reason = "This page has not been opened to anyone yet."
            abort(403)
        if rule == PUBLIC:
            return None
        if not current_user.is_authenticated:
            if getattr(session, "expired", False):
                # say why they are back at sign-in; the flag only changes wording, so it may be spoofed
                return redirect(url_for("auth.choose_provider", timed_out=1))
            return current_app.login_manager.unauthorized()
        if rule == SIGNED_IN:
            return None
        if not (current_user.roles & rule):
            needed = " or ".join(sorted(role.label for role in rule))
            g.forbidden_reason = f"This page is for users with the {needed} role. Your account does not have it."
            abort(403)
        return None


def _error_pages(app: Flask) -> None:
    """Every app-wide error page, the gate's among them: what a refused or unloggable request shows."""

    @app.errorhandler(AccessDenied)
    def _access_denied(exc: AccessDenied) -> tuple[str, int]:
        # the refusal is already logged and committed by the gate
        return render_template("errors/access_denied.html", decision=exc.decision), 403

    @app.errorhandler(AuditUnavailable)
    def _audit_unavailable(_exc: AuditUnavailable) -> tuple[str, int]:
        db.session().rollback()
        return render_template("errors/audit_unavailable.html"), 503

    @app.errorhandler(403)
    def _forbidden(_error: Exception) -> tuple[str, int]:
        return render_template("errors/403.html", reason=g.get("forbidden_reason")), 403

    @app.errorhandler(404)
    def _not_found(_error: Exception) -> tuple[str, int]:
        return render_template("errors/404.html"), 404

    @app.errorhandler(400)
    def _bad_request(_error: Exception) -> tuple[str, int]:
        return render_template("errors/400.html"), 400

    @app.errorhandler(405)
    def _method_not_allowed(_error: Exception) -> tuple[str, int]:
        return render_template("errors/404.html"), 405

    @app.errorhandler(500)
    def _server_error(_error: Exception) -> tuple[str, int]:
        return render_template("errors/500.html"), 500
