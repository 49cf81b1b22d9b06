"""The document store: content-addressed originals and their renditions, through Django's storage API."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import IntegrityError, transaction

from mairie.documents.checks import CheckedFile
from mairie.documents.models import StoredFile

logger = logging.getLogger("mairie.documents")


def original_path(sha256: str) -> str:
    return f"originals/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def rendition_path(sha256: str, name: str) -> str:
    return f"renditions/{sha256[:2]}/{sha256[2:4]}/{sha256}/{name}"


def _local_path(name: str) -> Path | None:
    if isinstance(default_storage, FileSystemStorage):
        return Path(default_storage.path(name))
    return None


def put(name: str, source: Path | IO[bytes]) -> None:
    """Write ``name`` in the store, replacing it atomically if it exists."""
    local = _local_path(name)
    if local is not None:
        local.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=local.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(source, Path):
                    with source.open("rb") as src:
                        shutil.copyfileobj(src, out, 1024 * 1024)
                else:
                    shutil.copyfileobj(source, out, 1024 * 1024)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o640)
            os.replace(tmp, local)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return
    if isinstance(source, Path):
        with source.open("rb") as src:
            saved = default_storage.save(name, File(src))
    else:
        saved = default_storage.save(name, File(source))
    if saved != name:
        # A storage that renames instead of overwriting (django-storages without file_overwrite) would
        # break content addressing: the database would point to a name that holds other bytes, or none.
        default_storage.delete(saved)
        raise RuntimeError(f"Le stockage a enregistré « {name} » sous un autre nom ({saved}).")


def exists(name: str) -> bool:
    return default_storage.exists(name)


def delete(name: str) -> None:
    default_storage.delete(name)


def open_file(name: str) -> IO[bytes]:
    return default_storage.open(name, "rb")


@contextmanager
def local_copy(name: str, suffix: str = "") -> Iterator[Path]:
    """A path on local disk with the content of ``name`` (the file itself when storage is local)."""
    local = _local_path(name)
    if local is not None:
        yield local
        return
    with tempfile.TemporaryDirectory(prefix="mairie-") as tmp:
        target = Path(tmp) / f"file{suffix}"
        with default_storage.open(name, "rb") as src, target.open("wb") as out:
            shutil.copyfileobj(src, out, 1024 * 1024)
        yield target


def write_original(checked: CheckedFile) -> bool:
    """Put the bytes of a checked file in the store; True when this call wrote them."""
    name = original_path(checked.sha256)
    if exists(name):
        return False
    put(name, checked.path)
    return True


def stored_file_for(checked: CheckedFile) -> StoredFile:
    """The StoredFile row of a checked file (created if new); call inside the registering transaction."""
    existing = StoredFile.objects.filter(sha256=checked.sha256).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            created = StoredFile.objects.create(
                sha256=checked.sha256,
                size=checked.size,
                mime_type=checked.mime_type,
                path=original_path(checked.sha256),
            )
    except IntegrityError:  # registered at the same instant by another request
        return StoredFile.objects.get(sha256=checked.sha256)
    # Our uncommitted row now stops any discard_unreferenced() of this content until we end. One that
    # ran before it (a failed registration of the same bytes) may have removed the file this
    # registration found in place and did not write: put the bytes back.
    if not exists(created.path):
        put(created.path, checked.path)
    return created


class _KeepNothing(Exception):
    pass


def discard_unreferenced(sha256s: list[str]) -> None:
    """After a failed registration: remove originals this attempt wrote and nothing references.

    Another registration of the same bytes may be in flight: it found the file written by this attempt
    and relies on it. Inserting the content's row first settles it: the insert waits for a transaction
    that created the row (then fails if it committed), and while we hold it, one that starts waits for
    us and then puts the bytes back (see stored_file_for).
    """
    for sha in sha256s:
        name = original_path(sha)
        try:
            with transaction.atomic():
                StoredFile.objects.create(sha256=sha, size=0, mime_type="", path=name)
                delete(name)
                raise _KeepNothing  # the claim row goes away with the transaction
        except IntegrityError:
            continue  # a committed registration references these bytes: keep them
        except _KeepNothing:
            pass
        except Exception:  # never hide the error that made the registration fail
            logger.exception("Original %s non supprimé après un enregistrement en échec.", name)
