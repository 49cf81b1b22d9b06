from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mairie.core.cli import get_org, json_line
from mairie.courrier import export


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"Date invalide « {value} » : format attendu AAAA-MM-JJ.") from exc


class Command(BaseCommand):
    help = "Registre du courrier : `register export` en CSV ou PDF pour une période."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, parser_class=CommandParser)
        exp = sub.add_parser("export")
        exp.add_argument("--org", required=True)
        exp.add_argument("--from", dest="date_from", required=True)
        exp.add_argument("--to", dest="date_to", required=True)
        exp.add_argument("--format", choices=["csv", "pdf"], required=True)
        exp.add_argument("--direction", choices=["arrivee", "depart"], default=None)
        exp.add_argument("--output", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        organisation = get_org(options["org"])
        date_from, date_to = _date(options["date_from"]), _date(options["date_to"])
        if date_from > date_to:
            raise CommandError("La date de début (--from) doit précéder la date de fin (--to).")
        output = Path(options["output"])
        if options["format"] == "csv":
            with output.open("w", encoding="utf-8-sig", newline="") as out:
                count = export.write_csv(out, organisation, date_from, date_to, options["direction"])
        else:
            output.write_bytes(export.render_pdf(organisation, date_from, date_to, options["direction"]))
            count = export.register_rows(organisation, date_from, date_to, options["direction"]).count()
        self.stdout.write(json_line({"output": str(output), "format": options["format"], "courriers": count}))
