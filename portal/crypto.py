"""Application-level encryption at rest: a key ring, encrypted column types, blind indexes, rotation.

Why in the application rather than the database: a database dump, a backup, a replica or a DBA's
query console must not reveal who is in a supported family. Values are encrypted with AES-256-GCM
before they reach the database, with keys that live outside it (a key ring file, normally put there
by a secrets manager) and never in the repository.

Tokens look like ``v1.<kid>.<base64url(nonce || ciphertext+tag)>``:

- ``v1`` lets the format change later without guessing;
- ``kid`` names the data key, so keys can be rotated while old values stay readable;
- the nonce is 96 random bits per value, so equal plaintexts give different tokens;
- the *context* (for example ``"person.nhs_number"``) is authenticated as associated data, so a token
  copied into another column (or another table) fails to decrypt instead of being accepted there.

Exact-match lookups (find a person by NHS number) cannot use the ciphertext, so a separate
*blind index* column stores ``HMAC-SHA256(index_key, kind || value)``. The index key is separate from
the data keys and is not rotated with them: rotating a data key never changes a blind index.
Callers must normalise a value before indexing it (strip spaces, upper-case a UPN, and so on) and
must normalise the same way when searching, or equal values will not match.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, current_app, has_app_context
from sqlalchemy import Column, MetaData, Table, Text, and_, not_, select, tuple_, type_coerce, update
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from portal.errors import ConfigError

log = logging.getLogger(__name__)

TOKEN_VERSION = "v1"  # noqa: S105 - the token format version, not a secret
KEY_BYTES = 32  # AES-256 and a 256-bit HMAC key
NONCE_BYTES = 12  # 96 bits, the size GCM is designed for
TAG_BYTES = 16
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,16}$")  # no dots: the token uses them as separators
KIND_PATTERN = re.compile(r"^[a-z0-9_.:-]{1,64}$")
EXTENSION = "portal_keyring"
DEV_KEYRING_NAME = "keyring.json"
_FILE_FIELDS = {"active", "keys", "index_key", "development"}
_INDEX_DOMAIN = b"portal-blind-index-v1\x00"


class DecryptionError(Exception):
    """A stored token could not be decrypted: unknown key id, wrong context, tampering or a bad format.

    Raised instead of returning anything, so a damaged or misplaced value is never shown as data.
    The message never contains the token or the plaintext.
    """


class KeyRingUnavailable(RuntimeError):
    """Encrypted columns were used outside a Flask app context (or before ``init_app``).

    Failing closed: without the key ring there is no way to encrypt, and plaintext is never stored.
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
        aad = _aad(context)
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aead[self._active].encrypt(nonce, plaintext.encode("utf-8"), aad)
        return f"{TOKEN_VERSION}.{self._active}.{_b64url(nonce + sealed)}"

    def decrypt(self, token: str, context: str) -> str:
        """Decrypt a token made by ``encrypt`` with the same ``context``.

        Raises:
            DecryptionError: unknown key id, a different context, tampering or a malformed token.
        """
        aad = _aad(context)
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
def _aad(context: str) -> bytes:
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


# -- loading ------------------------------------------------------------------------------------


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


# -- column types -------------------------------------------------------------------------------


class _EncryptedComparator(TypeDecorator.Comparator[Any], Text.Comparator[Any]):
    """Refuse SQL comparisons on ciphertext: they would compare against a fresh random token and
    silently match nothing. Only ``IS NULL`` / ``IS NOT NULL`` make sense; search a blind index."""

    def operate(self, op: Any, *other: Any, **kwargs: Any) -> Any:
        from sqlalchemy.sql import operators

        null_check = op in (operators.is_, operators.is_not) or (
            op in (operators.eq, operators.ne) and len(other) == 1 and other[0] is None
        )
        if not null_check:
            raise TypeError(
                "encrypted columns cannot be compared or searched in SQL (every token is different); "
                "store and search a blind index instead"
            )
        return super().operate(op, *other, **kwargs)


class EncryptedText(TypeDecorator[str]):
    """A ``str`` column stored as an encrypted token (``TEXT``); ``None`` stays ``NULL``.

    ``context`` must be unique to the column, conventionally ``"table.column"``, and must never change
    once data is stored (it is authenticated with every value).
    """

    impl = Text
    cache_ok = True
    comparator_factory = _EncryptedComparator

    def __init__(self, context: str) -> None:
        _aad(context)  # validate now, when the model is defined, not at first write
        super().__init__()
        self.context = context

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(f"{self.context} holds text, not {type(value).__name__}")
        return keyring().encrypt(value, self.context)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return keyring().decrypt(value, self.context)

    def decode(self, ring: KeyRing, value: str | None) -> str | None:
        """What ``process_result_value`` returns, with the ring given: for code that selects the raw
        tokens of many rows (``raw``) and decrypts them with one look-up of the ring."""
        return None if value is None else ring.decrypt(value, self.context)

    def process_literal_param(self, value: Any, dialect: Dialect) -> str:
        raise TypeError("encrypted values are never rendered into SQL text")

    def __repr__(self) -> str:  # Alembic autogenerate renders types by repr; keep the context
        return f"{type(self).__name__}({self.context!r})"

    @property
    def python_type(self) -> type:
        return str


class EncryptedDate(TypeDecorator[dt.date]):
    """A ``datetime.date`` column (a date of birth) stored as an encrypted ISO date (``TEXT``)."""

    impl = Text
    cache_ok = True
    comparator_factory = _EncryptedComparator

    def __init__(self, context: str) -> None:
        _aad(context)
        super().__init__()
        self.context = context

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        # a datetime is a date too, but its time (and zone) would be lost or leak; refuse it
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            raise TypeError(f"{self.context} holds a datetime.date, not {type(value).__name__}")
        return keyring().encrypt(value.isoformat(), self.context)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.date | None:
        return self.decode(keyring(), value)

    def decode(self, ring: KeyRing, value: str | None) -> dt.date | None:
        """See ``EncryptedText.decode``."""
        if value is None:
            return None
        plain = ring.decrypt(value, self.context)
        try:
            return dt.date.fromisoformat(plain)
        except ValueError:
            raise DecryptionError(f"{self.context} did not decrypt to an ISO date") from None

    def process_literal_param(self, value: Any, dialect: Dialect) -> str:
        raise TypeError("encrypted values are never rendered into SQL text")

    def __repr__(self) -> str:  # Alembic autogenerate renders types by repr; keep the context
        return f"{type(self).__name__}({self.context!r})"

    @property
    def python_type(self) -> type:
        return dt.date


ENCRYPTED_TYPES = (EncryptedText, EncryptedDate)


def raw(column: Column[Any]) -> Any:
    """The column's stored token, not decrypted by the column type (decrypt it with ``.type.decode``).

    List pages decrypt a few hundred values: one look-up of the key ring for all of them, instead of
    one per value inside SQLAlchemy's result processing, halved the cost of loading a page of people.
    """
    return type_coerce(column, Text).label(column.key)


# -- re-encryption ------------------------------------------------------------------------------


def encrypted_columns(metadata: MetaData) -> Iterator[tuple[Table, Column[Any]]]:
    """Every (table, column) whose type is an encrypted type, in dependency order."""
    for table in metadata.sorted_tables:
        for col in table.columns:
            if isinstance(col.type, ENCRYPTED_TYPES):
                yield table, col


def is_immutable(table: Table) -> bool:
    """Tables marked ``info={"immutable": True}`` (the access log) are never updated, not even to
    re-encrypt: their rows are hash-chained and the database refuses UPDATE on them. Their old keys
    must therefore stay in the key ring for as long as those rows are kept."""
    return bool(table.info.get("immutable"))


def reencrypt_all(
    connection_or_session: Connection | Session,
    metadata: MetaData,
    ring: KeyRing,
    batch_size: int = 500,
) -> dict[str, int]:
    """Re-encrypt every stored value not under the active key; returns counts by ``table.column``.

    Works on the raw stored tokens through SQLAlchemy Core with plain ``Text`` columns, so the
    column types' own encryption is not applied a second time. Each batch is its own transaction
    (committed before the next), so a long run holds no long locks and can be interrupted and
    re-run: it is idempotent, as rows already under the active key are not selected again.
    Each UPDATE also requires the stored token to be unchanged, so a value the app rewrote meanwhile
    is never overwritten with an older one. A value that fails to decrypt stops the run with an error
    naming the table, column and row, rather than being skipped silently.

    Immutable tables (``info={"immutable": True}``) are skipped: see ``is_immutable``.
    Blind indexes are untouched: they use the separate index key, which data-key rotation keeps.

    The connection or session must not be inside a transaction when passed in (its batches are
    committed, and committing someone else's pending work would be a surprise).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if connection_or_session.in_transaction():
        raise RuntimeError("reencrypt_all commits in batches: pass a connection or session with no open transaction")
    counts: dict[str, int] = {}
    for table, col in encrypted_columns(metadata):
        if is_immutable(table):
            continue
        name = f"{table.fullname}.{col.name}"
        counts[name] = _reencrypt_column(connection_or_session, table, col, ring, batch_size)
    return counts


def _reencrypt_column(
    conn: Connection | Session, table: Table, col: Column[Any], ring: KeyRing, batch_size: int
) -> int:
    context = col.type.context  # type: ignore[attr-defined]
    pk_cols = list(table.primary_key.columns)
    if any(isinstance(pk.type, ENCRYPTED_TYPES) for pk in pk_cols):
        raise ValueError(f"{table.fullname}: an encrypted primary key cannot be re-encrypted (or looked up)")
    raw = sql_table(
        table.name,
        sql_column(col.name, Text),
        *(sql_column(pk.name, pk.type) for pk in pk_cols),
        schema=table.schema,
    )
    value = raw.c[col.name]
    keys = [raw.c[pk.name] for pk in pk_cols]
    stale = and_(value.is_not(None), not_(value.startswith(f"{TOKEN_VERSION}.{ring.active_key_id}.", autoescape=True)))
    total = 0
    last: tuple[Any, ...] | None = None
    while True:
        query = select(value, *keys).where(stale)
        if keys:
            if last is not None:
                query = query.where(tuple_(*keys) > tuple_(*last) if len(keys) > 1 else keys[0] > last[0])
            query = query.order_by(*keys)
        rows = conn.execute(query.limit(batch_size)).all()
        if not rows:
            break
        changed = 0
        try:
            for row in rows:
                token, ids = row[0], tuple(row[1:])
                try:
                    fresh = ring.encrypt(ring.decrypt(token, context), context)
                except DecryptionError as exc:
                    where = f" row {dict(zip([pk.name for pk in pk_cols], ids, strict=True))}" if keys else ""
                    raise DecryptionError(f"{table.fullname}.{col.name}{where}: {exc}") from None
                match = [value == token, *(k == i for k, i in zip(keys, ids, strict=True))]
                result = conn.execute(update(raw).where(*match).values({col.name: fresh}))
                changed += result.rowcount or 0
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        total += changed
        if keys:
            last = tuple(rows[-1][1:])
        elif changed == 0:
            break  # without a key to page by, stop rather than loop if nothing could be updated
    return total


def _main() -> None:
    """``python -m portal.crypto``: print a new production key ring without building the app, which
    in production cannot start until it has a key ring (the ``keys-generate`` command needs one)."""
    print(json.dumps(KeyRing.generate().to_json_dict(), indent=2))


if __name__ == "__main__":
    _main()
