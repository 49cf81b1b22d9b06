"""The scan folder: files dropped in <MAIRIE_WATCH_DIR>/<slug>/ become courriers, once and only once."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from mairie.audit.models import AuditEntry
from mairie.courrier import watch
from mairie.courrier.models import Channel, Courrier, IntakeKey, Status
from mairie.documents.models import Document, StoredFile
from mairie.documents.tests import samples
from mairie.documents.tests.conftest import _free_port, storage_dir

__all__ = ["storage_dir"]  # fixture shared with the document tests

Drop = Callable[..., Path]


@pytest.fixture
def watch_root(settings: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "numerisation"
    (root / "saint-aubin").mkdir(parents=True)
    settings.WATCH_DIR = str(root)
    # Files written by the test are complete at once; the settling delay has its own test.
    monkeypatch.setattr(watch, "SETTLE_SECONDS", 0.0)
    return root


@pytest.fixture
def drop(watch_root: Path) -> Drop:
    def _drop(name: str, content: bytes, folder: str = "saint-aubin") -> Path:
        path = watch_root / folder / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content)
        return path

    return _drop


def _letter(text_pdf: Any, words: str = "Demande de raccordement électrique") -> bytes:
    return text_pdf(words)


def _committed_courriers() -> int:
    """Courriers seen from another connection, i.e. committed ones."""
    counts: list[int] = []

    def look() -> None:
        try:
            counts.append(Courrier.objects.count())
        finally:
            connections.close_all()

    thread = threading.Thread(target=look)
    thread.start()
    thread.join()
    return counts[0]


@pytest.mark.django_db(transaction=True)
def test_dropped_file_becomes_a_courrier_to_register_and_leaves_only_after_commit(
    world, drop, watch_root, text_pdf, storage_dir, monkeypatch
) -> None:
    content = _letter(text_pdf)
    path = drop("scan_0001.pdf", content)
    committed_at_move: list[int] = []
    real_move = watch._move

    def move_noting_what_is_committed(source: Path, folder: Path, name: str) -> Path:
        committed_at_move.append(_committed_courriers())
        return real_move(source, folder, name)

    monkeypatch.setattr(watch, "_move", move_noting_what_is_committed)

    [chrono] = watch.scan_watch_dir()

    courrier = Courrier.objects.get()
    assert courrier.chrono == chrono and chrono.endswith("-A-000001")
    assert courrier.status == Status.A_ENREGISTRER
    assert courrier.channel == Channel.SCAN
    assert courrier.created_by is None
    assert committed_at_move == [1]  # the courrier was committed before the file was moved
    assert not path.exists()
    moved = watch_root / "saint-aubin" / ".enregistres" / f"{chrono}_scan_0001.pdf"
    assert moved.read_bytes() == content
    document = Document.objects.get(courrier=courrier)
    assert document.original_name == "scan_0001.pdf"
    assert AuditEntry.objects.filter(organisation=world.commune, action="courrier.registered").count() == 1
    assert watch.scan_watch_dir() == []  # nothing left to do


def test_refused_file_goes_to_refuses_with_its_reason(world, drop, watch_root, storage_dir) -> None:
    path = drop("scan_0002.pdf", samples.windows_executable())
    assert watch.scan_watch_dir() == ["refused"]
    refused = watch_root / "saint-aubin" / ".refuses" / "scan_0002.pdf"
    assert refused.read_bytes() == samples.windows_executable()
    reason = (watch_root / "saint-aubin" / ".refuses" / "scan_0002.pdf.motif.txt").read_text(encoding="utf-8")
    assert "n'est pas accepté" in reason and "programme exécutable Windows" in reason
    assert not path.exists()
    assert Courrier.objects.count() == 0
    assert StoredFile.objects.count() == 0
    assert samples.files_under(storage_dir) == []
    entry = AuditEntry.objects.get(organisation=world.commune, action="intake.refused.type")
    assert entry.actor is None and "scan_0002.pdf" in entry.summary


def test_second_refused_file_of_the_same_name_does_not_overwrite_the_first(drop, watch_root, world) -> None:
    drop("scan.pdf", b"")
    watch.scan_watch_dir()
    drop("scan.pdf", samples.windows_executable())
    watch.scan_watch_dir()
    refused = sorted(p.name for p in (watch_root / "saint-aubin" / ".refuses").iterdir())
    assert refused == ["scan-1.pdf", "scan-1.pdf.motif.txt", "scan.pdf", "scan.pdf.motif.txt"]


def test_crash_between_commit_and_move_leaves_exactly_one_courrier(
    world, drop, watch_root, text_pdf, storage_dir
) -> None:
    first = drop("a.pdf", _letter(text_pdf, "Premier courrier déposé"))
    second = drop("b.pdf", _letter(text_pdf, "Second courrier déposé"))
    # A plain file where the ".enregistres" folder should be: every move fails after the commit, as if
    # the process had died between the two.
    blocker = watch_root / "saint-aubin" / ".enregistres"
    blocker.write_text("")

    assert watch.scan_watch_dir() == ["error", "error"]  # one failure does not stop the other file
    chronos = list(Courrier.objects.order_by("number").values_list("chrono", flat=True))
    assert len(chronos) == 2
    assert first.exists() and second.exists()

    blocker.unlink()
    assert watch.scan_watch_dir() == chronos  # found by their intake keys, only moved this time
    assert list(Courrier.objects.order_by("number").values_list("chrono", flat=True)) == chronos
    assert Document.objects.count() == 2
    assert IntakeKey.objects.count() == 2
    assert not first.exists() and not second.exists()
    done = sorted(p.name for p in (watch_root / "saint-aubin" / ".enregistres").iterdir())
    assert done == [f"{chronos[0]}_a.pdf", f"{chronos[1]}_b.pdf"]
    assert watch.scan_watch_dir() == []


def test_file_still_being_written_is_left_alone(world, drop, text_pdf, monkeypatch) -> None:
    monkeypatch.setattr(watch, "SETTLE_SECONDS", 30.0)
    path = drop("en_cours.pdf", _letter(text_pdf))
    assert watch.scan_watch_dir() == []
    # A copy that keeps the original's modification time (Explorer, cp -p) is still being written.
    an_hour_ago = time.time() - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))
    assert watch.scan_watch_dir() == []
    assert path.exists()
    assert Courrier.objects.count() == 0

    monkeypatch.setattr(watch, "SETTLE_SECONDS", 0.0)
    assert len(watch.scan_watch_dir()) == 1
    assert not path.exists()


def test_unknown_folder_hidden_files_and_subfolders_are_ignored(world, drop, watch_root, text_pdf) -> None:
    stray = drop("lettre.pdf", _letter(text_pdf), folder="commune-inconnue")
    hidden = drop(".~scan.pdf", _letter(text_pdf))
    (watch_root / "saint-aubin" / "archives").mkdir()
    assert watch.scan_watch_dir() == []
    assert stray.exists() and hidden.exists()
    assert Courrier.objects.count() == 0


def test_inactive_organisation_folder_is_ignored(world, drop, text_pdf) -> None:
    world.other_commune.is_active = False
    world.other_commune.save(update_fields=["is_active"])
    path = drop("lettre.pdf", _letter(text_pdf), folder="villeneuve")
    assert watch.scan_watch_dir() == []
    assert path.exists()


def test_file_waits_in_the_folder_while_the_antivirus_is_unreachable(
    settings, world, drop, watch_root, text_pdf
) -> None:
    settings.CLAMD = f"127.0.0.1:{_free_port()}"
    path = drop("lettre.pdf", _letter(text_pdf))
    assert watch.scan_watch_dir() == ["deferred"]
    assert path.exists()
    assert not (watch_root / "saint-aubin" / ".refuses").exists()
    assert Courrier.objects.count() == 0

    settings.CLAMD = ""
    assert watch.scan_watch_dir()[0].endswith("-A-000001")


def test_same_file_dropped_again_is_not_registered_twice(world, drop, text_pdf) -> None:
    content = _letter(text_pdf)
    drop("scan.pdf", content)
    [chrono] = watch.scan_watch_dir()
    drop("scan.pdf", content)
    assert watch.scan_watch_dir() == [chrono]
    assert Courrier.objects.count() == 1


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_registers_dropped_scans_and_reads_them(world, drop, run_jobs) -> None:
    drop("scan.pdf", samples.scan_pdf([samples.text_image(["Avis de passage", "du géomètre"])]))
    run_jobs()  # the worker's periodic duty finds the file, then runs the OCR job it queued
    courrier = Courrier.objects.get()
    assert courrier.status == Status.A_ENREGISTRER
    document = Document.objects.get(courrier=courrier)
    assert document.status == Document.Status.DONE, document.error
    assert "géomètre" in document.text
