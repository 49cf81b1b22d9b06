from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mairie.demo.services import DEMO_PASSWORD, LOGINS, create_demo


class Command(BaseCommand):
    help = "Crée (une seule fois) les organisations, personnes et courriers de démonstration ; affiche les identifiants."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--letters", type=int, default=30, help="Nombre de courriers numérisés à générer."
        )

    def handle(self, *args: Any, letters: int, **options: Any) -> None:
        result = create_demo(letters=letters)
        created = result["courriers_created"]
        if created:
            self.stdout.write(
                f"{created} courriers enregistrés (lettres numérisées et courriels) ; le travailleur en lit "
                "le texte (OCR)."
            )
        else:
            self.stdout.write("Démonstration déjà en place : rien à créer.")
        self.stdout.write("")
        self.stdout.write(f"Comptes de démonstration (mot de passe pour tous : {DEMO_PASSWORD}) :")
        for login in LOGINS:
            self.stdout.write(f"  {login.username:<18} {login.who} — {login.organisation} ({login.roles})")
        self.stdout.write(
            "Les administrateurs activent la double authentification à leur première connexion."
        )
        from mairie.demo.dossiers import DEMO_PIN

        self.stdout.write(f"Code PIN de signature de la maire (certificat de démonstration) : {DEMO_PIN}.")
