"""The processing job is idempotent, its failures are visible and retryable, and it survives a killed worker."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from mairie.courrier.models import Courrier
from mairie.courrier.services import IncomingFile, register_courrier
from mairie.demo.letters import make_letter
from mairie.demo.scans import images_to_scanned_pdf, render_page
from mairie.documents import store
from mairie.documents.models import Document, Rendition, StoredFile
from mairie.documents.services import MAX_INTERRUPTED_ATTEMPTS, process_document
from mairie.documents.tests import samples
from mairie.jobs.models import WorkerHeartbeat
from mairie.search.services import search_courriers

pytestmark = pytest.mark.slow


def _register_scan(world: Any, make_file: Any, content: bytes, name: str = "scan.pdf") -> Document:
    courrier = register_courrier(
        organisation=world.commune,
        actor=world.secretary,
        files=[IncomingFile(make_file(name, content), name)],
    )
    return Document.objects.get(courrier=courrier)


def _small_scan() -> bytes:
    return samples.scan_pdf(
        [samples.text_image(["Demande de stationnement", "pour un déménagement rue de l'Église"])]
    )


def _renditions(document: Document) -> list[tuple[Any, ...]]:
    # Not the sizes: the searchable PDF differs by a few bytes from run to run (pikepdf names the
    # overlaid text layer at random).
    return list(
        Rendition.objects.filter(document=document).order_by("kind").values_list("pk", "kind", "path")
    )


def test_processing_twice_gives_the_same_renditions_and_no_duplicate(world, make_file, storage_dir) -> None:
    document = _register_scan(world, make_file, _small_scan())
    assert process_document(document.pk) == "done"
    first = _renditions(document)
    assert [kind for _, kind, _ in first] == ["pdf", "text", "thumbnail"]
    stored = samples.files_under(storage_dir)
    assert len(stored) == 4  # the original and three renditions

    assert process_document(document.pk) == "already-done"
    # A worker that died after writing some renditions leaves the document "processing": run it again.
    Document.objects.filter(pk=document.pk).update(status=Document.Status.PROCESSING)
    assert process_document(document.pk) == "done"

    assert _renditions(document) == first
    assert samples.files_under(storage_dir) == stored
    assert Document.objects.count() == 1
    assert Courrier.objects.count() == 1
    hits = search_courriers(organisation=world.commune, query="déménagement").hits
    assert [hit.courrier.pk for hit in hits] == [document.courrier_id]


def test_document_interrupted_too_often_is_failed_not_retried_forever(world, make_file, storage_dir) -> None:
    # A scan that kills its worker (out of memory…) each time must not loop for ever.
    document = _register_scan(world, make_file, _small_scan())
    Document.objects.filter(pk=document.pk).update(
        status=Document.Status.PROCESSING, attempts=MAX_INTERRUPTED_ATTEMPTS
    )
    assert process_document(document.pk) == "failed"
    document.refresh_from_db()
    assert document.status == Document.Status.FAILED
    assert f"interrompu {MAX_INTERRUPTED_ATTEMPTS} fois" in document.error
    assert not Rendition.objects.filter(document=document).exists()


@pytest.mark.django_db(transaction=True)
def test_failed_job_is_shown_to_admins_and_retried_from_the_page(
    settings, world, make_file, run_jobs, client, as_user
) -> None:
    settings.OCR_LANGUAGE = "langue_inexistante"
    document = _register_scan(world, make_file, _small_scan(), "demande.pdf")
    run_jobs()
    document.refresh_from_db()
    assert document.status == Document.Status.FAILED
    assert "La reconnaissance de texte a échoué" in document.error
    assert "langue_inexistante" in document.error
    chrono = document.courrier.chrono

    page_url = f"/o/{world.commune.slug}/traitements/"
    retry_url = f"/o/{world.commune.slug}/traitements/{document.pk}/relancer/"

    as_user(world.agent)
    assert client.get(page_url).status_code in (403, 404)
    assert client.post(retry_url).status_code in (403, 404)
    document.refresh_from_db()
    assert document.status == Document.Status.FAILED

    as_user(world.commune_admin)
    page = client.get(page_url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "En échec (1)" in html
    assert "demande.pdf" in html and chrono in html
    assert "La reconnaissance de texte a échoué" in html
    assert "Relancer" in html

    settings.OCR_LANGUAGE = "fra"  # the administrator fixes the cause, then retries
    response = client.post(retry_url)
    assert response.status_code == 302
    assert response["Location"] == page_url
    document.refresh_from_db()
    assert document.status == Document.Status.PENDING
    run_jobs()

    document.refresh_from_db()
    assert document.status == Document.Status.DONE, document.error
    assert document.attempts == 2
    assert "déménagement" in document.text
    html = client.get(page_url).content.decode()
    assert "En échec (0)" in html and "Aucun échec." in html
    actions = list(
        world.commune.audit_entries.filter(object_id=str(document.pk)).values_list("action", flat=True)
    )
    assert "document.retry" in actions and "document.processed" in actions


def test_agent_of_other_commune_cannot_retry(world, make_file, client, as_user, storage_dir) -> None:
    document = _register_scan(world, make_file, _small_scan())
    Document.objects.filter(pk=document.pk).update(status=Document.Status.FAILED, error="essai")
    as_user(world.other_agent)
    assert client.post(f"/o/{world.commune.slug}/traitements/{document.pk}/relancer/").status_code == 404
    as_user(world.commune_admin)
    # The document id through another organisation's URL is not found either.
    assert (
        client.post(f"/o/{world.other_commune.slug}/traitements/{document.pk}/relancer/").status_code == 404
    )
    document.refresh_from_db()
    assert document.status == Document.Status.FAILED


# --- A real worker process, killed in the middle of an OCR ------------------------------------------------


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": _database_url(),
            "MAIRIE_DATA_DIR": str(django_settings.DATA_DIR),
            "MAIRIE_WORKER_POLL": "0.2",
            "MAIRIE_LOG_LEVEL": "WARNING",
            "OMP_THREAD_LIMIT": "1",
        }
    )
    return env


def _two_page_scan() -> bytes:
    """Two full A4 pages at 300 dpi: a few seconds of OCR, time enough to kill the worker during it."""
    _, letter = make_letter(4)
    lines = [(line, 220, 260 + 70 * i) for i, line in enumerate(letter.full_text.split("\n")[:30])]
    return images_to_scanned_pdf([render_page(lines, seed=seed) for seed in (1, 2)])


def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} : toujours pas après {timeout} s")
        time.sleep(0.05)


def _processes_of_group(group: int) -> dict[int, str]:
    """pid → command name of every process (zombies aside) in a process group, read from /proc."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, the last ")" ends it.
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == group and fields[0] != "Z":
            found[int(entry.name)] = stat[stat.index("(") + 1 : stat.rindex(")")]
    return found


_PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


@contextmanager
def _adopting_orphans() -> Iterator[None]:
    """Make this process the one orphans of its descendants are given to, so it can see how they end."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    if prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    try:
        yield
    finally:
        prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def _wait_for_end(pid: int, timeout: float) -> int | None:
    """Reap the adopted process ``pid``: its wait status, or None if it still runs after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reaped, status = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            return status
        time.sleep(0.01)
    return None


@pytest.mark.django_db(transaction=True)
def test_killed_worker_leaves_a_courrier_that_the_next_worker_completes(world, make_file, tmp_path) -> None:
    document = _register_scan(world, make_file, _two_page_scan(), "liasse.pdf")
    mairie = [sys.executable, "-m", "mairie", "worker"]
    log = (tmp_path / "worker.log").open("wb")
    # The kill hits the worker alone, as the OOM killer or a crash does: the Tesseract it started must die
    # with it, not run on orphaned. This test adopts the orphan to learn how it ended: killed at once, or
    # later by SIGPIPE at its next progress line (the pipe's reader is dead), or at the end of its work.
    # Own process group: the clean-up in ``finally`` kills whatever is left.
    tesseract = 0
    with _adopting_orphans():
        worker = subprocess.Popen(
            mairie, env=_worker_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_for(
                lambda: Document.objects.filter(pk=document.pk, status=Document.Status.PROCESSING).exists(),
                90,
                "le travailleur n'a pas commencé le document",
            )
            _wait_for(
                lambda: "tesseract" in _processes_of_group(worker.pid).values(),
                90,
                "le travailleur n'a pas lancé Tesseract",
            )
            [tesseract] = [
                pid for pid, name in _processes_of_group(worker.pid).items() if name == "tesseract"
            ]
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
            status = _wait_for_end(tesseract, 30)
            assert status is not None, "Tesseract tourne encore, orphelin, 30 s après la mort du travailleur"
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (
                f"Tesseract a survécu au travailleur, puis s'est terminé seul (statut {status})"
            )
            assert _processes_of_group(worker.pid) == {}
        finally:
            if worker.poll() is None or _processes_of_group(worker.pid):
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            if tesseract:  # adopted above and, after a failure, not reaped yet
                with suppress(ChildProcessError):
                    os.waitpid(tesseract, 0)
            log.close()
    assert worker.returncode == -signal.SIGKILL

    document.refresh_from_db()
    assert document.status == Document.Status.PROCESSING
    assert not Rendition.objects.filter(document=document).exists()
    [job] = DBTaskResult.objects.filter(task_path__endswith="process_document_task")  # not the suggestions
    assert job.status == TaskResultStatus.RUNNING
    killed_id = job.worker_ids[-1]
    assert WorkerHeartbeat.objects.get(worker_id=killed_id).stopped_at is None  # it never said goodbye

    burst = subprocess.run(
        [*mairie, "--burst"], env=_worker_env(), capture_output=True, text=True, timeout=300
    )
    assert burst.returncode == 0, burst.stdout + burst.stderr

    document.refresh_from_db()
    assert document.status == Document.Status.DONE, document.error
    assert document.attempts == 2
    assert document.page_count == 2
    assert "Madame le Maire" in document.text
    assert Courrier.objects.count() == 1
    assert Document.objects.count() == 1
    assert StoredFile.objects.count() == 1
    assert sorted(Rendition.objects.filter(document=document).values_list("kind", flat=True)) == [
        "pdf",
        "text",
        "thumbnail",
    ]
    for rendition in Rendition.objects.filter(document=document):
        assert store.exists(rendition.path)
    [job] = DBTaskResult.objects.filter(task_path__endswith="process_document_task")
    assert job.status == TaskResultStatus.SUCCESSFUL
    assert job.worker_ids[0] == killed_id and len(job.worker_ids) == 2
    assert WorkerHeartbeat.objects.get(worker_id=job.worker_ids[-1]).stopped_at is not None
