from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils.crypto import get_random_string

from mairie.jobs.worker import MairieWorker


class Command(BaseCommand):
    help = "Exécute les tâches de fond (OCR, dépôts du dossier de numérisation…)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--burst", action="store_true", help="Traite la file jusqu'à ce qu'elle soit vide, puis s'arrête."
        )
        parser.add_argument(
            "--interval", type=float, default=None, help="Secondes d'attente quand la file est vide."
        )
        parser.add_argument(
            "--queue", default="*", help="Files à traiter, séparées par des virgules (défaut : toutes)."
        )

    def handle(self, *args: Any, burst: bool, interval: float | None, queue: str, **options: Any) -> None:
        worker = MairieWorker(
            queue_names=queue.split(","),
            interval=settings.WORKER_POLL_SECONDS if interval is None else interval,
            batch=burst,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=get_random_string(32),
            excluded_queue_names=[],
        )
        worker.configure_signals()
        worker.run()
