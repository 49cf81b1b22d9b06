"""Backup and restore of a whole platform: a database snapshot and every stored file, in one tar archive.

Order of a backup: the database snapshot first, the files second.
    Stored files are never modified once written: originals are content-addressed (their name is their
    SHA-256) and a rendition is written to storage *before* the row that points to it is committed. Files
    are only ever deleted when no row references them (the clean-up of a failed registration). So once the
    database snapshot is taken, every file it references is already in storage and stays there unchanged:
    copying the storage *afterwards* captures at least every file the snapshot needs. Files written while
    the copy runs (courriers registered during the backup) may be copied too; in the restored platform they
    are harmless orphans that no row points to. The other order would be wrong: a courrier registered
    between a file copy and a later database snapshot would be in the register without its documents.

    Neither step stops the platform: SQLite's online backup API copies the database in one step inside
    one read transaction (WAL mode lets writers go on meanwhile), and ``pg_dump`` reads one consistent
    snapshot (a repeatable-read transaction) without blocking writers.

Archive layout (a plain tar, or gzip-compressed when the output name ends in ``.gz`` / ``.tgz``)::

    database/mairie.sqlite3  or  database/mairie.pgdump   (pg_dump custom format)
    keys/encryption_key                                     (the generated encryption key, see below)
    files/<storage name>                                    (originals/…, renditions/…, logos/…)
    manifest.json                                           (last: format, database, SHA-256 of every member)

Restore goes into an empty platform only (no table in the database, no file in storage): it never merges
with or overwrites existing data. Files are restored first and checked against the manifest, then the
database; a restore that fails half-way leaves orphan files at worst, never a register without documents.
The database is then migrated: a backup taken by an older version of Mairie gets this version's schema. A
backup taken by a newer version (the manifest lists migrations this version does not know) is refused
before anything is written.

The secret key is not part of the backup, and nothing stored depends on it: it only signs sessions and
short-lived cookies, so after a restore under another key people simply log in again.

The encryption key is another matter: mailbox passwords, OAuth2 tokens and TOTP secrets are stored encrypted
with it (``mairie.core.crypto``), and are unreadable without it. A key generated in the data directory
(``MAIRIE_ENCRYPTION_KEYS`` unset) is part of the platform like its files: it goes in the archive
(``keys/encryption_key``, checked against the manifest like every member), and the restore puts it in the
target's data directory. Keys given in ``MAIRIE_ENCRYPTION_KEYS`` belong to the environment, not to the
data: they are left out (the backup command reminds the administrator to keep them) and the manifest says
which case it was (``"encryption_key": "included" | "environment"``). Whatever the case, once the database is
loaded the restore tries every encrypted value with the keys of the target and reports, in French, what it
cannot read and which key is needed. The archive therefore holds the key next to what it protects: it must be
kept as safe as the database (it is readable by its owner only).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.management import call_command
from django.db import OperationalError, connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

import mairie
from mairie.core import crypto

FORMAT = 1
MANIFEST = "manifest.json"
DB_MEMBERS = {"sqlite": "database/mairie.sqlite3", "postgresql": "database/mairie.pgdump"}
VENDOR_LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
CHUNK = 1024 * 1024
KEY_MEMBER = "keys/encryption_key"
KEY_INCLUDED, KEY_FROM_ENVIRONMENT = "included", "environment"  # manifest["encryption_key"]
KEY_REMINDER = (
    "Les clés de chiffrement viennent de MAIRIE_ENCRYPTION_KEYS : elles ne sont pas dans la sauvegarde ; "
    "conservez-les à part, sans elles les mots de passe des boîtes aux lettres et les secrets de double "
    "authentification seront illisibles après restauration."
)
# What the administrator reads when encrypted values cannot be decrypted after a restore.
SECRET_LABELS = {
    ("mail.Mailbox", "password"): "mots de passe de boîtes aux lettres",
    ("mail.Mailbox", "client_secret"): "secrets clients OAuth2 de boîtes aux lettres",
    ("mail.Mailbox", "refresh_token"): "jetons OAuth2 de boîtes aux lettres",
    ("accounts.TOTPDevice", "secret"): "secrets de double authentification (TOTP)",
}


class BackupError(Exception):
    """A backup or restore that cannot go on; the message is in French, meant for the administrator."""


@dataclass
class BackupReport:
    output: Path
    database: str
    files: int
    bytes: int
    seconds: float
    encryption_key: str = KEY_INCLUDED  # or KEY_FROM_ENVIRONMENT: not in the archive (KEY_REMINDER)


@dataclass
class RestoreReport:
    database: str
    files: int
    organisations: int
    courriers: int
    documents: int
    migrations: int = 0  # migrations applied after loading (a backup from an older version)
    missing_files: list[str] = field(default_factory=list)
    # Encrypted values the target's keys cannot read, per kind ("… : 2 sur 3"), and what to do (French).
    unreadable_secrets: list[str] = field(default_factory=list)
    unreadable_count: int = 0
    key_problem: str = ""
    # "restored" (the archive's key written to the data directory), "environment" (the target's
    # MAIRIE_ENCRYPTION_KEYS kept) or "absent" (no key in the archive: the target's own generated key).
    encryption_key: str = "absent"


# --- Helpers ------------------------------------------------------------------------------------------


class _HashingReader:
    """Wraps a binary stream; counts and hashes what is read through it (forward only: not seekable)."""

    def __init__(self, raw: IO[bytes], name: str = "") -> None:
        self.raw = raw
        self.name = name
        self.digest = hashlib.sha256()
        self.size = 0
        self.closed = False

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False


def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(time.time())
    info.mode = 0o600
    return info


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _vendor() -> str:
    vendor = connection.vendor
    if vendor not in DB_MEMBERS:
        raise BackupError(
            f"Base de données « {vendor} » non prise en charge : SQLite ou PostgreSQL seulement."
        )
    return vendor


def storage_names(directory: str = "") -> Iterator[str]:
    """Every file of the storage (local or S3), skipping the temporary files of writes in progress."""
    try:
        subdirs, files = default_storage.listdir(directory)
    except FileNotFoundError:
        return
    for name in sorted(files):
        if not name.startswith(".tmp-"):
            yield f"{directory}/{name}" if directory else name
    for sub in sorted(subdirs):
        yield from storage_names(f"{directory}/{sub}" if directory else sub)


def _open_sized(name: str) -> tuple[IO[bytes], int]:
    """Open a stored file and measure the open handle (a concurrent replace cannot change what we read)."""
    handle = default_storage.open(name, "rb")
    try:
        size = os.fstat(handle.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        size = int(handle.size)
    return handle, size


def applied_migrations() -> list[str]:
    """``app.migration`` names recorded in this database, sorted."""
    return sorted(f"{app}.{name}" for app, name in MigrationRecorder(connection).applied_migrations())


def _postgres_env() -> dict[str, str]:
    """libpq variables for pg_dump / pg_restore (the password never appears on a command line)."""
    params = connection.settings_dict
    env = dict(os.environ)
    for variable, key in (
        ("PGDATABASE", "NAME"),
        ("PGUSER", "USER"),
        ("PGPASSWORD", "PASSWORD"),
        ("PGHOST", "HOST"),
        ("PGPORT", "PORT"),
    ):
        if params.get(key):
            env[variable] = str(params[key])
    options = params.get("OPTIONS") or {}
    for option, variable in (("sslmode", "PGSSLMODE"), ("sslrootcert", "PGSSLROOTCERT")):
        if options.get(option):
            env[variable] = str(options[option])
    return env


def _run_pg_tool(command: list[str], what: str) -> None:
    if shutil.which(command[0]) is None:
        raise BackupError(
            f"{command[0]} est introuvable : installez le paquet Debian postgresql-client "
            "(voir scripts/system-deps.sh)."
        )
    result = subprocess.run(command, env=_postgres_env(), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        details = result.stderr.strip() or f"code de sortie {result.returncode}"
        raise BackupError(f"{what} a échoué : {details}")


def keys_from_environment() -> bool:
    """True when MAIRIE_ENCRYPTION_KEYS gives the keys (the generated key file is then not used)."""
    return bool(getattr(settings, "ENCRYPTION_KEYS", None))


def _key_file() -> Path:
    return Path(settings.DATA_DIR) / crypto.KEY_FILE_NAME


# --- Backup -------------------------------------------------------------------------------------------


def _key_to_archive() -> bytes | None:
    """The generated key file as stored, or None when the keys come from the environment (never archived)."""
    if keys_from_environment():
        return None
    crypto.configured_keys()  # a platform that never needed its key yet generates it now, as it would anyway
    return _key_file().read_bytes()


def _snapshot_sqlite(target: Path) -> None:
    source_path = str(connection.settings_dict["NAME"])
    source = sqlite3.connect(source_path, timeout=60)
    destination = sqlite3.connect(str(target))
    try:
        # pages=-1: everything in one step, i.e. inside one read transaction: a consistent snapshot even
        # while other processes write (WAL mode keeps them going).
        source.backup(destination, pages=-1)
        destination.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        check = destination.execute("PRAGMA quick_check").fetchone()[0]
    finally:
        destination.close()
        source.close()
    if check != "ok":
        raise BackupError(f"La copie de la base SQLite est incohérente ({check}) : sauvegarde abandonnée.")


def _snapshot_postgres(target: Path) -> None:
    _run_pg_tool(
        ["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={target}"],
        "pg_dump",
    )


def create_backup(output: Path) -> BackupReport:
    """Write a consistent snapshot of the database, then all stored files, to ``output`` (see module doc)."""
    started = time.monotonic()
    vendor = _vendor()
    output = output.expanduser().resolve()
    if isinstance(default_storage, FileSystemStorage):
        files_root = Path(default_storage.location).resolve()
        if output.is_relative_to(files_root):
            raise BackupError(
                f"L'archive ne peut pas être écrite dans le stockage de fichiers ({files_root}) : "
                "elle s'y sauvegarderait elle-même. Choisissez un autre répertoire."
            )
    output.parent.mkdir(parents=True, exist_ok=True)
    compressed = output.name.endswith((".gz", ".tgz"))
    partial = output.with_name(output.name + ".partial")
    members: list[dict[str, Any]] = []
    total = 0
    try:
        # The archive holds personal data and password hashes: readable by its owner only.
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        partial.chmod(0o600)
        with tempfile.TemporaryDirectory(dir=output.parent, prefix=".mairie-backup-") as tmp:
            snapshot = Path(tmp) / "database"
            # Just before the snapshot (an upgrade running meanwhile could add one the list lacks): the list
            # only lets a restore refuse an archive made by a newer version of Mairie.
            migrations = applied_migrations()
            if vendor == "sqlite":
                _snapshot_sqlite(snapshot)
            else:
                _snapshot_postgres(snapshot)
            with tarfile.open(partial, "w:gz") if compressed else tarfile.open(partial, "w") as tar:
                db_member = DB_MEMBERS[vendor]
                db_size = snapshot.stat().st_size
                with snapshot.open("rb") as db_file:
                    tar.addfile(_member(db_member, db_size), db_file)
                db_info = {"member": db_member, "size": db_size, "sha256": _sha256_of(snapshot)}
                snapshot.unlink()
                total += db_size
                key = _key_to_archive()
                key_info: dict[str, Any] = {}
                if key is not None:
                    tar.addfile(_member(KEY_MEMBER, len(key)), io.BytesIO(key))
                    key_info = {
                        "key_file": {
                            "member": KEY_MEMBER,
                            "size": len(key),
                            "sha256": hashlib.sha256(key).hexdigest(),
                        }
                    }
                # Files second: everything the snapshot references is already in storage (module doc).
                for name in storage_names():
                    try:
                        stored, size = _open_sized(name)
                    except FileNotFoundError:
                        continue  # an unreferenced file removed meanwhile (a failed registration's)
                    with stored:
                        reader = _HashingReader(stored)
                        tar.addfile(_member(f"files/{name}", size), reader)  # type: ignore[arg-type]
                    members.append({"name": name, "size": size, "sha256": reader.digest.hexdigest()})
                    total += size
                manifest = {
                    "format": FORMAT,
                    "application": "mairie",
                    "version": mairie.__version__,
                    "created_at": timezone.now().isoformat(),
                    "database": {"vendor": vendor, **db_info},
                    "migrations": migrations,
                    "encryption_key": KEY_INCLUDED if key is not None else KEY_FROM_ENVIRONMENT,
                    **key_info,
                    "files": members,
                }
                data = json.dumps(manifest, ensure_ascii=False, indent=1).encode("utf-8")
                tar.addfile(_member(MANIFEST, len(data)), io.BytesIO(data))
        with partial.open("rb+") as written:
            os.fsync(written.fileno())
        os.replace(partial, output)  # a crashed backup never looks like a finished one
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return BackupReport(
        output,
        vendor,
        len(members),
        total,
        round(time.monotonic() - started, 3),
        encryption_key=KEY_INCLUDED if key is not None else KEY_FROM_ENVIRONMENT,
    )


# --- Restore ------------------------------------------------------------------------------------------


def read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        handle = tar.extractfile(MANIFEST)
    except KeyError:
        handle = None
    if handle is None:
        raise BackupError("Ce fichier n'est pas une sauvegarde Mairie complète (manifest.json absent).")
    try:
        manifest: dict[str, Any] = json.loads(handle.read().decode("utf-8"))
    except ValueError as exc:
        raise BackupError(f"Le manifeste de la sauvegarde est illisible ({exc}).") from exc
    if (
        not isinstance(manifest, dict)
        or manifest.get("application") != "mairie"
        or manifest.get("format") != FORMAT
    ):
        raise BackupError(
            f"Format de sauvegarde non reconnu ({manifest.get('format')!r}) : "
            f"cette version de Mairie lit le format {FORMAT}."
        )
    return manifest


@contextmanager
def _open_archive(archive: Path) -> Iterator[tarfile.TarFile]:
    try:
        tar = tarfile.open(archive, "r:*")  # noqa: SIM115 - closed by the with-block below
    except tarfile.TarError as exc:
        raise BackupError(f"« {archive} » n'est pas une archive de sauvegarde lisible ({exc}).") from exc
    with tar:
        yield tar


def _refuse_unless_empty() -> None:
    try:
        tables = connection.introspection.table_names()
    except OperationalError as exc:
        raise BackupError(
            f"La base de données de destination est injoignable ({exc}). Sur PostgreSQL, créez d'abord "
            "une base vide (createdb) et indiquez-la dans DATABASE_URL."
        ) from exc
    problems = []
    if tables:
        problems.append(f"la base de données contient déjà {len(tables)} tables")
    first_file = next(storage_names(), None)
    if first_file is not None:
        problems.append(f"le stockage de fichiers n'est pas vide (par exemple « {first_file} »)")
    if problems:
        raise BackupError(
            "Restauration refusée : "
            + " et ".join(problems)
            + ". Une sauvegarde se restaure uniquement dans un répertoire de données vide "
            "(MAIRIE_DATA_DIR) et, sur PostgreSQL, dans une base de données vide : rien n'a été modifié."
        )


def _refuse_newer_schema(manifest: dict[str, Any]) -> None:
    """An archive made by a newer version of Mairie holds tables this version does not know: refuse it."""
    recorded = manifest.get("migrations")
    if not isinstance(recorded, list):
        return  # archives made before the manifest listed migrations: only older versions wrote them
    loader = MigrationLoader(None)
    known = {f"{app}.{name}" for app, name in loader.disk_migrations}
    for migration in loader.disk_migrations.values():  # names a squashed migration stands for
        known.update(f"{app}.{name}" for app, name in migration.replaces)
    unknown = sorted(str(name) for name in recorded if name not in known)
    if unknown:
        shown = ", ".join(unknown[:3]) + (" …" if len(unknown) > 3 else "")
        raise BackupError(
            f"Cette sauvegarde vient d'une version plus récente de Mairie ({manifest.get('version', '?')}, "
            f"cette installation est en {mairie.__version__}) : sa base contient des évolutions inconnues "
            f"ici ({shown}). Mettez Mairie à jour avant de restaurer ; rien n'a été modifié."
        )


def _migrate() -> int:
    """Bring the restored database to this version's schema; the number of migrations applied."""
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if not pending:
        return 0
    try:
        call_command("migrate", interactive=False, verbosity=0, stdout=io.StringIO())
    except Exception as exc:  # whatever the cause, the administrator must know the schema is behind
        raise BackupError(
            f"La sauvegarde a été restaurée, mais la mise à jour de sa base vers cette version de Mairie a "
            f"échoué ({exc}). Corrigez la cause puis lancez « mairie migrate »."
        ) from exc
    return len(pending)


def _safe_storage_name(member: str) -> str:
    path = PurePosixPath(member)
    if path.is_absolute() or ".." in path.parts or path.parts[:1] != ("files",) or len(path.parts) < 2:
        raise BackupError(f"Nom de fichier suspect dans la sauvegarde : « {member} ».")
    return str(PurePosixPath(*path.parts[1:]))


def restore_files(tar: tarfile.TarFile, manifest: dict[str, Any]) -> int:
    """Put every file of the archive in the storage (local or S3), each checked against the manifest."""
    from mairie.documents import store

    expected = {f["name"]: f for f in manifest["files"]}
    restored = 0
    for member in tar:
        if not member.name.startswith("files/"):
            continue
        name = _safe_storage_name(member.name)
        meta = expected.get(name)
        if meta is None or not member.isfile():
            raise BackupError(f"Fichier « {name} » absent du manifeste : sauvegarde altérée.")
        source = tar.extractfile(member)
        if source is None:
            raise BackupError(f"Fichier « {name} » illisible dans la sauvegarde.")
        reader = _HashingReader(source, name)
        store.put(name, reader)  # type: ignore[arg-type]
        if reader.digest.hexdigest() != meta["sha256"] or reader.size != meta["size"]:
            store.delete(name)
            raise BackupError(f"Le fichier « {name} » est altéré dans la sauvegarde (empreinte différente).")
        restored += 1
    if restored != len(expected):
        raise BackupError(
            f"La sauvegarde est incomplète : {restored} fichiers trouvés sur {len(expected)} annoncés."
        )
    return restored


def _extract_database(tar: tarfile.TarFile, manifest: dict[str, Any], target: Path) -> None:
    member = manifest["database"]["member"]
    source = tar.extractfile(member)
    if source is None:
        raise BackupError("La sauvegarde ne contient pas la base de données.")
    with target.open("wb") as out:
        shutil.copyfileobj(source, out, CHUNK)
    if _sha256_of(target) != manifest["database"]["sha256"]:
        raise BackupError("La base de données de la sauvegarde est altérée (empreinte différente).")


def _restore_sqlite(snapshot: Path) -> None:
    target = Path(str(connection.settings_dict["NAME"]))
    connection.close()
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)  # the empty database opened by the check above
    staged = target.with_name(target.name + ".restoring")
    shutil.copyfile(snapshot, staged)
    db = sqlite3.connect(str(staged))
    try:
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        db.execute("PRAGMA journal_mode=WAL")
    finally:
        db.close()
    if check != "ok":
        staged.unlink(missing_ok=True)
        raise BackupError(f"La base SQLite de la sauvegarde est endommagée ({check}).")
    os.replace(staged, target)


def _restore_postgres(snapshot: Path) -> None:
    connection.close()
    _run_pg_tool(
        [
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",  # all or nothing: a failed restore leaves the database empty
            f"--dbname={connection.settings_dict['NAME']}",
            str(snapshot),
        ],
        "pg_restore",
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")  # fresh statistics, or the first searches plan badly


def _missing_files() -> list[str]:
    from mairie.documents.models import Rendition, StoredFile

    names = list(StoredFile.objects.values_list("path", flat=True))
    names += list(Rendition.objects.values_list("path", flat=True))
    return [name for name in names if not default_storage.exists(name)]


def _archived_key(tar: tarfile.TarFile, manifest: dict[str, Any]) -> str | None:
    """The key the archive carries, checked against the manifest before anything is written; None if none."""
    source = manifest.get("encryption_key")
    if source is None or source == KEY_FROM_ENVIRONMENT:
        return None  # keys given by the environment, or an archive made before the key was archived
    if source != KEY_INCLUDED:
        raise BackupError(
            f"Origine de la clé de chiffrement inconnue dans le manifeste ({source!r}) : sauvegarde altérée."
        )
    meta = manifest.get("key_file")
    try:
        member: tarfile.TarInfo | None = tar.getmember(KEY_MEMBER)
    except KeyError:
        member = None
    if (
        not isinstance(meta, dict)
        or meta.get("member") != KEY_MEMBER
        or member is None
        or not member.isfile()
    ):
        raise BackupError(
            "La sauvegarde annonce la clé de chiffrement mais ne la contient pas : sauvegarde altérée, "
            "rien n'a été modifié."
        )
    handle = tar.extractfile(member) if member.size == meta.get("size") else None
    data = handle.read() if handle is not None else b""
    if handle is None or hashlib.sha256(data).hexdigest() != meta.get("sha256"):
        raise BackupError(
            "La clé de chiffrement de la sauvegarde est altérée (empreinte différente) : rien n'a été modifié."
        )
    key = data.decode("ascii", errors="replace").strip()
    try:
        Fernet(key.encode("ascii", errors="replace"))
    except ValueError as exc:
        raise BackupError(
            "La clé de chiffrement de la sauvegarde n'est pas une clé valide : sauvegarde altérée."
        ) from exc
    return key


def _check_target_keys() -> None:
    """Keys given to the target must at least be well-formed (checked before anything is written)."""
    if keys_from_environment():
        try:
            crypto.encrypt("vérification")
        except ValueError as exc:
            raise BackupError(f"{exc} Rien n'a été modifié.") from exc


def _install_key(key: str) -> None:
    """Make the archive's key this platform's generated key (mode 0600), replacing one generated at start.

    Only called once the platform is known to be empty (no table in its database): no value encrypted with
    a key being replaced can exist.
    """
    key_file = _key_file()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    staged = key_file.with_name(f".{key_file.name}.restoring")
    staged.unlink(missing_ok=True)
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # private from the first instant
    with open(fd, "w") as handle:
        handle.write(key + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staged, key_file)
    with crypto._lock:  # a key read earlier in this process must not be used any more
        crypto._cache.clear()


def _encrypted_columns() -> list[tuple[str, str, str]]:
    """(label, table, column) of every encrypted field of the installed models."""
    from django.apps import apps

    columns = []
    for model in apps.get_models():
        for model_field in model._meta.concrete_fields:
            if isinstance(model_field, crypto.EncryptedTextField):
                label = SECRET_LABELS.get((model._meta.label, model_field.name)) or (
                    f"« {model_field.verbose_name} » ({model._meta.label})"
                )
                columns.append((label, model._meta.db_table, model_field.column))
    return columns


def _unreadable_secrets(decrypt: Callable[[str], object]) -> list[tuple[str, int, int]]:
    """Per kind of encrypted value: (label, values ``decrypt`` cannot read, values stored); failing kinds only."""
    quote = connection.ops.quote_name
    found = []
    with connection.cursor() as cursor:
        for label, table, column in _encrypted_columns():
            cursor.execute(f"SELECT {quote(column)} FROM {quote(table)} WHERE {quote(column)} <> ''")  # noqa: S608
            tokens = [str(row[0]) for row in cursor.fetchall() if row[0]]
            failed = 0
            for token in tokens:
                try:
                    decrypt(token)
                except (crypto.DecryptionError, InvalidToken, ValueError):  # UnicodeError is a ValueError
                    failed += 1
            if failed:
                found.append((label, failed, len(tokens)))
    return found


def _key_problem(
    manifest: dict[str, Any], archived_key: str | None, unreadable: list[tuple[str, int, int]], archive: Path
) -> str:
    """What the administrator must do when restored secrets cannot be decrypted (French)."""
    listing = " ; ".join(f"{label} : {failed} sur {total}" for label, failed, total in unreadable)
    message = (
        f"Restauration terminée, mais des secrets chiffrés sont illisibles avec les clés de chiffrement de "
        f"cette plateforme ({listing}). Tant que la bonne clé manque, les boîtes aux lettres concernées ne "
        "sont plus relevées et les personnes concernées ne peuvent plus passer la double authentification. "
    )
    from_env = keys_from_environment()
    source = manifest.get("encryption_key")
    if source == KEY_INCLUDED and archived_key is not None:
        helped = False  # would adding the archive's key to MAIRIE_ENCRYPTION_KEYS read everything?
        if from_env:
            keys = MultiFernet(
                [Fernet(key.encode("ascii")) for key in [*crypto.configured_keys(), archived_key]]
            )
            helped = not _unreadable_secrets(lambda token: keys.decrypt(token.encode("ascii")))
        if helped:
            return message + (
                "Ils ont été chiffrés avec la clé générée de la plateforme d'origine, qui est dans la "
                "sauvegarde : ajoutez-la à MAIRIE_ENCRYPTION_KEYS, après vos clés (séparées par des virgules), "
                "puis redémarrez la plateforme. Pour l'afficher : "
                f"tar -xOf {shlex.quote(str(archive))} {KEY_MEMBER}"
            )
        return message + (
            "Même la clé de la sauvegarde (celle générée sur la plateforme d'origine) ne les déchiffre pas : "
            "ils étaient déjà illisibles sur la plateforme d'origine, ou chiffrés avec une clé donnée par "
            "MAIRIE_ENCRYPTION_KEYS avant elle ; ajoutez cette clé-là à MAIRIE_ENCRYPTION_KEYS si vous l'avez "
            "encore, sinon ressaisissez les mots de passe des boîtes aux lettres et faites réenrôler la double "
            "authentification."
        )
    if source == KEY_FROM_ENVIRONMENT:
        todo = (
            "ajoutez les clés de la plateforme d'origine à MAIRIE_ENCRYPTION_KEYS, après les vôtres (séparées "
            "par des virgules)"
            if from_env
            else "définissez MAIRIE_ENCRYPTION_KEYS avec les clés de la plateforme d'origine (la même valeur)"
        )
        return message + (
            "La sauvegarde a été faite avec des clés données par MAIRIE_ENCRYPTION_KEYS, qui ne sont pas dans "
            f"l'archive : {todo}, puis redémarrez la plateforme."
        )
    where = (
        "sa variable MAIRIE_ENCRYPTION_KEYS, ou le contenu de son fichier <répertoire de données>/"
        f"{crypto.KEY_FILE_NAME}"
    )
    if from_env:
        return message + (
            "Cette sauvegarde, d'un format antérieur, ne contient pas la clé de chiffrement : ajoutez la clé de "
            f"la plateforme d'origine ({where}) à MAIRIE_ENCRYPTION_KEYS, après les vôtres, puis redémarrez "
            "la plateforme."
        )
    return message + (
        "Cette sauvegarde, d'un format antérieur, ne contient pas la clé de chiffrement : donnez à cette "
        f"plateforme la clé de la plateforme d'origine ({where}), dans MAIRIE_ENCRYPTION_KEYS ou à la place de "
        f"{_key_file()} (droits 0600), puis redémarrez la plateforme."
    )


def restore_backup(archive: Path) -> RestoreReport:
    """Restore ``archive`` into this (empty) platform; refuse, changing nothing, if it holds any data."""
    from mairie.courrier.models import Courrier
    from mairie.documents.models import Document
    from mairie.organisations.models import Organisation

    vendor = _vendor()
    if not archive.is_file():
        raise BackupError(f"Sauvegarde introuvable : « {archive} ».")
    with _open_archive(archive) as tar:
        manifest = read_manifest(tar)
        source_vendor = manifest["database"]["vendor"]
        if source_vendor != vendor:
            raise BackupError(
                f"Cette sauvegarde vient d'une plateforme {VENDOR_LABELS.get(source_vendor, source_vendor)} ; "
                f"la plateforme de destination utilise {VENDOR_LABELS[vendor]}. Restaurez-la avec la même "
                "base de données (DATABASE_URL vide pour SQLite, renseignée pour PostgreSQL)."
            )
        _refuse_newer_schema(manifest)
        archived_key = _archived_key(tar, manifest)  # checked against the manifest before anything is written
        _check_target_keys()
        _refuse_unless_empty()
        if keys_from_environment():
            key_status = "environment"  # the target's keys stay; whether they read the data: see below
        elif archived_key is not None:
            # Before the database is loaded: migrating a backup from an older version may encrypt values.
            _install_key(archived_key)
            key_status = "restored"
        else:
            key_status = "absent"
        files = restore_files(tar, manifest)
        with tempfile.TemporaryDirectory(prefix="mairie-restore-") as tmp:
            snapshot = Path(tmp) / "database"
            _extract_database(tar, manifest, snapshot)
            if vendor == "sqlite":
                _restore_sqlite(snapshot)
            else:
                _restore_postgres(snapshot)
    migrations = _migrate()  # a backup from an older version: its schema is brought up to date
    # Every encrypted value must be readable with the keys this platform will run with.
    unreadable = _unreadable_secrets(crypto.decrypt)
    return RestoreReport(
        database=vendor,
        files=files,
        organisations=Organisation.objects.count(),
        courriers=Courrier.objects.count(),
        documents=Document.objects.count(),
        migrations=migrations,
        missing_files=_missing_files(),
        unreadable_secrets=[f"{label} : {failed} sur {total}" for label, failed, total in unreadable],
        unreadable_count=sum(failed for _, failed, _ in unreadable),
        key_problem=_key_problem(manifest, archived_key, unreadable, archive) if unreadable else "",
        encryption_key=key_status,
    )
