from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mairie.core.backup import BackupError, restore_backup
from mairie.core.cli import json_line


class Command(BaseCommand):
    help = (
        "Restaure une sauvegarde de `mairie backup` dans une plateforme vide (répertoire de données vide et, "
        "sur PostgreSQL, base vide) puis met sa base à jour (migrations) ; refuse de remplacer des données "
        "existantes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("archive", metavar="FICHIER")

    def handle(self, *args: Any, archive: str, **options: Any) -> None:
        try:
            report = restore_backup(Path(archive))
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            json_line(
                {
                    "database": report.database,
                    "files": report.files,
                    "organisations": report.organisations,
                    "courriers": report.courriers,
                    "documents": report.documents,
                    "migrations": report.migrations,
                    "missing_files": len(report.missing_files),
                    "encryption_key": report.encryption_key,
                    "unreadable_secrets": report.unreadable_count,
                }
            )
        )
        problems = []
        if report.missing_files:
            shown = ", ".join(report.missing_files[:5])
            problems.append(
                f"Restauration terminée, mais {len(report.missing_files)} fichiers référencés manquent "
                f"(par exemple {shown})."
            )
        if report.key_problem:
            problems.append(report.key_problem)
        if problems:
            raise CommandError("\n".join(problems))
