"""``mairie routing train [--org SLUG]``: learn the organisations' routing classifiers now.

``mairie routing suggest --org SLUG CHRONO…``: compute the suggestions of courriers again.
One JSON line per organisation or courrier.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from mairie.courrier.models import Courrier
from mairie.organisations.models import Organisation


class Command(BaseCommand):
    help = "Orientation du courrier : apprendre les modèles (train) ou recalculer des suggestions (suggest)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        train = sub.add_parser("train", help="apprendre le modèle de chaque organisation (ou d'une seule)")
        train.add_argument("--org", help="identifiant court de l'organisation")
        suggest = sub.add_parser("suggest", help="recalculer les suggestions de courriers")
        suggest.add_argument("--org", required=True, help="identifiant court de l'organisation")
        suggest.add_argument("chronos", nargs="+", metavar="CHRONO")

    def handle(self, *args: Any, **options: Any) -> None:
        from mairie.routing.services import labelled, suggest_for_courrier, train_organisation

        if options["action"] == "train":
            organisations = Organisation.objects.filter(is_active=True).order_by("slug")
            if options.get("org"):
                organisations = organisations.filter(slug=options["org"])
                if not organisations.exists():
                    raise CommandError(f"Organisation inconnue : {options['org']}")
            for organisation in organisations:
                if not options.get("org") and not labelled(organisation).exists():
                    continue
                self.stdout.write(json.dumps(train_organisation(organisation).as_json()))
            return
        org = Organisation.objects.filter(slug=options["org"]).first()
        if org is None:
            raise CommandError(f"Organisation inconnue : {options['org']}")
        for chrono in options["chronos"]:
            courrier = Courrier.objects.for_org(org).filter(chrono=chrono.upper()).first()
            if courrier is None:
                raise CommandError(f"Courrier inconnu : {chrono}")
            status = suggest_for_courrier(courrier.pk)
            self.stdout.write(json.dumps({"chrono": courrier.chrono, "status": status}))
