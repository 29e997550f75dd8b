"""What stops the portal starting, shared by the configuration and every component that checks its
own files (the key ring, the access log's signing key, the framework).

The lowest module of the shell: it imports nothing of the portal, so that ``portal.config`` can ask
the crypto and the access log to check their production files without an import cycle between them.
"""

from __future__ import annotations

#: the prefix generated development secrets and keys carry, so the production check can refuse them
DEV_SECRET_MARKER = "dev-only-"  # noqa: S105 - a prefix that marks generated dev secrets, not a secret


class ConfigError(RuntimeError):
    """The configuration (or a file it names) is unusable: the portal must not start."""
