"""A GET never changes domain data: every GET route, as every demo role, leaves every table as it was.

Server-side session rows are not domain data (they are how a GET knows who is asking); the access log
is the one domain table a GET appends to, so for its tables the rows that were there before must be
there after, unchanged and in the same order (append only), and the chain head may move.
"""

from __future__ import annotations

import hashlib

import requests
from sqlalchemy import create_engine, inspect, select, table, text

from tests.signin import dev_sign_in

#: tables a GET may write: the session store, and the access log's chain head
EXEMPT_TABLES = {"server_session", "alembic_version", "access_log_chain_head"}
#: tables a GET may only append to
APPEND_ONLY = {"access_log_entry", "access_log_subject", "access_log_checkpoint"}
#: values for URL parameters, by name (person_id is filled in with a real flagged person)
PARAMS = {
    "provider_key": "dev",
    "seq": 1,
    "grant_id": "00000000-0000-4000-8000-000000000000",
    "nomination_id": "00000000-0000-4000-8000-000000000001",
}
ROLES = ["sf.coordinator", "sf.dpo", "sf.sysadmin", "gp.practitioner", "school.admin", "probation.practitioner"]


def _digest(database_url: str) -> dict[str, object]:
    engine = create_engine(database_url)
    try:
        digests: dict[str, object] = {}
        with engine.connect() as connection:
            for name in sorted(set(inspect(connection).get_table_names()) - EXEMPT_TABLES):
                columns = [c["name"] for c in inspect(connection).get_columns(name)]
                order = [text(f'"{c}"') for c in columns]
                rows = connection.execute(select(*order).select_from(table(name)).order_by(*order)).all()
                if name in APPEND_ONLY:
                    digests[name] = [hashlib.sha256(repr(row).encode()).hexdigest() for row in rows]
                else:
                    digests[name] = hashlib.sha256(repr(rows).encode()).hexdigest()
        return digests
    finally:
        engine.dispose()


def _unchanged(before: dict[str, object], after: dict[str, object]) -> bool:
    """Every table as it was, except that append-only tables may have gained rows at the end."""
    for name, digest in before.items():
        if name in APPEND_ONLY:
            rows = after[name]
            assert isinstance(digest, list) and isinstance(rows, list)
            if rows[: len(digest)] != digest:
                return False
        elif after[name] != digest:
            return False
    return after.keys() == before.keys()


def _get_urls(app) -> list[str]:
    from portal import db
    from portal.families.models import Flag

    with app.app_context():
        params = {**PARAMS, "person_id": db.session().scalars(select(Flag.person_id)).first()}
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        values = {arg: params[arg] for arg in rule.arguments}
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
        assert _unchanged(before, _digest(database_url)), f"a GET changed domain data while signed in as {subject}"
    anonymous = requests.Session()
    before = _digest(database_url)
    for url in urls:
        assert anonymous.get(live_app.url + url, timeout=10, allow_redirects=False).status_code < 500
    assert _unchanged(before, _digest(database_url))
