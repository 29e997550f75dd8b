"""A real third-party OpenID provider for end-to-end sign-in: panva's oidc-provider (OpenID Certified),
run under Node from ``node_modules`` with ``tests/e2e/op/dev-op.mjs``.

Under CI=true a missing Node or npm package fails the run; elsewhere the tests are skipped.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import IN_CI, free_port

ROOT = Path(__file__).resolve().parents[2]
OP_SCRIPT = Path(__file__).resolve().parent / "op" / "dev-op.mjs"
OP_PACKAGE = ROOT / "node_modules" / "oidc-provider" / "package.json"
#: the provider key the tests configure the portal with
PROVIDER_KEY = "nhs-test"
CLIENT_ID = "portal"
STARTUP_SECONDS = 20


@dataclass(frozen=True)
class ThirdPartyProvider:
    issuer: str
    client_id: str
    client_secret: str
    provider_key: str
    portal_port: int
    log: Path

    @property
    def portal_url(self) -> str:
        return f"http://127.0.0.1:{self.portal_port}"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason}; the e2e sign-in test needs it under CI=true (run `npm ci`)")
    pytest.skip(reason)


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed")
    if not OP_PACKAGE.exists():
        _unavailable("node_modules/oidc-provider is not installed")
    return node


def _wait_until_ready(process: subprocess.Popen, issuer: str, log: Path) -> None:
    discovery = f"{issuer}/.well-known/openid-configuration"
    deadline = time.monotonic() + STARTUP_SECONDS
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"oidc-provider exited with {process.returncode}:\n{log.read_text()}")
        try:
            response = requests.get(discovery, timeout=2)
            if response.status_code == 200 and response.json().get("issuer") == issuer:
                return
        except requests.RequestException as exc:
            last_error = exc
        time.sleep(0.1)
    pytest.fail(
        f"oidc-provider did not answer {discovery} within {STARTUP_SECONDS} s ({last_error!r}):\n{log.read_text()}"
    )


@pytest.fixture
def third_party_op(tmp_path: Path) -> Iterator[ThirdPartyProvider]:
    """oidc-provider on a free port, with the portal (to be served on ``portal_port``) as its only client."""
    node = _node()
    op_port = free_port()
    portal_port = free_port()
    while portal_port == op_port:
        portal_port = free_port()
    provider = ThirdPartyProvider(
        issuer=f"http://127.0.0.1:{op_port}",
        client_id=CLIENT_ID,
        client_secret=secrets.token_urlsafe(32),
        provider_key=PROVIDER_KEY,
        portal_port=portal_port,
        log=tmp_path / "oidc-provider.log",
    )
    env = {
        **os.environ,
        "PORT": str(op_port),
        "ISSUER": provider.issuer,
        "CLIENT_ID": provider.client_id,
        "CLIENT_SECRET": provider.client_secret,
        "REDIRECT_URI": f"{provider.portal_url}/auth/callback/{PROVIDER_KEY}",
    }
    # output goes to a file, not a pipe: nothing to drain, and the log is there when a test fails
    with provider.log.open("w") as log:
        process = subprocess.Popen(
            [node, str(OP_SCRIPT)], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    try:
        _wait_until_ready(process, provider.issuer, provider.log)
        yield provider
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
