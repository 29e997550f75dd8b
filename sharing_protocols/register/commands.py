"""``flask --app wsgi import-sharing FILE``: load the sharing register from its YAML file.

Until the register's management screens exist this is how a council keeps its protocols and notice
versions. The import logs what it wrote as a system entry in the access log, in the transaction that
writes it: a refused file writes neither, and if the entry cannot be written nothing is imported.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask

from portal import db
from portal.gate import AuditUnavailable
from sharing_protocols.register.file import import_register_file
from sharing_protocols.register.service import RegisterError


def init_app(app: Flask) -> None:
    @app.cli.command("import-sharing")
    @click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def import_sharing(path: Path) -> None:
        """Create or replace the sharing protocols and notice versions in the YAML file PATH."""
        session = db.session()
        try:
            counts = import_register_file(session, path)
        except RegisterError as exc:
            session.rollback()
            click.echo(f"Nothing was imported: {len(exc.problems)} problem(s) in {path}:", err=True)
            for problem in exc.problems:
                click.echo(f"  - {problem}", err=True)
            raise SystemExit(1) from exc
        except AuditUnavailable as exc:
            session.rollback()
            click.echo(f"Nothing was imported: the access log could not be written ({exc}).", err=True)
            raise SystemExit(1) from exc
        session.commit()
        p, n = counts["protocols"], counts["notice_versions"]
        click.echo(
            f"Imported {path}: protocols {p['created']} new, {p['updated']} replaced, {p['unchanged']} unchanged; "
            f"notice versions {n['created']} new, {n['updated']} replaced, {n['unchanged']} unchanged."
        )
