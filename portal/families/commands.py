"""``flask --app wsgi import-relationships ...``: load the people an organisation serves from a CSV file.

Until the upload screens exist this is how a council loads service relationships (registered
patients, pupils on roll, tenants, caseloads). The import logs what it wrote as a system entry in the
access log, in the transaction that writes it: a refused file writes neither, and if the entry cannot
be written nothing is imported.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
from flask import Flask
from sqlalchemy import select

from portal import db
from portal.families.imports import ImportRefused, import_relationships_file
from portal.families.models import RelationshipKind
from portal.gate import AuditUnavailable
from portal.organisations.models import CodeScheme, Organisation


def init_app(app: Flask) -> None:
    @app.cli.command("import-relationships")
    @click.option("--organisation", "organisation_code", required=True, help="scheme:code, e.g. ods:Y99001")
    @click.option("--kind", type=click.Choice([k.value for k in RelationshipKind]), required=True)
    @click.option("--replace", is_flag=True, help="End relationships of this kind that are not in the file.")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def import_relationships_command(organisation_code: str, kind: str, replace: bool, path: Path) -> None:
        """Import the people an organisation serves from the CSV file PATH and report what did not match."""
        scheme, _, code = organisation_code.partition(":")
        session = db.session()
        organisation = None
        if scheme in {s.value for s in CodeScheme}:
            organisation = session.scalar(
                select(Organisation).where(Organisation.code_scheme == CodeScheme(scheme), Organisation.code == code)
            )
        if organisation is None:
            raise click.BadParameter(f"no registered organisation {organisation_code}", param_hint="--organisation")
        try:
            report = import_relationships_file(
                session, organisation.id, RelationshipKind(kind), path.read_bytes(), today=date.today(), replace=replace
            )
        except ImportRefused as exc:
            session.rollback()
            click.echo(f"Nothing was imported: {exc}", err=True)
            raise SystemExit(1) from exc
        except AuditUnavailable as exc:
            session.rollback()
            click.echo(f"Nothing was imported: the access log could not be written ({exc}).", err=True)
            raise SystemExit(1) from exc
        session.commit()
        click.echo(
            f"{organisation.name}: {report.rows} rows; {report.added} added, {report.already_present} already "
            f"present, {report.ended} ended; {len(report.invalid)} invalid, {len(report.unmatched)} not matched, "
            f"{len(report.duplicates)} duplicate."
        )
        for line, problem in report.invalid:
            click.echo(f"  line {line}: {problem}")
        if report.unmatched:
            click.echo(f"  not matched to anyone known to the programme: lines {_ranges(report.unmatched)}")
        if report.duplicates:
            click.echo(f"  duplicates ignored: lines {_ranges(report.duplicates)}")


def _ranges(lines: list[int]) -> str:
    """1,2,3,7 -> '1-3, 7': a long report stays readable."""
    parts: list[str] = []
    for n in lines:
        if parts and parts[-1].split("-")[-1] == str(n - 1):
            parts[-1] = f"{parts[-1].split('-')[0]}-{n}"
        else:
            parts.append(str(n))
    return ", ".join(parts)
