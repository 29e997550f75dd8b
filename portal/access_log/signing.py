"""Checkpoint keys: the Ed25519 key that seals the chain every N entries, and the keys trusted to check it.

Why signatures at all: anyone who can write to the database can recompute every hash after a change,
so the hash chain alone only proves the log is self-consistent. A checkpoint signed with a key the
database never holds pins the chain up to that entry; rewriting it would need the key.

- The private key comes from a PEM file named by ``PORTAL_AUDIT_SIGNING_KEY_FILE``. In development and
  test it is generated into the instance folder (mode 0600) on first use, with a marker line that the
  production configuration check refuses.
- Verification trusts only public keys from configuration: the current key's public half and any
  older public keys listed in ``PORTAL_AUDIT_TRUSTED_KEYS_FILE`` (concatenated PEM blocks), so a
  rotated-out key still checks the checkpoints it signed. The ``key_id`` stored with a checkpoint is
  only a hint for choosing among them.

Signed message (the canonical checkpoint string), ASCII::

    portal-access-log-checkpoint:v1:<seq in decimal>:<hash, 64 lowercase hex digits>
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import Flask, current_app

from portal.errors import DEV_SECRET_MARKER, ConfigError

EXTENSION = "audit_keys"
#: the first line of a generated development key file; production refuses a key file that has it
DEV_KEY_HEADER = f"# {DEV_SECRET_MARKER}audit-signing-key: generated for development; never use in production\n"
DEFAULT_INTERVAL = 1000


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short, stable name for a public key: 16 hex digits of SHA-256 over its 32 raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def checkpoint_message(seq: int, entry_hash: str) -> bytes:
    return f"portal-access-log-checkpoint:v1:{int(seq)}:{entry_hash}".encode("ascii")


def sign_checkpoint(private_key: Ed25519PrivateKey, seq: int, entry_hash: str) -> str:
    return base64.b64encode(private_key.sign(checkpoint_message(seq, entry_hash))).decode("ascii")


def checkpoint_signature_valid(public_key: Ed25519PublicKey, seq: int, entry_hash: str, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature, validate=True), checkpoint_message(seq, entry_hash))
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def private_pem(private_key: Ed25519PrivateKey) -> str:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def public_pem(public_key: Ed25519PublicKey) -> str:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(
        "ascii"
    )


def _pem_blocks(text: str, kind: str) -> list[str]:
    """Split text into its ``-----BEGIN <kind>-----`` blocks, ignoring comment lines around them."""
    begin, end = f"-----BEGIN {kind}-----", f"-----END {kind}-----"
    blocks = []
    rest = text
    while begin in rest:
        start = rest.index(begin)
        stop = rest.find(end, start)
        if stop < 0:
            break
        blocks.append(rest[start : stop + len(end)] + "\n")
        rest = rest[stop + len(end) :]
    return blocks


def is_development_key(text: str) -> bool:
    return DEV_SECRET_MARKER in text.split("-----BEGIN", 1)[0]


def parse_private_key(text: str, source: str) -> Ed25519PrivateKey:
    blocks = _pem_blocks(text, "PRIVATE KEY")
    if len(blocks) != 1:
        raise ConfigError(f"{source} must hold exactly one PEM private key (see `flask audit-keygen`)")
    try:
        key = serialization.load_pem_private_key(blocks[0].encode("ascii"), password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source} is not a readable unencrypted PEM private key: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{source} must hold an Ed25519 key, not {type(key).__name__}")
    return key


def read_private_key_file(path: str | Path) -> tuple[Ed25519PrivateKey, bool]:
    """Load the signing key; returns (key, whether it is a generated development key)."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the access-log signing key {path}: {exc}") from exc
    return parse_private_key(text, str(path)), is_development_key(text)


def read_public_keys_file(path: str | Path) -> list[Ed25519PublicKey]:
    """Load older trusted public keys: concatenated ``PUBLIC KEY`` PEM blocks, comments allowed."""
    try:
        text = Path(path).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the trusted access-log keys file {path}: {exc}") from exc
    keys = []
    for block in _pem_blocks(text, "PUBLIC KEY"):
        try:
            key = serialization.load_pem_public_key(block.encode("ascii"))
        except ValueError as exc:
            raise ConfigError(f"{path} holds an unreadable public key: {exc}") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(f"{path} holds a {type(key).__name__}; only Ed25519 keys are trusted")
        keys.append(key)
    if not keys:
        raise ConfigError(f"{path} holds no PEM public keys")
    return keys


def create_development_key(path: Path) -> None:
    """Write a new development key to ``path`` (mode 0600) unless one is there already.

    Several processes may start at once: the key is written to a private temporary file and linked
    into place, which fails if another process got there first, so every process ends up on one key.
    """
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(DEV_KEY_HEADER + private_pem(Ed25519PrivateKey.generate()))
        with contextlib.suppress(FileExistsError):  # another process's key won: use that one
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def keyset(keys: Iterable[Ed25519PublicKey]) -> dict[str, Ed25519PublicKey]:
    """Index public keys by key id, for ``chain.verify``."""
    return {key_id(k): k for k in keys}


@dataclass(frozen=True)
class Sealer:
    """What ``chain.append`` needs to sign checkpoints: the key and how often."""

    private_key: Ed25519PrivateKey
    interval: int = DEFAULT_INTERVAL

    def __post_init__(self) -> None:
        if self.interval < 1:
            raise ValueError("the checkpoint interval must be at least 1")

    @property
    def key_id(self) -> str:
        return key_id(self.private_key.public_key())

    def due(self, seq: int) -> bool:
        return seq % self.interval == 0

    def sign(self, seq: int, entry_hash: str) -> str:
        return sign_checkpoint(self.private_key, seq, entry_hash)


@dataclass(frozen=True)
class AuditKeys:
    sealer: Sealer
    #: key id -> public key: the current key's public half and the configured older ones
    trusted: Mapping[str, Ed25519PublicKey]


def init_app(app: Flask) -> None:
    """Load (or, outside production, create) the signing key and the trusted keys at start-up.

    Loading at start-up rather than at the first append means a missing or wrong production key stops
    the app from starting, instead of failing the first request that touches personal data.
    """
    path = str(app.config.get("AUDIT_SIGNING_KEY_FILE") or "")
    production = app.config.get("PORTAL_ENV") == "production"
    if not path:
        raise ConfigError("PORTAL_AUDIT_SIGNING_KEY_FILE must name the access-log signing key (PEM)")
    if not production:
        create_development_key(Path(path))
    private_key, development = read_private_key_file(path)
    if production and development:
        raise ConfigError("PORTAL_AUDIT_SIGNING_KEY_FILE is a development key")
    interval = int(app.config.get("AUDIT_CHECKPOINT_INTERVAL") or DEFAULT_INTERVAL)
    if interval < 1:
        raise ConfigError("PORTAL_AUDIT_CHECKPOINT_INTERVAL must be at least 1")
    trusted = [private_key.public_key()]
    if app.config.get("AUDIT_TRUSTED_KEYS_FILE"):
        trusted += read_public_keys_file(str(app.config["AUDIT_TRUSTED_KEYS_FILE"]))
    app.extensions[EXTENSION] = AuditKeys(Sealer(private_key, interval), keyset(trusted))


def _keys(app: Flask | None) -> AuditKeys:
    app = app or current_app
    keys = app.extensions.get(EXTENSION)
    if keys is None:
        raise RuntimeError("the access-log keys are not loaded: call portal.access_log.init_app(app)")
    return keys


def sealer(app: Flask | None = None) -> Sealer:
    """The app's checkpoint sealer (default: the current app's)."""
    return _keys(app).sealer


def trusted_keys(app: Flask | None = None) -> Mapping[str, Ed25519PublicKey]:
    """The public keys verification trusts (default: the current app's)."""
    return _keys(app).trusted


def new_key_text() -> str:
    """A new production signing key as the text of a key file: the private key, and its public key for
    the trusted keys file (only the PRIVATE KEY block is read from a key file).

    Run it without an app (production will not start until the key exists) as
    ``python -c "from portal.access_log.signing import main; main()" > key.pem``, or as ``flask audit-keygen``.
    """
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    return (
        f"# Access-log checkpoint signing key, key id {key_id(public)}. Keep this file outside the repository\n"
        "# and the database (mode 0600) and point PORTAL_AUDIT_SIGNING_KEY_FILE at it. After a rotation, copy\n"
        "# the PUBLIC KEY block into PORTAL_AUDIT_TRUSTED_KEYS_FILE so older checkpoints still verify.\n"
        f"{private_pem(key)}{public_pem(public)}"
    )


def main() -> None:
    print(new_key_text(), end="")
