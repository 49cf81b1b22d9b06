from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mairie.audit.services import verify_chain
from mairie.core.cli import get_org, json_line


class Command(BaseCommand):
    help = "Journal d'audit : `audit verify --org S` vérifie la chaîne d'empreintes."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, parser_class=CommandParser)
        verify = sub.add_parser("verify")
        verify.add_argument("--org", required=True)

    def handle(self, *args: Any, org: str, **options: Any) -> None:
        report = verify_chain(get_org(org))
        if report.ok:
            self.stdout.write(json_line({"org": org, "status": "ok", "entries": report.checked}))
            return
        self.stdout.write(
            json_line(
                {
                    "org": org,
                    "status": "broken",
                    "entries_ok": report.checked,
                    "broken_seq": report.broken_seq,
                    "reason": report.reason,
                }
            )
        )
        self.stderr.write(f"Chaîne rompue à l'entrée n° {report.broken_seq} : {report.reason}")
        sys.exit(2)
