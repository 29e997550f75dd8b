"""Drive a sign-in through the development identity provider over real HTTP, as a browser would."""

from __future__ import annotations

import html
import re

import requests


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def start_dev_sign_in(base_url: str, http: requests.Session) -> tuple[str, str]:
    """Follow /auth/login/dev to the provider's account picker; return (form action, CSRF token)."""
    page = http.get(f"{base_url}/auth/login/dev", timeout=10)
    assert page.status_code == 200, page.text[:500]
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page.text).group(1))
    return action, csrf_token(page.text)


def dev_sign_in(
    base_url: str, subject: str, http: requests.Session | None = None
) -> tuple[requests.Session, requests.Response]:
    """Sign in as a demo account; returns the browser-like session and the final response."""
    http = http or requests.Session()
    action, token = start_dev_sign_in(base_url, http)
    response = http.post(base_url + action, data={"csrf_token": token, "account": subject}, timeout=10)
    return http, response


def h1(page: str) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", page, re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", match.group(1))).strip() if match else ""
