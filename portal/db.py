"""Database engine and the per-request session.

Plain SQLAlchemy 2.x rather than Flask-SQLAlchemy: services take a ``Session`` argument, so they run
the same under a request, a CLI command or a test. One session per request, committed once by the
``commits`` decorator after a successful response and rolled back otherwise.
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from flask import Flask, current_app, g
from psycopg.rows import namedtuple_row
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Enum,
    MetaData,
    String,
    TypeDecorator,
    any_,
    bindparam,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.sql.expression import Executable
from sqlalchemy.sql.functions import FunctionElement

S = TypeVar("S", bound=Executable)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    """The default for created/updated columns: timezone-aware UTC, so SQLite and PostgreSQL agree."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A moment, stored timezone-aware and handed back as an aware datetime in UTC on every backend.

    Why: PostgreSQL's ``timestamptz`` returns aware values, but SQLite has no time zones and hands back
    naive ones for the same ``DateTime(timezone=True)`` column, so code that compared a loaded moment with
    ``datetime.now(UTC)`` needed a "naive-datetime fix" wherever it read one. Here every value is made UTC
    on the way in and on the way out, once. A naive value is refused rather than guessed at: whether it
    meant UTC or local time cannot be known. The DDL type stays ``DateTime(timezone=True)``, so the
    schema (and its migrations) do not change.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"a moment must be timezone-aware (UTC), not naive: {value!r}")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite: stored as UTC digits without an offset (see process_bind_param)
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def enum_type(enum_class: type[enum.Enum], length: int = 32) -> Enum:
    """Store an enum as its value in a plain string column (no native PostgreSQL enum types to migrate)."""
    return Enum(enum_class, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


def prebuilt(build: Callable[[str], S]) -> Callable[[Session], S]:
    """Build a statement once per database dialect and hand the same object to every request.

    Why: building a ``select()`` costs more Python than running it (argument coercion, labels, and a
    fresh cache key each time); a statement object built once keeps its cache key, so SQLAlchemy goes
    straight to the compiled form. The hot paths of the gate (session, candidates, facts, load) use
    this; values are passed as bound parameters, never built into the statement.
    """
    built: dict[str, S] = {}

    @functools.wraps(build)
    def get(session: Session) -> S:
        name = session.get_bind().dialect.name
        statement = built.get(name)
        if statement is None:
            statement = built[name] = build(name)
        return statement

    return get


def any_of(column: ColumnElement[Any], name: str, dialect: str, one: bool = False) -> ColumnElement[bool]:
    """``column IN (:name)``, where ``name`` is bound to a list at execution (or, with ``one``, to a
    single value: ``column = :name``).

    On PostgreSQL it is ``column = ANY(:name)`` with one array parameter: the SQL text is the same
    whatever the list's length, so psycopg prepares it once per connection and the server plans it once
    (an expanding ``IN`` changes text with every count and is parsed and planned afresh). SQLite has no
    arrays, so there it is an expanding ``IN``.

    Why ``one``: PostgreSQL keeps re-planning a prepared statement whose array usually holds one value
    (a one-element plan looks cheaper than the generic one, so it never settles on the generic plan),
    and planning cost more than running. A statement written for one value settles after five runs.
    """
    if one:
        return column == bindparam(name)
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type)))
    return column.in_(bindparam(name, expanding=True))


@dataclass(frozen=True)
class _Compiled:
    statement: Any  #: held so that its id() is never reused while this entry lives
    sql: str
    defaults: dict[str, Any]
    processors: dict[str, Callable[[Any], Any]]


_compiled: dict[int, _Compiled] = {}


def fetch(session: Session, statement: Executable, params: Mapping[str, Any]) -> Sequence[Any]:
    """Every row of a statement built once (``prebuilt``, or a module constant: each is compiled once
    and kept), with positional and attribute access.

    On PostgreSQL the statement, compiled by SQLAlchemy once, runs on the driver's cursor of the
    session's own connection (so in the request's transaction), prepared by psycopg, and comes back as
    psycopg's named tuples: no SQLAlchemy execution context, result metadata or per-value processing.
    That overhead was ~0.1 ms of CPU a statement, a fifth of a flag page (``bench/README.md``). So the
    statement must ask for values the driver gives as they are: ids, dates, text, and encrypted
    columns through ``portal.crypto.raw`` (decrypted by the caller). Bound values go through the
    columns' own bind processing, as SQLAlchemy would. Elsewhere (SQLite) it is ``session.execute``.
    """
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        return session.execute(statement, params).all()
    compiled = _compiled.get(id(statement))
    if compiled is None or compiled.statement is not statement:
        built = statement.compile(dialect=connection.dialect)  # type: ignore[attr-defined]
        if built.literal_execute_params or built.post_compile_params:
            raise ValueError("fetch() needs a statement with no post-compile parameters")
        compiled = _Compiled(
            statement,
            built.string,
            {k: v for k, v in built.params.items() if v is not None},
            dict(built._bind_processors),
        )
        _compiled[id(statement)] = compiled
    values = {**compiled.defaults, **params}
    for name, process in compiled.processors.items():
        if name in values and values[name] is not None:
            values[name] = process(values[name])
    try:
        with connection.connection.driver_connection.cursor(row_factory=namedtuple_row) as cursor:
            cursor.execute(compiled.sql, values, prepare=True)
            return cursor.fetchall()
    except psycopg.Error as exc:
        # as SQLAlchemy would raise it, so that every caller's handling of a database error holds (the
        # gate turns a failed log append into "nothing served", never a server error)
        raise DBAPIError.instance(compiled.sql, values, exc, psycopg.Error) from exc


class comma_joined(FunctionElement[str]):
    """The values of a column joined with commas: ``string_agg(x, ',')`` / ``group_concat(x, ',')``.

    Why not ``func.aggregate_strings``: it binds its separator as a "post-compile" parameter, so
    SQLAlchemy rewrites the statement's text on every execution to put the comma in (measured: a
    large share of the signed-in user's one statement, which every page runs).
    """

    type = String()
    inherit_cache = True


@compiles(comma_joined, "postgresql")
def _comma_joined_postgresql(element: comma_joined, compiler: Any, **kw: Any) -> str:
    return f"string_agg({compiler.process(element.clauses, **kw)}, ',')"


@compiles(comma_joined)
def _comma_joined_default(element: comma_joined, compiler: Any, **kw: Any) -> str:
    return f"group_concat({compiler.process(element.clauses, **kw)}, ',')"


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL and a busy timeout so it behaves like a server."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def init_app(app: Flask) -> None:
    engine = make_engine(str(app.config["DATABASE_URL"]))
    app.extensions["db_engine"] = engine
    app.extensions["db_sessionmaker"] = sessionmaker(bind=engine, expire_on_commit=False)

    @app.teardown_appcontext
    def _close_session(exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            if exc is not None or session.in_transaction():
                # Anything not committed by @commits is discarded: fail closed.
                session.rollback()
            session.close()


def engine() -> Engine:
    return current_app.extensions["db_engine"]


def session() -> Session:
    """Return this request's session, opening it on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["db_sessionmaker"]()
    return g.db_session


def _release() -> None:
    """Roll the request's transaction back; a connection already broken has nothing left to release."""
    try:
        session().rollback()
    except Exception:
        logging.getLogger(__name__).warning("rollback after a failed view failed", exc_info=True)


def commits(view: Callable[..., Any]) -> Callable[..., Any]:
    """Commit the request's session once, after the view returned a 2xx or 3xx response.

    A 4xx answer, or an exception (an ``abort``, a refusal the app's handlers turn into a page), rolls
    back here, before the error page is drawn and the session store writes: on SQLite an uncommitted
    access-log entry holds the write lock, and the store's own connection would wait on it for a minute.
    A 4xx page that must keep its entry uses ``portal.kit.pages.failed_page``.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            rv = view(*args, **kwargs)
        except BaseException:
            _release()
            raise
        response = current_app.make_response(rv)
        if response.status_code < 400:
            session().commit()
        else:
            session().rollback()
        return response

    return wrapper
