from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    """One row per running job worker; /healthz and the recovery of interrupted jobs read it."""

    worker_id = models.CharField(max_length=64, unique=True)
    hostname = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)
    current_task = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"{self.worker_id} ({self.hostname}:{self.pid})"
