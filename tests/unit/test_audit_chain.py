"""The access log's canonical encoding, hashing, entry validation and checkpoint keys: no database."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from portal.access_log import chain, signing
from portal.access_log.events import CATALOGUE, EventType
from portal.config import ConfigError, load_config

PERSON = "11111111-1111-4111-8111-111111111111"
FAMILY = "22222222-2222-4222-8222-222222222222"
USER = "33333333-3333-4333-8333-333333333333"
ORG = "44444444-4444-4444-8444-444444444444"
AT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def entry(**overrides) -> chain.NewEntry:
    values = {
        "event": EventType.FLAG_VIEWED,
        "outcome": "permitted",
        "occurred_at": AT,
        "actor_user_id": USER,
        "actor_organisation_id": ORG,
        "actor_roles": ["practitioner"],
        "purpose": "safeguarding",
        "categories": ["health", "education"],
        "reasons": ["role", "relationship"],
        "protocol_refs": ["SP-1"],
        "notice_refs": ["FPN-1@v2"],
        "request_id": "req-1",
        "ip": "192.0.2.1",
        "user_agent": "Mozilla/5.0",
        "detail": {"flag_id": "f-9"},
        "subjects": [chain.SubjectRef(person_id=PERSON, family_id=FAMILY, tier=2, categories=["health"])],
    }
    values.update(overrides)
    return chain.NewEntry(**values)


def test_the_worked_example_encodes_and_hashes_as_documented():
    """An auditor's known answer: this exact string and digest, or the format has changed."""
    built = entry()
    payload = f"7\x1f{built.body}"
    assert payload == (
        "7\x1f1767323045678901\x1fflag_viewed\x1fpermitted\x1f" + USER + "\x1f" + ORG + "\x1fpractitioner"
        "\x1fsafeguarding\x1feducation,health\x1frole,relationship\x1fSP-1\x1fFPN-1@v2\x1freq-1\x1f192.0.2.1"
        '\x1fMozilla/5.0\x1f{"flag_id":"f-9"}\x1f1'
        "\x1e0\x1f" + PERSON + "\x1f" + FAMILY + "\x1f2\x1fhealth"
    )
    expected = hashlib.sha256(("0" * 64 + payload).encode("utf-8")).hexdigest()
    assert chain.chain_hash(chain.GENESIS, payload) == expected


def test_canonical_payload_from_columns_matches_the_prepared_entry():
    built = entry()
    from_columns = chain.canonical_payload({"seq": 7, **built.row}, built.subject_rows)
    assert from_columns == f"7\x1f{built.body}"
    # as stored: the entry's columns, then its one subject row's records, which are the payload's tail
    assert chain.canonical_payload({"seq": 7, **built.row}) + built.records == from_columns
    assert built.records == "\x1e0\x1f" + PERSON + "\x1f" + FAMILY + "\x1f2\x1fhealth"
    assert entry(event=EventType.SIGNED_IN, subjects=[], detail={"provider": "dev"}).records == ""


def test_records_split_back_into_the_subject_rows():
    subjects = [
        chain.SubjectRef(person_id=PERSON, family_id=FAMILY, tier=2, categories=["health", "education"]),
        chain.SubjectRef(family_id=FAMILY, tier=0),
        chain.SubjectRef(person_id=PERSON, tier=1),
        *[chain.SubjectRef(person_id=PERSON, family_id=FAMILY, tier=1)] * 10,  # ordinals past 9
    ]
    built = entry(subjects=subjects)
    parsed = chain.parse_records(built.records)
    assert parsed == built.subject_rows
    assert parsed[1] == {"ordinal": 1, "person_id": None, "family_id": FAMILY, "tier": 0, "categories": ""}
    assert parsed[12]["ordinal"] == 12
    assert chain.encode_records(parsed) == built.records
    assert chain.parse_records("") == () and chain.parse_records(None) == ()


@pytest.mark.parametrize(
    "records",
    [
        "0\x1fp\x1ff\x1f1\x1fhealth",  # no leading RS
        "\x1e0\x1fp\x1ff\x1f1",  # a field short
        "\x1e0\x1fp\x1ff\x1f1\x1fhealth\x1fextra",  # a field too many
        "\x1ex\x1fp\x1ff\x1f1\x1fhealth",  # ordinal not a number
        "\x1e01\x1fp\x1ff\x1f1\x1fhealth",  # not canonical
        "\x1e0\x1fp\x1ff\x1f-1\x1fhealth",  # tier not a whole number
        "\x1e0\x1fp\x1ff\x1f1\x1fhealth\x1e",  # an empty record
    ],
)
def test_malformed_records_are_refused(records):
    with pytest.raises(ValueError, match="subject record"):
        chain.parse_records(records)


def test_encoding_is_deterministic():
    assert entry().body == entry().body
    assert entry(actor_roles=["dpo", "coordinator"]).row["actor_roles"] == "coordinator,dpo"


def test_subject_order_changes_the_hash():
    first = chain.SubjectRef(person_id=PERSON, family_id=FAMILY, tier=1)
    second = chain.SubjectRef(person_id=FAMILY, family_id=PERSON, tier=1)
    one = entry(subjects=[first, second])
    other = entry(subjects=[second, first])
    assert one.body != other.body
    assert chain.chain_hash(chain.GENESIS, one.body) != chain.chain_hash(chain.GENESIS, other.body)


def test_every_field_is_in_the_hash():
    base = chain.chain_hash(chain.GENESIS, entry().body)
    changes = {
        "outcome": "denied",
        "actor_user_id": None,
        "purpose": "triage",
        "reasons": ["relationship", "role"],
        "ip": "192.0.2.2",
        "detail": {"flag_id": "f-8"},
        "occurred_at": AT + timedelta(microseconds=1),
    }
    for field, value in changes.items():
        assert chain.chain_hash(chain.GENESIS, entry(**{field: value}).body) != base, field


def test_times_are_exact_microseconds_in_utc():
    assert chain.to_us(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    plus_one = datetime(2026, 6, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    assert chain.to_us(plus_one) == chain.to_us(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    assert chain.from_us(chain.to_us(AT)) == AT


def test_control_characters_are_stripped_from_free_text_and_the_user_agent_is_cut_short():
    built = entry(user_agent="evil\x1f\x1e\n\x00agent" + "x" * 400, ip="192.0.2.1\r\n")
    assert built.row["user_agent"].startswith("evilagent")
    assert len(built.row["user_agent"]) == chain.LIMITS["user_agent"]
    assert built.row["ip"] == "192.0.2.1"


def test_detail_is_canonical_ascii_json():
    built = entry(detail={"zeta": "é\x1f", "alpha": 3, "flag_id": "f"})
    assert built.row["detail"] == '{"alpha":"3","flag_id":"f","zeta":"\\u00e9\\u001f"}'


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"event": "flag_peeked"}, "unknown access-log event"),
        ({"outcome": "maybe"}, "outcome must be one of"),
        ({"detail": {}, "event": EventType.NOMINATION_SUBMITTED}, "need detail nomination_id, route"),
        ({"subjects": []}, "must name the people or families"),
        ({"occurred_at": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"categories": ["health,education"]}, "without commas"),
        ({"reasons": ["ok\x1fbad"]}, "control characters"),
        ({"actor_roles": "dpo"}, "sequence of codes"),
        ({"actor_user_id": "not-a-uuid"}, "actor_user_id must be a UUID"),
        ({"subjects": [chain.SubjectRef()]}, "needs a person_id or a family_id"),
        ({"subjects": [chain.SubjectRef(person_id=PERSON, tier=-1)]}, "tier"),
        ({"detail": {"flag_id": "f", "Bad Key": "x"}}, "snake_case"),
        ({"detail": {"flag_id": "f", "blob": "x" * 5000}}, "longer than"),
        ({"purpose": "p" * 65}, "longer than 64"),
    ],
)
def test_bad_entries_are_refused_when_built(overrides, message):
    with pytest.raises(ValueError, match=message):
        entry(**overrides)


def test_every_event_type_is_in_the_catalogue_and_named_noun_verbed():
    assert set(CATALOGUE) == set(EventType)
    for event in EventType:
        assert event.value == event.name.lower()
        assert any(word.endswith("ED") for word in event.name.split("_")), event.name


def test_ids_are_normalised():
    built = entry(actor_user_id=USER.upper(), actor_organisation_id="")
    assert built.row["actor_user_id"] == USER
    assert built.row["actor_organisation_id"] is None


# -- checkpoint keys ---------------------------------------------------------------------------------


def test_checkpoint_signatures_verify_with_the_public_key_only():
    key = Ed25519PrivateKey.generate()
    signature = signing.sign_checkpoint(key, 1000, "ab" * 32)
    assert signing.checkpoint_message(1000, "ab" * 32) == b"portal-access-log-checkpoint:v1:1000:" + b"ab" * 32
    assert signing.checkpoint_signature_valid(key.public_key(), 1000, "ab" * 32, signature)
    assert not signing.checkpoint_signature_valid(key.public_key(), 1001, "ab" * 32, signature)
    assert not signing.checkpoint_signature_valid(key.public_key(), 1000, "cd" * 32, signature)
    assert not signing.checkpoint_signature_valid(Ed25519PrivateKey.generate().public_key(), 1000, "ab" * 32, signature)
    assert not signing.checkpoint_signature_valid(key.public_key(), 1000, "ab" * 32, "not base64!")


def test_sealer_signs_every_interval():
    sealer = signing.Sealer(Ed25519PrivateKey.generate(), interval=3)
    assert [seq for seq in range(1, 10) if sealer.due(seq)] == [3, 6, 9]
    with pytest.raises(ValueError):
        signing.Sealer(Ed25519PrivateKey.generate(), interval=0)


def test_development_key_is_created_once_private_and_marked(tmp_path: Path):
    path = tmp_path / "instance" / "audit_signing_key.pem"
    signing.create_development_key(path)
    first = path.read_text()
    signing.create_development_key(path)
    assert path.read_text() == first
    assert path.stat().st_mode & 0o077 == 0
    key, development = signing.read_private_key_file(path)
    assert development and isinstance(key, Ed25519PrivateKey)
    assert not list(path.parent.glob(".*.tmp"))


def test_trusted_keys_file_holds_several_public_keys(tmp_path: Path):
    keys = [Ed25519PrivateKey.generate().public_key() for _ in range(2)]
    path = tmp_path / "trusted.pem"
    path.write_text("# rotated out 2026-01\n" + "".join(signing.public_pem(k) for k in keys))
    loaded = signing.keyset(signing.read_public_keys_file(path))
    assert set(loaded) == {signing.key_id(k) for k in keys}


def test_a_key_file_that_is_not_ed25519_is_refused(tmp_path: Path):
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1())
    from cryptography.hazmat.primitives import serialization

    path = tmp_path / "ec.pem"
    path.write_bytes(
        other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    with pytest.raises(ConfigError, match="Ed25519"):
        signing.read_private_key_file(path)


PRODUCTION = {
    "PORTAL_ENV": "production",
    "PORTAL_SECRET_KEY": "x" * 48,
    "PORTAL_DATABASE_URL": "postgresql+psycopg://portal@db.internal/portal",
    "PORTAL_BASE_URL": "https://portal.example-council.gov.uk",
    "PORTAL_IDP_CONFIG": "/etc/portal/providers.yaml",
    "PORTAL_KEYRING_FILE": "/etc/portal/keyring.json",
    "PORTAL_DEV_IDP": "0",
}


def test_production_requires_an_audit_signing_key(tmp_path: Path):
    with pytest.raises(ConfigError, match="PORTAL_AUDIT_SIGNING_KEY_FILE must name"):
        load_config(tmp_path, PRODUCTION)


def test_production_refuses_the_development_audit_key(tmp_path: Path):
    path = tmp_path / "audit_signing_key.pem"
    signing.create_development_key(path)
    with pytest.raises(ConfigError, match="PORTAL_AUDIT_SIGNING_KEY_FILE is a development key"):
        load_config(tmp_path, {**PRODUCTION, "PORTAL_AUDIT_SIGNING_KEY_FILE": str(path)})


def test_production_accepts_a_generated_production_key(tmp_path: Path):
    path = tmp_path / "audit.pem"
    path.write_text(signing.private_pem(Ed25519PrivateKey.generate()))
    config = load_config(tmp_path, {**PRODUCTION, "PORTAL_AUDIT_SIGNING_KEY_FILE": str(path)})
    assert config["AUDIT_SIGNING_KEY_FILE"] == str(path)
    assert config["AUDIT_CHECKPOINT_INTERVAL"] == 1000


def test_development_puts_the_audit_key_in_the_instance_folder(tmp_path: Path):
    config = load_config(tmp_path, {"PORTAL_AUDIT_CHECKPOINT_INTERVAL": "50"})
    assert config["AUDIT_SIGNING_KEY_FILE"] == str(tmp_path / "audit_signing_key.pem")
    assert config["AUDIT_CHECKPOINT_INTERVAL"] == 50
