from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mairie.core.cli import get_org, json_line
from mairie.courrier.models import Channel, Status
from mairie.courrier.services import IncomingFile, RegistrationRefused, register_courrier

CHANNELS = {"scan": Channel.SCAN, "counter": Channel.COUNTER, "email": Channel.EMAIL}


class Command(BaseCommand):
    help = "Enregistre des fichiers au registre (un courrier par fichier) ; une ligne JSON par fichier."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", required=True)
        parser.add_argument("--channel", choices=sorted(CHANNELS), default="scan")
        parser.add_argument("files", nargs="+", metavar="FILE")

    def handle(self, *args: Any, org: str, channel: str, files: list[str], **options: Any) -> None:
        organisation = get_org(org)
        failures = 0
        for name in files:
            path = Path(name)
            if not path.is_file():
                failures += 1
                self.stdout.write(
                    json_line({"file": name, "status": "rejected", "error": "Fichier introuvable."})
                )
                continue
            try:
                courrier = register_courrier(
                    organisation=organisation,
                    actor=None,
                    files=[IncomingFile(path, path.name)],
                    channel=CHANNELS[channel],
                    status=Status.A_ENREGISTRER,
                )
            except RegistrationRefused as exc:
                failures += 1
                self.stdout.write(
                    json_line({"file": name, "status": "rejected", "error": exc.refusals[0][1].message})
                )
                continue
            document = courrier.documents.select_related("original").get()
            self.stdout.write(
                json_line(
                    {
                        "file": name,
                        "status": "registered",
                        "chrono": courrier.chrono,
                        "sha256": document.original.sha256,
                    }
                )
            )
        if failures:
            sys.exit(1)
