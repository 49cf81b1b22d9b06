from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from mairie.core.cli import get_org, json_line
from mairie.search.services import reindex


class Command(BaseCommand):
    help = "Reconstruit l'index de recherche (toutes les organisations, ou une seule avec --org)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", help="slug de l'organisation (par défaut : toutes)")

    def handle(self, *args: Any, org: str | None = None, **options: Any) -> None:
        from mairie.courrier.models import Courrier

        courriers = Courrier.objects.for_org(get_org(org)) if org else Courrier.objects.all()
        courriers = courriers.select_related("contact").prefetch_related("documents", "comments")
        total = 0
        for start in range(0, courriers.count(), 500):
            # Chunks keep memory bounded; prefetching works per chunk.
            total += reindex(courriers.order_by("pk")[start : start + 500])
        self.stdout.write(json_line({"reindexed": total}))
