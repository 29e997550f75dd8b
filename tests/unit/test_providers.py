"""The identity-provider configuration is validated strictly, with messages that say where."""

from __future__ import annotations

import copy

import pytest

from portal.auth.providers import ProviderConfigError, load_providers, parse_providers
from portal.organisations.models import CodeScheme

ENV = {"CIS2_SECRET": "s3cret", "ENTRA_SECRET": "s3cret2"}
DOC = {
    "providers": [
        {
            "key": "nhs-cis2",
            "name": "NHS smartcard (CIS2)",
            "issuer": "https://am.nhsidentity.example/realms/Healthcare",
            "client_id": "999999999999.apps.national",
            "client_secret_env": "CIS2_SECRET",
            "organisation_claim": "org_code",
            "use_userinfo": True,
            "required_acr": ["AAL3_ANY"],
            "organisations": [{"claim_value": "Y99001", "scheme": "ods", "code": "Y99001"}],
        },
        {
            "key": "oakfield-entra",
            "name": "Oakfield Primary (Microsoft)",
            "issuer": "https://login.microsoftonline.com/0000-tenant/v2.0",
            "client_id": "portal",
            "client_secret_env": "ENTRA_SECRET",
            "organisation_claim": "tid",
            "subject_claim": "oid",
            "organisations": [{"claim_value": "0000-tenant", "scheme": "urn", "code": "999101"}],
        },
    ]
}


def test_a_valid_configuration_loads():
    cis2, entra = parse_providers(DOC, ENV)
    assert cis2.metadata_url == "https://am.nhsidentity.example/realms/Healthcare/.well-known/openid-configuration"
    assert cis2.required_acr == ("AAL3_ANY",)
    assert cis2.client_secret == "s3cret"
    assert "s3cret" not in repr(cis2)
    assert entra.subject_claim == "oid"
    binding = entra.binding_for("0000-tenant")
    assert binding and binding.scheme is CodeScheme.URN and binding.code == "999101"


def test_a_provider_vouches_only_for_its_own_bindings():
    cis2, entra = parse_providers(DOC, ENV)
    assert cis2.binding_for("0000-tenant") is None
    assert entra.binding_for("Y99001") is None


def _broken(mutate):
    doc = copy.deepcopy(DOC)
    mutate(doc)
    return doc


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("providers"), "providers"),
        (lambda d: d["providers"][0].pop("issuer"), "'issuer' is required"),
        (lambda d: d["providers"][0].update(key="Bad Key"), "lower-case"),
        (lambda d: d["providers"][1].update(key="nhs-cis2"), "used twice"),
        (lambda d: d["providers"][0].update(client_secret_env="MISSING_SECRET"), "MISSING_SECRET"),
        (lambda d: d["providers"][0].update(scopes=["profile"]), "openid"),
        (lambda d: d["providers"][0].update(organisations=[]), "at least one binding"),
        (lambda d: d["providers"][0]["organisations"][0].update(scheme="nope"), "scheme 'nope'"),
        (lambda d: d["providers"][1]["organisations"][0].update(scheme="ods", code="Y99001"), "already bound"),
        (lambda d: d["providers"][0].update(issuer="ftp://x"), "http"),
        (lambda d: d["providers"][0].update(use_userinfo="false"), "true or false"),
        (lambda d: d["providers"][0].update(subject_claim=None), "'subject_claim' must be text"),
        (lambda d: d["providers"][0].update(acr_values=["AAL3_ANY"]), "'acr_values' must be text"),
        (lambda d: d["providers"][0].update(discovery_url="file:///etc/passwd"), "'discovery_url' must be an http"),
        (lambda d: d["providers"][0].update(required_acr=[3]), "required_acr"),
    ],
)
def test_malformed_configuration_is_refused_with_a_clear_message(mutate, message):
    with pytest.raises(ProviderConfigError, match=message):
        parse_providers(_broken(mutate), ENV)


def test_unreadable_or_invalid_yaml_files_are_refused(tmp_path):
    with pytest.raises(ProviderConfigError, match="cannot read"):
        load_providers(tmp_path / "absent.yaml", ENV)
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers: [unclosed")
    with pytest.raises(ProviderConfigError, match="not valid YAML"):
        load_providers(bad, ENV)
