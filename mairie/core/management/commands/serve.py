from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Démarre le serveur web (gunicorn) et un travailleur de tâches de fond ; s'arrête proprement sur Ctrl+C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--workers", type=int, default=None, help="Processus web (défaut : MAIRIE_WEB_WORKERS)."
        )
        parser.add_argument(
            "--no-worker", action="store_true", help="Ne pas lancer de travailleur de tâches."
        )

    def handle(
        self, *args: Any, host: str, port: int, workers: int | None, no_worker: bool, **options: Any
    ) -> None:
        web_cmd = [
            sys.executable,
            "-m",
            "gunicorn",
            "mairie.wsgi:application",
            "--bind",
            f"{host}:{port}",
            "--workers",
            str(workers or settings.WEB_WORKERS),
            "--threads",
            "4",
            "--timeout",
            "120",
            "--access-logfile",
            "-",
            "--forwarded-allow-ips",
            "127.0.0.1",
            "--no-control-socket",
        ]
        # Compressed, cache-friendly copies of the static files for WhiteNoise (fast, idempotent).
        call_command("collectstatic", interactive=False, verbosity=0)
        children: list[subprocess.Popen[bytes]] = [subprocess.Popen(web_cmd)]
        if not no_worker:
            children.append(subprocess.Popen([sys.executable, "-m", "mairie", "worker"]))
        self.stdout.write(f"Mairie écoute sur http://{host}:{port}/ (Ctrl+C pour arrêter).")

        stopping = False

        def stop(signum: int, frame: Any) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and all(child.poll() is None for child in children):
                time.sleep(0.5)
        finally:
            for child in children:
                if child.poll() is None:
                    child.terminate()
            deadline = time.monotonic() + 20
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.kill()
        failed = [c for c in children if c.returncode not in (0, -signal.SIGTERM, None)]
        if failed and not stopping:
            sys.exit(1)
