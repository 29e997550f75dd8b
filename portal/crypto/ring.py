"""The key ring: data keys by id and a separate blind-index key, and the token format they make.

Tokens look like ``v1.<kid>.<base64url(nonce || ciphertext+tag)>`` (see ``portal.crypto`` for why), and
blind indexes are ``HMAC-SHA256(index_key, domain || kind || NUL || value)``. Nothing here knows about
Flask, files or columns, so the ring can be built, rotated and checked on its own.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.errors import ConfigError

TOKEN_VERSION = "v1"  # noqa: S105 - the token format version, not a secret
KEY_BYTES = 32  # AES-256 and a 256-bit HMAC key
NONCE_BYTES = 12  # 96 bits, the size GCM is designed for
TAG_BYTES = 16
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,16}$")  # no dots: the token uses them as separators
KIND_PATTERN = re.compile(r"^[a-z0-9_.:-]{1,64}$")
_FILE_FIELDS = {"active", "keys", "index_key", "development"}
_INDEX_DOMAIN = b"portal-blind-index-v1\x00"


class DecryptionError(Exception):
    """A stored token could not be decrypted: unknown key id, wrong context, tampering or a bad format.

    Raised instead of returning anything, so a damaged or misplaced value is never shown as data.
    The message never contains the token or the plaintext.
    """


class KeyRing:
    """Data keys by key id, the active key id, and a separate blind-index key.

    Immutable: rotation builds a new ``KeyRing`` (``with_new_key``) so a ring being used by a request
    never changes underneath it.
    """

    def __init__(
        self,
        keys: Mapping[str, bytes],
        active: str,
        index_key: bytes,
        *,
        development: bool = False,
        source: Path | None = None,
    ) -> None:
        if not keys:
            raise ConfigError("a key ring needs at least one data key")
        for kid, key in keys.items():
            if not isinstance(kid, str) or not KEY_ID_PATTERN.match(kid):
                raise ConfigError(f"key id {kid!r} must be 1-16 letters, digits, '-' or '_'")
            if not isinstance(key, bytes) or len(key) != KEY_BYTES:
                raise ConfigError(f"data key {kid!r} must be {KEY_BYTES} bytes")
        if active not in keys:
            raise ConfigError(f"the active key {active!r} is not one of the keys ({', '.join(sorted(keys))})")
        if not isinstance(index_key, bytes) or len(index_key) != KEY_BYTES:
            raise ConfigError(f"the blind-index key must be {KEY_BYTES} bytes")
        if any(hmac.compare_digest(index_key, key) for key in keys.values()):
            raise ConfigError("the blind-index key must differ from every data key")
        self._keys = dict(keys)
        self._aead = {kid: AESGCM(key) for kid, key in keys.items()}
        self._active = active
        self._index_key = index_key
        self.development = development
        self.source = source

    def __repr__(self) -> str:  # never show key material
        return f"<KeyRing active={self._active!r} keys={sorted(self._keys)!r} development={self.development}>"

    @property
    def active_key_id(self) -> str:
        return self._active

    @property
    def key_ids(self) -> list[str]:
        return sorted(self._keys)

    # -- encryption ---------------------------------------------------------------------------

    def encrypt(self, plaintext: str, context: str) -> str:
        """Encrypt ``plaintext`` under the active key, binding it to ``context``."""
        if not isinstance(plaintext, str):
            raise TypeError(f"only str values are encrypted, not {type(plaintext).__name__}")
        aad = associated_data(context)
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead[self._active].encrypt(nonce, plaintext.encode("utf-8"), aad)
        return f"{TOKEN_VERSION}.{self._active}.{_b64url(nonce + sealed)}"

    def decrypt(self, token: str, context: str) -> str:
        """Decrypt a token made by ``encrypt`` with the same ``context``.

        Raises:
            DecryptionError: unknown key id, a different context, tampering or a malformed token.
        """
        aad = associated_data(context)
        kid, blob = _split(token)
        aead = self._aead.get(kid)
        if aead is None:
            raise DecryptionError(f"unknown key id {kid!r} (is the key ring missing an old key?)")
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise DecryptionError("the encrypted value is truncated")
        try:
            plain = aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag:
            raise DecryptionError(
                f"the value under key {kid!r} failed authentication: tampered, or stored under another context"
            ) from None
        try:
            return plain.decode("utf-8")
        except UnicodeDecodeError:  # authenticated, so only possible if a writer bypassed encrypt()
            raise DecryptionError("the decrypted value is not UTF-8 text") from None

    def key_id_of(self, token: str) -> str:
        """The key id a token was encrypted under (checks the format, not the authenticity)."""
        return _split(token)[0]

    def blind_index(self, kind: str, normalised_value: str) -> str:
        """A deterministic keyed hash for exact-match lookups, as 64 hex characters.

        ``kind`` (for example ``"nhs_number"`` or ``"upn"``) separates domains, so the same digits as
        an NHS number and as something else never give the same index. The value must already be
        normalised by the caller, the same way when storing and when searching.
        """
        if not isinstance(kind, str) or not KIND_PATTERN.match(kind):
            raise ValueError(f"blind index kind {kind!r} must be 1-64 of a-z, 0-9, '_', '.', ':' or '-'")
        if not isinstance(normalised_value, str):
            raise TypeError("blind indexes are computed over normalised str values")
        message = _INDEX_DOMAIN + kind.encode("ascii") + b"\x00" + normalised_value.encode("utf-8")
        return hmac.new(self._index_key, message, hashlib.sha256).hexdigest()

    # -- rotation and serialisation -------------------------------------------------------------

    def with_new_key(self, key_id: str | None = None) -> KeyRing:
        """A new ring with a fresh random data key, made active; old keys stay for decryption."""
        kid = key_id or next_key_id(self._keys)
        if kid in self._keys:
            raise ConfigError(f"the key ring already has a key {kid!r}")
        keys = {**self._keys, kid: secrets.token_bytes(KEY_BYTES)}
        return KeyRing(keys, kid, self._index_key, development=self.development, source=self.source)

    def to_json_dict(self) -> dict[str, Any]:
        """The key ring file's content (secret: handle like a password)."""
        data: dict[str, Any] = {
            "active": self._active,
            "keys": {kid: base64.b64encode(key).decode("ascii") for kid, key in sorted(self._keys.items())},
            "index_key": base64.b64encode(self._index_key).decode("ascii"),
        }
        if self.development:
            data["development"] = True
        return data

    @classmethod
    def generate(cls, *, development: bool = False, key_id: str = "k1") -> KeyRing:
        """A new ring with one random data key and a random blind-index key."""
        return cls(
            {key_id: secrets.token_bytes(KEY_BYTES)},
            key_id,
            secrets.token_bytes(KEY_BYTES),
            development=development,
        )

    @classmethod
    def from_json_dict(cls, data: object, source: str = "the key ring") -> KeyRing:
        """Validate and load a key ring file's content; every problem is a ``ConfigError`` naming it."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: must be a JSON object")
        unknown = set(data) - _FILE_FIELDS
        if unknown:
            raise ConfigError(f"{source}: unknown field(s) {', '.join(sorted(unknown))}")
        active = data.get("active")
        if not isinstance(active, str) or not active:
            raise ConfigError(f"{source}: 'active' must name the active key id")
        raw_keys = data.get("keys")
        if not isinstance(raw_keys, dict) or not raw_keys:
            raise ConfigError(f"{source}: 'keys' must be an object of key id -> base64 key, with at least one key")
        if active not in raw_keys:
            raise ConfigError(f"{source}: the active key {active!r} is missing from 'keys'")
        keys = {str(kid): _decode_key(value, f"{source}: key {kid!r}") for kid, value in raw_keys.items()}
        if "index_key" not in data:
            raise ConfigError(f"{source}: 'index_key' (the blind-index key) is missing")
        index_key = _decode_key(data["index_key"], f"{source}: 'index_key'")
        development = data.get("development", False)
        if not isinstance(development, bool):
            raise ConfigError(f"{source}: 'development' must be true or false")
        try:
            return cls(keys, active, index_key, development=development)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None


def next_key_id(existing: Mapping[str, object] | list[str]) -> str:
    """``k<n+1>`` after the highest ``k<n>`` id, so ids stay short (they are in every token)."""
    numbers = [int(kid[1:]) for kid in existing if re.fullmatch(r"k\d{1,8}", kid)]
    return f"k{max(numbers, default=0) + 1}"


@functools.lru_cache(maxsize=512)
def associated_data(context: str) -> bytes:
    """What a value is bound to: the format version and the column's context, so a token moved to
    another column fails to decrypt there."""
    if not isinstance(context, str) or not context:
        raise ValueError("an encryption context (such as 'person.nhs_number') is required")
    return f"portal:{TOKEN_VERSION}:".encode("ascii") + context.encode("utf-8")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_TOKEN_BODY = re.compile(r"[A-Za-z0-9_-]+")
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")  # bytes.translate: str.translate is ~10x slower


def _split(token: str) -> tuple[str, bytes]:
    if not isinstance(token, str):
        raise DecryptionError("the stored value is not a text token")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_VERSION:
        raise DecryptionError(f"the stored value is not a {TOKEN_VERSION} encrypted token")
    kid, body = parts[1], parts[2]
    if not KEY_ID_PATTERN.match(kid) or not _TOKEN_BODY.fullmatch(body):
        raise DecryptionError("the encrypted token is malformed")
    try:
        # the body is checked against the URL-safe alphabet above, so the plain decoder suffices
        blob = binascii.a2b_base64(body.encode("ascii").translate(_FROM_URLSAFE) + b"=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise DecryptionError("the encrypted token is malformed") from None
    return kid, blob


def _decode_key(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise ConfigError(f"{what} must be a base64 string")
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{what} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{what} must decode to {KEY_BYTES} bytes, not {len(key)}")
    return key
