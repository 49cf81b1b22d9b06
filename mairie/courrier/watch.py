"""The scan folder: a scanner drops files in ``MAIRIE_WATCH_DIR/<org-slug>/``; each becomes a courrier.

A file is moved out (to ``.enregistres/``) only after its courrier is committed. The registration records
the file's name and SHA-256 as an intake key in the same transaction, so a crash between the commit and
the move registers nothing twice: the next pass finds the key and only moves the file.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError

from mairie.courrier.batch import SPLITTABLE
from mairie.courrier.models import Channel, Status
from mairie.courrier.services import (
    IncomingFile,
    RegistrationRefused,
    check_files,
    log_refusals,
    register_courrier,
)
from mairie.documents.checks import CheckedFile
from mairie.jobs.services import periodic
from mairie.organisations.models import Organisation

logger = logging.getLogger("mairie.courrier")

DONE_DIR = ".enregistres"
REFUSED_DIR = ".refuses"
# A file changed more recently than this may still be being written by the scanner.
SETTLE_SECONDS = 2.0
# Refusals that say nothing about the file (the antivirus did not answer): try again later.
TEMPORARY_REFUSALS = {"antivirus_unavailable"}
# Folders named after no active organisation, already reported (once per process, not every pass).
_warned_unknown: set[str] = set()


def _unique_target(folder: Path, name: str) -> Path:
    folder.mkdir(exist_ok=True)
    target = folder / name
    counter = 1
    while target.exists():
        target = folder / f"{Path(name).stem}-{counter}{Path(name).suffix}"
        counter += 1
    return target


def _move(path: Path, folder: Path, name: str) -> Path:
    target = _unique_target(folder, name)
    shutil.move(str(path), target)
    return target


def is_settled(path: Path, now: float) -> bool:
    """True when nothing has written to the file for SETTLE_SECONDS.

    The change time counts as well as the modification time: a copy that preserves the original's
    modification time (Windows Explorer, ``cp -p``, rsync) has an old mtime from its first byte, but
    every write moves its ctime, which no tool can set back.
    """
    info = path.stat()
    return now - max(info.st_mtime, info.st_ctime) >= SETTLE_SECONDS


def ingest_watched_file(organisation: Organisation, path: Path) -> str:
    """Register one dropped file; return its chrono, "refused" or "deferred".

    Must run outside any transaction: the file leaves the folder only once its courrier is committed.
    If the process dies between the commit and the move, the next pass finds the intake key (file name
    and SHA-256, written in the same transaction as the courrier) and only moves the file.
    """
    checked, refused = check_files([IncomingFile(path, path.name)])
    if refused and refused[0][1].code in TEMPORARY_REFUSALS:
        # The file itself is fine as far as we know: it waits in the folder for the next pass.
        logger.warning("Fichier déposé %s laissé en attente : %s", path, refused[0][1].message)
        return "deferred"
    if refused:
        log_refusals(organisation=organisation, actor=None, refusals=refused)
        target = _move(path, path.parent / REFUSED_DIR, path.name)
        target.with_name(target.name + ".motif.txt").write_text(
            refused[0][1].message + "\n", encoding="utf-8"
        )
        logger.warning("Fichier déposé refusé %s : %s", path, refused[0][1].message)
        return "refused"
    key = ("watch", f"{path.name}:{checked[0].sha256}")
    if checked[0].mime_type in SPLITTABLE and (checked[0].page_count or 0) > 1:
        return _ingest_batch(organisation, path, checked[0], key)
    try:
        courrier = register_courrier(
            organisation=organisation,
            actor=None,
            checked=checked,
            channel=Channel.SCAN,
            status=Status.A_ENREGISTRER,
            intake_key=key,
        )
    except IntegrityError:  # another worker registered it at the same instant
        courrier = register_courrier(organisation=organisation, actor=None, checked=checked, intake_key=key)
    except RegistrationRefused:
        return "refused"
    _move(path, path.parent / DONE_DIR, f"{courrier.chrono}_{path.name}")
    return courrier.chrono or ""


def _ingest_batch(organisation: Organisation, path: Path, checked: CheckedFile, key: tuple[str, str]) -> str:
    """A multi-page scan: split on the platform's separator sheets when it has some, else one courrier.

    Idempotent like a single file: the parts carry the batch's intake keys, a file without separator
    the folder's own key; the chronos are returned comma-separated.
    """
    from mairie.courrier.batch import register_batch

    def attempt() -> list[str]:
        result = register_batch(
            organisation=organisation,
            actor=None,
            checked=checked,
            split="separators",
            single_intake_key=key,
            channel=Channel.SCAN,
            status=Status.A_ENREGISTRER,
        )
        for warning in result.warnings:
            logger.warning("Fichier déposé %s : %s", path, warning)
        return [c.chrono or "" for c in result.courriers]

    try:
        try:
            chronos = attempt()
        except IntegrityError:  # another worker registered it at the same instant
            chronos = attempt()
    except RegistrationRefused as exc:  # e.g. nothing but separator sheets: it would never change
        target = _move(path, path.parent / REFUSED_DIR, path.name)
        target.with_name(target.name + ".motif.txt").write_text(
            exc.refusals[0][1].message + "\n", encoding="utf-8"
        )
        return "refused"
    _move(path, path.parent / DONE_DIR, f"{chronos[0]}_{path.name}")
    return ", ".join(chronos)


def scan_watch_dir(root: str | None = None) -> list[str]:
    root = root if root is not None else settings.WATCH_DIR
    if not root:
        return []
    base = Path(root)
    if not base.is_dir():
        logger.warning("Dossier de numérisation introuvable : %s", base)
        return []
    results: list[str] = []
    now = time.time()
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        organisation = Organisation.objects.filter(slug=folder.name, is_active=True).first()
        if organisation is None:
            if folder.name in _warned_unknown:
                continue
            _warned_unknown.add(folder.name)
            logger.warning(
                "Dossier de numérisation %s ignoré : aucune organisation active « %s ».", folder, folder.name
            )
            continue
        for path in sorted(folder.iterdir()):
            if not path.is_file() or path.name.startswith("."):
                continue
            try:
                if not is_settled(path, now):
                    continue
                results.append(ingest_watched_file(organisation, path))
            except Exception:
                # One file must not stop the others (a full disk, a file vanished, a move refused): it
                # stays in place and is tried again on the next pass, without a duplicate.
                logger.exception("Fichier déposé %s non traité ; nouvel essai au prochain passage.", path)
                results.append("error")
    return results


@periodic("scan-folder", every=5.0)
def _scan_watch_dir_duty() -> None:
    scan_watch_dir()
