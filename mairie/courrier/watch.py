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

from mairie.courrier.models import Channel, Status
from mairie.courrier.services import (
    IncomingFile,
    RegistrationRefused,
    check_files,
    log_refusals,
    register_courrier,
)
from mairie.jobs.services import periodic
from mairie.organisations.models import Organisation

logger = logging.getLogger("mairie.courrier")

DONE_DIR = ".enregistres"
REFUSED_DIR = ".refuses"
# A file younger than this may still be being written by the scanner.
SETTLE_SECONDS = 2.0


def _unique_target(folder: Path, name: str) -> Path:
    folder.mkdir(exist_ok=True)
    target = folder / name
    counter = 1
    while target.exists():
        target = folder / f"{Path(name).stem}-{counter}{Path(name).suffix}"
        counter += 1
    return target


def ingest_watched_file(organisation: Organisation, path: Path) -> str:
    """Register one dropped file; return its chrono, or "refused"."""
    checked, refused = check_files([IncomingFile(path, path.name)])
    if refused:
        log_refusals(organisation=organisation, actor=None, refusals=refused)
        target = _unique_target(path.parent / REFUSED_DIR, path.name)
        shutil.move(str(path), target)
        target.with_name(target.name + ".motif.txt").write_text(
            refused[0][1].message + "\n", encoding="utf-8"
        )
        logger.warning("Fichier déposé refusé %s : %s", path, refused[0][1].message)
        return "refused"
    key = ("watch", f"{path.name}:{checked[0].sha256}")
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
    shutil.move(str(path), _unique_target(path.parent / DONE_DIR, f"{courrier.chrono}_{path.name}"))
    return courrier.chrono


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
            continue
        for path in sorted(folder.iterdir()):
            if not path.is_file() or path.name.startswith("."):
                continue
            if now - path.stat().st_mtime < SETTLE_SECONDS:
                continue
            results.append(ingest_watched_file(organisation, path))
    return results


@periodic("scan-folder", every=5.0)
def _scan_watch_dir_duty() -> None:
    scan_watch_dir()
