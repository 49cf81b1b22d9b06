from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mairie.core.backup import KEY_FROM_ENVIRONMENT, KEY_REMINDER, BackupError, create_backup
from mairie.core.cli import json_line


class Command(BaseCommand):
    help = (
        "Sauvegarde cohérente de la base de données puis de tous les fichiers stockés, sans arrêter la "
        "plateforme ; affiche un objet JSON."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output",
            required=True,
            metavar="FICHIER",
            help="Archive à écrire (.tar, ou .tar.gz pour la compresser).",
        )

    def handle(self, *args: Any, output: str, **options: Any) -> None:
        try:
            report = create_backup(Path(output))
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            json_line(
                {
                    "output": str(report.output),
                    "database": report.database,
                    "files": report.files,
                    "bytes": report.bytes,
                    "seconds": report.seconds,
                    "encryption_key": report.encryption_key,
                }
            )
        )
        if report.encryption_key == KEY_FROM_ENVIRONMENT:
            self.stderr.write(KEY_REMINDER)
