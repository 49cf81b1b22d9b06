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
        parser.add_argument(
            "--split",
            choices=["separators", "blank", "both"],
            default=None,
            help="Découpe chaque fichier en courriers sur les feuilles de séparation et/ou les pages blanches.",
        )
        parser.add_argument("files", nargs="+", metavar="FILE")

    def handle(self, *args: Any, org: str, channel: str, files: list[str], **options: Any) -> None:
        organisation = get_org(org)
        split = options.get("split")
        failures = 0
        for name in files:
            path = Path(name)
            if not path.is_file():
                failures += 1
                self.stdout.write(
                    json_line({"file": name, "status": "rejected", "error": "Fichier introuvable."})
                )
                continue
            if split:
                failures += self._ingest_batch(organisation, path, name, split, CHANNELS[channel])
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

    def _ingest_batch(self, organisation: Any, path: Path, name: str, split: str, channel: str) -> int:
        """One JSON line per courrier made from the file; 1 if the file was refused, else 0."""
        from mairie.courrier.batch import register_batch

        try:
            result = register_batch(
                organisation=organisation,
                actor=None,
                incoming=IncomingFile(path, path.name),
                split=split,
                channel=channel,
                status=Status.A_ENREGISTRER,
            )
        except RegistrationRefused as exc:
            self.stdout.write(
                json_line({"file": name, "status": "rejected", "error": exc.refusals[0][1].message})
            )
            return 1
        for part, registered in enumerate(result.registered, start=1):
            document = registered.courrier.documents.select_related("original").get()
            line: dict[str, Any] = {
                "file": name,
                "status": "duplicate" if result.duplicate else "registered",
                "chrono": registered.courrier.chrono,
                "sha256": document.original.sha256,
                "part": part,
                "parts": len(result.registered),
            }
            if registered.pages:
                line["pages"] = registered.pages
            self.stdout.write(json_line(line))
        for warning in result.warnings:
            self.stderr.write(f"{name} : {warning}")
        return 0
