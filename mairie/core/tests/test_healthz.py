"""/healthz: JSON state of the database, the file storage and the job worker, for monitoring."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from mairie.jobs.models import WorkerHeartbeat
from mairie.jobs.services import beat

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_storage_and_missing_worker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    report = response.json()
    assert report["status"] == "ok"
    assert report["database"] == {"status": "ok", "vendor": connection.vendor}
    assert report["storage"] == {"status": "ok"}
    assert report["worker"] == {"status": "absent", "last_heartbeat": None}


def test_healthz_reports_the_last_heartbeat_of_a_running_worker(client):
    beat("worker-1", started=True)
    report = client.get("/healthz").json()
    assert report["worker"]["status"] == "ok"
    seen = dt.datetime.fromisoformat(report["worker"]["last_heartbeat"])
    assert abs((timezone.now() - seen).total_seconds()) < 5
    assert report["worker"]["age_seconds"] < 5
    assert report["worker"]["hostname"]


def test_healthz_says_stale_when_the_worker_stopped_beating(client, settings):
    beat("worker-1", started=True)
    WorkerHeartbeat.objects.update(
        last_seen=timezone.now() - dt.timedelta(seconds=settings.WORKER_STALE_SECONDS + 5)
    )
    report = client.get("/healthz").json()
    assert report["worker"]["status"] == "stale"
    assert report["worker"]["age_seconds"] > settings.WORKER_STALE_SECONDS


def test_healthz_is_503_when_the_storage_is_broken(client, settings, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the storage expects a directory: unwritable, even for root")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocker / "files")},
        },
    }
    response = client.get("/healthz")
    assert response.status_code == 503
    report = response.json()
    assert report["status"] == "error"
    assert report["storage"]["status"] == "error"
    assert report["storage"]["error"]
    assert report["database"]["status"] == "ok"


def test_healthz_needs_no_login_and_reveals_no_organisation(client, world):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert world.commune.slug not in response.content.decode()
