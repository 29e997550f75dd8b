"""A GET never changes domain data: every GET route, as every demo role, leaves every table as it was.

Server-side session rows are not domain data (they are how a GET knows who is asking); the access log,
once it exists, is the one domain table a GET appends to.
"""

from __future__ import annotations

import hashlib

import requests
from sqlalchemy import create_engine, inspect, select, table, text

from tests.signin import dev_sign_in

#: tables a GET may write: the session store
EXEMPT_TABLES = {"server_session", "alembic_version"}
#: values for URL parameters, by name
PARAMS = {"provider_key": "dev"}
ROLES = ["sf.coordinator", "sf.dpo", "sf.sysadmin", "gp.practitioner", "school.admin"]


def _digest(database_url: str) -> dict[str, str]:
    engine = create_engine(database_url)
    try:
        digests = {}
        with engine.connect() as connection:
            for name in sorted(set(inspect(connection).get_table_names()) - EXEMPT_TABLES):
                columns = [c["name"] for c in inspect(connection).get_columns(name)]
                rows = connection.execute(
                    select(*[text(f'"{c}"') for c in columns]).select_from(table(name)).order_by(text("1"))
                ).all()
                digests[name] = hashlib.sha256(repr(rows).encode()).hexdigest()
        return digests
    finally:
        engine.dispose()


def _get_urls(app) -> list[str]:
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        values = {arg: PARAMS[arg] for arg in rule.arguments}
        with app.test_request_context():
            urls.append(app.url_for(rule.endpoint, **values))
    return sorted(urls)


def test_get_routes_change_no_domain_data(live_app, database_url):
    urls = _get_urls(live_app.app)
    assert "/home" in urls and "/account" in urls
    for subject in ROLES:
        http, _ = dev_sign_in(live_app.url, subject)
        before = _digest(database_url)
        for url in urls:
            response = http.get(live_app.url + url, timeout=10, allow_redirects=False)
            assert response.status_code < 500, f"{url} as {subject}: {response.status_code}"
        assert _digest(database_url) == before, f"a GET changed domain data while signed in as {subject}"
    anonymous = requests.Session()
    before = _digest(database_url)
    for url in urls:
        assert anonymous.get(live_app.url + url, timeout=10, allow_redirects=False).status_code < 500
    assert _digest(database_url) == before
