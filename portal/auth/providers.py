"""Identity-provider configuration: which OpenID Connect providers may sign partners in, and for
which organisations each may vouch.

Loaded from a YAML file (``PORTAL_IDP_CONFIG``) and validated at start, so a typo stops the app rather
than opening a hole. Secrets never live in the file: each provider names the environment variable that
holds its client secret. See README "Adding an identity provider".
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from portal.organisations.models import CodeScheme

KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


class ProviderConfigError(ValueError):
    """The provider configuration is malformed; the message says where."""


@dataclass(frozen=True)
class OrganisationBinding:
    """A claim value that this provider asserts, and the local organisation it stands for."""

    claim_value: str
    scheme: CodeScheme
    code: str


@dataclass(frozen=True)
class ProviderConfig:
    key: str
    name: str
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    organisation_claim: str
    subject_claim: str = "sub"
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    use_userinfo: bool = False
    acr_values: str | None = None
    required_acr: tuple[str, ...] = ()
    discovery_url: str = ""
    bindings: tuple[OrganisationBinding, ...] = ()

    @property
    def metadata_url(self) -> str:
        return self.discovery_url or self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    def binding_for(self, claim_value: str) -> OrganisationBinding | None:
        """Return the organisation this provider vouches for under ``claim_value``, if any."""
        for binding in self.bindings:
            if binding.claim_value == claim_value:
                return binding
        return None


def _require(entry: dict[str, Any], name: str, where: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ProviderConfigError(f"{where}: '{name}' is required and must be text")
    return value.strip()


def _optional_text(entry: dict[str, Any], name: str, where: str) -> str | None:
    if name not in entry:
        return None
    value = entry[name]
    if not isinstance(value, str) or not value.strip():
        raise ProviderConfigError(f"{where}: '{name}' must be text")
    return value.strip()


def _optional_bool(entry: dict[str, Any], name: str, where: str) -> bool:
    value = entry.get(name, False)
    if not isinstance(value, bool):
        raise ProviderConfigError(f"{where}: '{name}' must be true or false (unquoted)")
    return value


def _optional_url(entry: dict[str, Any], name: str, where: str) -> str:
    value = _optional_text(entry, name, where)
    if value is not None and not value.startswith(("https://", "http://")):
        raise ProviderConfigError(f"{where}: '{name}' must be an http(s) URL")
    return value or ""


def parse_providers(
    document: Any, env: dict[str, str] | None = None, source: str = "provider configuration"
) -> list[ProviderConfig]:
    """Validate a parsed YAML document and return the providers it configures.

    Args:
        document: the parsed YAML (a mapping with a ``providers`` list).
        env: where client secrets are looked up (defaults to ``os.environ``).
        source: a name for error messages.

    Raises:
        ProviderConfigError: on any malformed entry, duplicate key, missing secret, or an
            organisation bound to two providers.
    """
    env = os.environ if env is None else env
    if not isinstance(document, dict) or not isinstance(document.get("providers"), list):
        raise ProviderConfigError(f"{source}: expected a mapping with a 'providers' list")
    providers: list[ProviderConfig] = []
    seen_keys: set[str] = set()
    bound: dict[tuple[CodeScheme, str], str] = {}
    for index, entry in enumerate(document["providers"], start=1):
        where = f"{source}, provider {index}"
        if not isinstance(entry, dict):
            raise ProviderConfigError(f"{where}: expected a mapping")
        key = _require(entry, "key", where)
        if not KEY_RE.match(key):
            raise ProviderConfigError(f"{where}: key {key!r} must be lower-case letters, digits and hyphens")
        if key in seen_keys:
            raise ProviderConfigError(f"{where}: key {key!r} is used twice")
        seen_keys.add(key)
        providers.append(_provider(entry, key, f"{source}, provider {key!r}", env, bound))
    return providers


def _provider(
    entry: dict[str, Any], key: str, where: str, env: Mapping[str, str], bound: dict[tuple[CodeScheme, str], str]
) -> ProviderConfig:
    """One provider's entry, checked in the order its problems are reported; ``bound`` collects the
    organisations bound so far (one provider each)."""
    issuer = _require(entry, "issuer", where)
    if not issuer.startswith(("https://", "http://")):
        raise ProviderConfigError(f"{where}: issuer must be an http(s) URL")
    secret_env = _require(entry, "client_secret_env", where)
    secret = env.get(secret_env, "")
    if not secret:
        raise ProviderConfigError(f"{where}: environment variable {secret_env} (client secret) is not set")
    scopes = entry.get("scopes", ["openid", "profile", "email"])
    if not isinstance(scopes, list) or "openid" not in scopes or not all(isinstance(s, str) for s in scopes):
        raise ProviderConfigError(f"{where}: scopes must be a list that includes 'openid'")
    required_acr = entry.get("required_acr", [])
    if not isinstance(required_acr, list) or not all(isinstance(v, str) and v for v in required_acr):
        raise ProviderConfigError(f"{where}: required_acr must be a list of text values")
    bindings = _bindings(entry.get("organisations"), key, where, bound)
    return ProviderConfig(
        key=key,
        name=_require(entry, "name", where),
        issuer=issuer,
        client_id=_require(entry, "client_id", where),
        client_secret=secret,
        organisation_claim=_require(entry, "organisation_claim", where),
        subject_claim=_optional_text(entry, "subject_claim", where) or "sub",
        scopes=tuple(scopes),
        use_userinfo=_optional_bool(entry, "use_userinfo", where),
        acr_values=_optional_text(entry, "acr_values", where),
        required_acr=tuple(required_acr),
        discovery_url=_optional_url(entry, "discovery_url", where),
        bindings=tuple(bindings),
    )


def _bindings(
    orgs: object, key: str, where: str, bound: dict[tuple[CodeScheme, str], str]
) -> list[OrganisationBinding]:
    """The organisations provider ``key`` may vouch for; an organisation already in ``bound`` belongs
    to another provider, and may have only one."""
    if not isinstance(orgs, list) or not orgs:
        raise ProviderConfigError(f"{where}: 'organisations' must list at least one binding")
    bindings = []
    for org in orgs:
        if not isinstance(org, dict):
            raise ProviderConfigError(f"{where}: each organisation binding must be a mapping")
        claim_value = _require(org, "claim_value", where)
        scheme_raw = _require(org, "scheme", where)
        try:
            scheme = CodeScheme(scheme_raw)
        except ValueError:
            allowed = ", ".join(s.value for s in CodeScheme)
            raise ProviderConfigError(f"{where}: scheme {scheme_raw!r} is not one of {allowed}") from None
        code = _require(org, "code", where)
        if (scheme, code) in bound:
            raise ProviderConfigError(
                f"{where}: organisation {scheme.value}:{code} is already bound to provider "
                f"{bound[(scheme, code)]!r}; an organisation may have one identity provider"
            )
        bound[(scheme, code)] = key
        bindings.append(OrganisationBinding(claim_value, scheme, code))
    if len({b.claim_value for b in bindings}) != len(bindings):
        raise ProviderConfigError(f"{where}: a claim value is bound twice")
    return bindings


def load_providers(path: str | Path, env: dict[str, str] | None = None) -> list[ProviderConfig]:
    """Read and validate the provider configuration file."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ProviderConfigError(f"cannot read identity provider configuration {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ProviderConfigError(f"{path} is not valid YAML: {exc}") from exc
    return parse_providers(document, env, source=str(path))
