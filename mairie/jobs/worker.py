"""``mairie worker``: django-tasks-db's worker, plus heartbeat, crash recovery and periodic duties."""

from __future__ import annotations

import logging
import time

from django.db import close_old_connections
from django.db.utils import OperationalError
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from mairie.jobs.services import Heart, PeriodicRunner, beat, recover_interrupted

logger = logging.getLogger("mairie.jobs")


class MairieWorker(Worker):
    def _claim(self) -> tuple[DBTaskResult | None, bool]:
        tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        if not self.process_all_queues:
            tasks = tasks.filter(queue_name__in=self.queue_names)
        try:
            with exclusive_transaction(tasks.db):
                task_result = tasks.get_locked()
                if task_result is not None:
                    task_result.claim(self.worker_id)
                return task_result, True
        except OperationalError as exc:
            if is_locked_database_exception(exc):
                return None, False
            raise

    def run(self) -> None:
        logger.info("Travailleur %s démarré (files : %s).", self.worker_id, ",".join(self.queue_names))
        beat(self.worker_id, started=True)
        heart = Heart(self.worker_id)
        heart.start()
        periodic = PeriodicRunner()
        try:
            recover_interrupted()
            periodic.run_due(force=True)
            while self.running:
                close_old_connections()
                task_result, retrieved = self._claim()
                if task_result is not None:
                    self.run_task(task_result)
                    continue
                if self.batch and retrieved:
                    logger.info("File vide : le travailleur %s s'arrête.", self.worker_id)
                    return
                if self.max_tasks is not None and self._run_tasks >= self.max_tasks:
                    return
                periodic.run_due()
                if not self.batch:
                    recover_interrupted()
                    time.sleep(self.interval)
        finally:
            heart.stop()
            close_old_connections()
            try:
                beat(self.worker_id, stopped=True)
            except Exception as exc:
                logger.warning("Arrêt du travailleur non enregistré : %s", exc)
