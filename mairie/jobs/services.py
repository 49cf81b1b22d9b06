"""The job worker around django-tasks-db: heartbeat, recovery of interrupted jobs, periodic duties."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from mairie.jobs.models import WorkerHeartbeat

logger = logging.getLogger("mairie.jobs")

# Periodic duties run by every worker between jobs: name → (interval in seconds, function).
PERIODIC: dict[str, tuple[float, Callable[[], object]]] = {}


def periodic(name: str, every: float) -> Callable[[Callable[[], object]], Callable[[], object]]:
    def register(func: Callable[[], object]) -> Callable[[], object]:
        PERIODIC[name] = (every, func)
        return func

    return register


def beat(worker_id: str, *, started: bool = False, stopped: bool = False) -> None:
    now = timezone.now()
    defaults = {"hostname": socket.gethostname(), "pid": os.getpid(), "last_seen": now}
    if started:
        defaults.update({"started_at": now, "stopped_at": None})
    if stopped:
        defaults["stopped_at"] = now
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id, defaults=defaults, create_defaults={**defaults, "started_at": now}
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_worker_ids() -> set[str]:
    """Workers that will not finish what they started: stopped, silent for too long, or gone (same host)."""
    stale_before = timezone.now() - timedelta(seconds=settings.WORKER_STALE_SECONDS)
    host = socket.gethostname()
    dead: set[str] = set()
    for hb in WorkerHeartbeat.objects.all():
        if (
            hb.stopped_at is not None
            or hb.last_seen < stale_before
            or (hb.hostname == host and hb.pid != os.getpid() and not _pid_alive(hb.pid))
        ):
            dead.add(hb.worker_id)
    return dead


def recover_interrupted() -> int:
    """Put back in the queue the jobs whose worker died while running them. Jobs are idempotent."""
    dead = dead_worker_ids()
    requeued = 0
    for result in DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING):
        owner = result.worker_ids[-1] if result.worker_ids else ""
        known = WorkerHeartbeat.objects.filter(worker_id=owner).exists()
        if owner in dead or not known:
            requeued += DBTaskResult.objects.filter(pk=result.pk, status=TaskResultStatus.RUNNING).update(
                status=TaskResultStatus.READY, started_at=None
            )
            logger.warning("Tâche %s reprise (travailleur %s interrompu).", result.pk, owner or "inconnu")
    return requeued


def last_heartbeat() -> WorkerHeartbeat | None:
    return WorkerHeartbeat.objects.filter(stopped_at__isnull=True).order_by("-last_seen").first()


class Heart(threading.Thread):
    """Beats in the background while a job runs (a 10-minute OCR must not look like a dead worker)."""

    def __init__(self, worker_id: str) -> None:
        super().__init__(daemon=True, name="mairie-heartbeat")
        self.worker_id = worker_id
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(settings.WORKER_HEARTBEAT_SECONDS):
            try:
                beat(self.worker_id)
            except Exception as exc:
                logger.warning("Battement de cœur impossible : %s", exc)
            finally:
                connection.close()

    def stop(self) -> None:
        self.stopping.set()


class PeriodicRunner:
    def __init__(self) -> None:
        self.last_run: dict[str, float] = {}

    def run_due(self, *, force: bool = False) -> None:
        now = time.monotonic()
        for name, (every, func) in PERIODIC.items():
            if force or now - self.last_run.get(name, -1e9) >= every:
                self.last_run[name] = now
                try:
                    func()
                except Exception:
                    logger.exception("Tâche périodique %s en échec", name)
                finally:
                    close_old_connections()
