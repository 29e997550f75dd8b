"""The app's key ring: read from its file at start (or, outside production, a development one made in
the instance folder), written back atomically on rotation, and looked up by every encrypted column.

A lost or half-written key ring file means data that can never be read again, hence the atomic
replace with fsync; a development ring in production means real data under keys lying unprotected
beside the app, hence the refusals in ``load_keyring``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, current_app, has_app_context

from portal.crypto.ring import KeyRing
from portal.errors import ConfigError

# the package's name, as before the split, so that logging configuration naming it still applies
log = logging.getLogger("portal.crypto")

EXTENSION = "portal_keyring"
DEV_KEYRING_NAME = "keyring.json"


class KeyRingUnavailable(RuntimeError):
    """Encrypted columns were used outside a Flask app context (or before ``init_app``).

    Failing closed: without the key ring there is no way to encrypt, and plaintext is never stored.
    """


def read_keyring_file(path: str | os.PathLike[str]) -> KeyRing:
    """Load and strictly validate a key ring file."""
    path = Path(path)
    source = f"key ring file {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{source} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"{source} cannot be read: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source} is not valid JSON (line {exc.lineno})") from None
    ring = KeyRing.from_json_dict(data, source)
    ring.source = path
    if os.name == "posix" and path.stat().st_mode & 0o077:
        log.warning("%s is readable by other users; it should be mode 0600", source)
    return ring


def write_keyring_file(path: str | os.PathLike[str], ring: KeyRing) -> None:
    """Replace the key ring file atomically with mode 0600.

    Written to a temporary file in the same folder, flushed to disk and renamed over the old file, so
    a crash leaves either the old ring or the new one, never half a file (a lost key means lost data).
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".keyring-", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(ring.to_json_dict(), handle, indent=2)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _development_keyring(instance_path: Path) -> KeyRing:
    """The instance folder's development ring, created (mode 0600) on first use.

    Created by linking a finished temporary file into place, which fails if another process got there
    first; then everyone reads the same file, so two workers never end up with different keys.
    """
    path = instance_path / DEV_KEYRING_NAME
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".keyring-", suffix=".tmp", dir=instance_path)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(KeyRing.generate(development=True).to_json_dict(), handle, indent=2)
                handle.write("\n")
            with contextlib.suppress(FileExistsError):  # another process won the race: use its ring
                os.link(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    return read_keyring_file(path)


def load_keyring(config: Mapping[str, Any], instance_path: str | os.PathLike[str]) -> KeyRing:
    """The key ring for this configuration.

    ``KEYRING_FILE`` (``PORTAL_KEYRING_FILE``) names a key ring file. Without one, development and
    test generate ``instance/keyring.json`` marked ``"development": true``; production refuses to
    start without a file, or with one marked development.
    """
    production = config.get("PORTAL_ENV") == "production"
    path = str(config.get("KEYRING_FILE") or "")
    if path:
        ring = read_keyring_file(path)
    elif production:
        raise ConfigError("Refusing to start in production: PORTAL_KEYRING_FILE must name the key ring file")
    else:
        ring = _development_keyring(Path(instance_path))
    if production and ring.development:
        raise ConfigError(
            "Refusing to start in production: the key ring is a development one; generate one with `keys-generate`"
        )
    return ring


def init_app(app: Flask) -> None:
    """Load the key ring once at start, so a bad or missing ring stops the app before any request."""
    app.extensions[EXTENSION] = load_keyring(app.config, app.instance_path)


def keyring() -> KeyRing:
    """The current app's key ring; raises ``KeyRingUnavailable`` outside an app context."""
    if not has_app_context():
        raise KeyRingUnavailable("encrypted values need the app's key ring: use them inside an app context")
    ring = current_app.extensions.get(EXTENSION)
    if ring is None:
        raise KeyRingUnavailable("the key ring is not loaded: call portal.crypto.init_app(app)")
    return ring


def blind_index(kind: str, value: str) -> str:
    """``keyring().blind_index(kind, value)``; ``value`` must already be normalised."""
    return keyring().blind_index(kind, value)
