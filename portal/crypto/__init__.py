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

The package's parts: ``ring`` (the key ring and the token format: no Flask, no files, no database),
``keyfiles`` (the app's ring: its file, the development ring, the refusals in production) and
``columns`` (the encrypted column types and re-encryption after a rotation). Import from
``portal.crypto`` itself; ``python -m portal.crypto`` prints a new production key ring.
"""

from portal.crypto.columns import (
    ENCRYPTED_TYPES,
    EncryptedDate,
    EncryptedText,
    encrypted_columns,
    is_immutable,
    raw,
    reencrypt_all,
)
from portal.crypto.keyfiles import (
    DEV_KEYRING_NAME,
    EXTENSION,
    KeyRingUnavailable,
    blind_index,
    init_app,
    keyring,
    load_keyring,
    read_keyring_file,
    write_keyring_file,
)
from portal.crypto.ring import (
    KEY_BYTES,
    KEY_ID_PATTERN,
    KIND_PATTERN,
    NONCE_BYTES,
    TAG_BYTES,
    TOKEN_VERSION,
    DecryptionError,
    KeyRing,
    next_key_id,
)

__all__ = [
    "DEV_KEYRING_NAME",
    "ENCRYPTED_TYPES",
    "EXTENSION",
    "KEY_BYTES",
    "KEY_ID_PATTERN",
    "KIND_PATTERN",
    "NONCE_BYTES",
    "TAG_BYTES",
    "TOKEN_VERSION",
    "DecryptionError",
    "EncryptedDate",
    "EncryptedText",
    "KeyRing",
    "KeyRingUnavailable",
    "blind_index",
    "encrypted_columns",
    "init_app",
    "is_immutable",
    "keyring",
    "load_keyring",
    "next_key_id",
    "raw",
    "read_keyring_file",
    "reencrypt_all",
    "write_keyring_file",
]
