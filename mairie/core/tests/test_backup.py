"""`mairie backup` / `mairie restore`: a consistent snapshot taken while the platform runs, restored whole.

The round trips run on the database kind of the test run: SQLite by default, PostgreSQL when
``DATABASE_URL`` is set (each platform then gets a fresh database of its own on that server).
"""

from __future__ import annotations

import hashlib
import io
import json
import shlex
import stat
import subprocess
import tarfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from mairie.audit.services import verify_chain
from mairie.core import backup
from mairie.core.crypto import generate_key
from mairie.courrier.models import Courrier
from mairie.courrier.services import IncomingFile, register_courrier
from mairie.documents.tests import test_storage_s3
from mairie.mail.models import Mailbox
from mairie.organisations.models import Organisation
from mairie.testing.platform import Platform, platform

# The S3 fixtures of the document store's tests: moto's S3 server and a fresh bucket made the default storage.
s3_endpoint = test_storage_s3.s3_endpoint
bucket = test_storage_s3.bucket
S3_CREDENTIALS = test_storage_s3.CREDENTIALS

# Run inside a platform (source or restored): everything a restore must give back, as one JSON value.
PLATFORM_STATE = """
import hashlib, json
from mairie.audit.models import AuditEntry
from mairie.courrier.models import ChronoCounter, Courrier
from mairie.documents import store
from mairie.organisations.models import Organisation
from mairie.search.services import search_courriers
state = {"organisations": {}, "damaged": []}
for org in Organisation.objects.order_by("slug"):
    courriers = {}
    for c in Courrier.objects.for_org(org).prefetch_related("documents__original", "documents__renditions"):
        courriers[c.chrono] = [c.subject, c.status, c.channel, c.received_at.isoformat()] + [
            [d.original.sha256, d.original_name, d.status, d.text, sorted(r.path for r in d.renditions.all())]
            for d in c.documents.all()
        ]
        for d in c.documents.all():
            with store.open_file(d.original.path) as f:
                if hashlib.sha256(f.read()).hexdigest() != d.original.sha256:
                    state["damaged"].append(c.chrono)
    state["organisations"][org.slug] = {
        "identity": [org.name, org.kind, org.siren, org.parent.slug if org.parent else None],
        "courriers": courriers,
        "journal": list(AuditEntry.objects.for_org(org).order_by("seq").values_list("seq", "hash")),
        "counters": sorted(ChronoCounter.objects.filter(organisation=org).values_list("direction", "year", "last")),
        "search": [h.courrier.chrono for h in search_courriers(organisation=org, query="ecole").hits],
    }
print(json.dumps(state))
"""


def _call(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _tree_digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_restore_into_an_empty_platform_gives_back_register_documents_and_audit_chain(tmp_path, text_pdf):
    letters = {
        "toiture.pdf": "Devis pour la réfection de la toiture de l'école communale",
        "cantine.pdf": "Inscription à la cantine de l'école pour la rentrée",
        "voirie.pdf": "Signalement d'un nid-de-poule chemin des Vignes",
    }
    for name, text in letters.items():
        (tmp_path / name).write_bytes(text_pdf(text))
    slugs = ("cc-pic", "saint-aubin", "villeneuve")

    with platform(tmp_path, "src") as source:
        source.run("org", "create", "--slug", "cc-pic", "--name", "CC du Pic", "--kind", "epci")
        source.run(
            "org", "create", "--slug", "saint-aubin", "--name", "Saint-Aubin", "--kind", "commune",
            "--siren", "213400013", "--parent", "cc-pic",
        )  # fmt: skip
        source.run("org", "create", "--slug", "villeneuve", "--name", "Villeneuve", "--kind", "commune")
        source.run(
            "ingest", "--org", "saint-aubin", *(str(tmp_path / n) for n in ("toiture.pdf", "cantine.pdf"))
        )
        source.run("ingest", "--org", "villeneuve", "--channel", "counter", str(tmp_path / "voirie.pdf"))
        source.run("worker", "--burst")  # renditions (searchable PDF, text, thumbnail) join the originals
        archive = tmp_path / "sauvegarde.tar.gz"
        [backup] = source.json_lines("backup", "--output", str(archive))
        assert backup["database"] == ("postgresql" if source.database_url else "sqlite")
        assert archive.stat().st_mode & 0o077 == 0  # personal data: readable by its owner only
        source_files = _tree_digests(source.data_dir / "files")
        assert backup["files"] == len(source_files)
        assert len([n for n in source_files if n.startswith("originals/")]) == 3
        assert len([n for n in source_files if n.startswith("renditions/")]) >= 3
        source_state = source.python(PLATFORM_STATE)
        commune = source_state["organisations"]["saint-aubin"]
        assert len(commune["courriers"]) == 2 and len(commune["search"]) == 2
        assert len(source_state["organisations"]["villeneuve"]["courriers"]) == 1

        with platform(tmp_path, "dst", migrate=False) as target:
            [restored] = target.json_lines("restore", str(archive))
            assert restored == {
                "database": backup["database"],
                "files": len(source_files),
                "organisations": 3,
                "courriers": 3,
                "documents": 3,
                "migrations": 0,
                "missing_files": 0,
                "encryption_key": "restored",  # the key generated in the source's data directory
                "unreadable_secrets": 0,
            }
            for slug in slugs:
                [chain] = target.json_lines("audit", "verify", "--org", slug)
                assert chain == {
                    "org": slug,
                    "status": "ok",
                    "entries": len(source_state["organisations"][slug]["journal"]),
                }
            assert target.python(PLATFORM_STATE) == source_state
            assert source_state["damaged"] == []
            assert _tree_digests(target.data_dir / "files") == source_files
            for name, digest in source_files.items():
                if name.startswith("originals/"):
                    assert name.endswith(digest)  # content-addressed originals are intact

            # The restored platform goes on: numbering continues, new files are stored and journaled.
            (tmp_path / "suite.pdf").write_bytes(text_pdf("Relance au sujet de la toiture de l'école"))
            [after] = target.json_lines("ingest", "--org", "saint-aubin", str(tmp_path / "suite.pdf"))
            assert after["chrono"].endswith("-A-000003")

            # A second restore over the now populated platform is refused and changes nothing.
            refused = target.run("restore", str(archive), expect=None)
            assert refused.returncode != 0
            assert "Restauration refusée" in refused.stderr and "vide" in refused.stderr
            assert "Traceback" not in refused.stderr
            [chain] = target.json_lines("audit", "verify", "--org", "saint-aubin")
            assert chain["entries"] == len(commune["journal"]) + 1


def test_backup_of_an_older_version_is_migrated_to_this_version_when_restored(tmp_path, text_pdf):
    """A backup made before the last migrations (an older Mairie) gets this version's schema on restore."""
    (tmp_path / "toiture.pdf").write_bytes(text_pdf("Devis pour la réfection de la toiture de l'école"))
    with platform(tmp_path, "ancienne") as source:
        source.run("org", "create", "--slug", "saint-aubin", "--name", "Saint-Aubin", "--kind", "commune")
        [ingested] = source.json_lines("ingest", "--org", "saint-aubin", str(tmp_path / "toiture.pdf"))
        source.run("worker", "--burst")
        # The older version: no full-text index yet (FTS5 table and triggers, or the tsvector column).
        source.run("migrate", "search", "0001_initial", "--no-input", "-v", "0")
        assert source.run("migrate", "--check", expect=None).returncode != 0
        archive = tmp_path / "ancienne.tar"
        source.json_lines("backup", "--output", str(archive))

    with tarfile.open(archive) as tar:
        listed = backup.read_manifest(tar)["migrations"]
    assert "search.0001_initial" in listed and "search.0002_fulltext" not in listed

    with platform(tmp_path, "nouvelle", migrate=False) as target:
        [restored] = target.json_lines("restore", str(archive))
        later = [
            name
            for app, name in MigrationLoader(None).disk_migrations
            if app == "search" and name != "0001_initial"
        ]
        assert restored["migrations"] == len(later) and restored["courriers"] == 1
        assert restored["missing_files"] == 0
        target.run("migrate", "--check")  # nothing left to apply
        hits = target.json_lines("search", "--org", "saint-aubin", "toiture")
        assert [hit["chrono"] for hit in hits] == [ingested["chrono"]]


def _empty_platform_state(target) -> dict:  # type: ignore[no-untyped-def]
    """Tables of the target's database and files of its storage (both must stay empty after a refusal)."""
    return target.python(
        "import json\n"
        "from django.db import connection\n"
        "from mairie.core.backup import storage_names\n"
        "print(json.dumps({'tables': connection.introspection.table_names(), 'files': list(storage_names())}))"
    )


@pytest.mark.django_db(transaction=True)
def test_restore_into_a_data_directory_holding_files_is_refused_in_french(
    tmp_path, world, make_file, png_bytes
):
    path = make_file("scan.png", png_bytes((300, 200)))
    register_courrier(organisation=world.commune, actor=None, files=[IncomingFile(path, "scan.png")])
    archive = tmp_path / "b.tar"
    call_command("backup", "--output", str(archive), stdout=io.StringIO())

    with platform(tmp_path, "occupee", migrate=False) as target:
        leftover = target.data_dir / "files" / "originals" / "ab" / "cd" / "ancien-fichier"
        leftover.parent.mkdir(parents=True)
        leftover.write_bytes(b"un fichier d'une autre plateforme")
        refused = target.run("restore", str(archive), expect=None)
        assert refused.returncode != 0
        assert "Restauration refusée : le stockage de fichiers n'est pas vide" in refused.stderr
        assert "répertoire de données vide" in refused.stderr and "Traceback" not in refused.stderr
        state = _empty_platform_state(target)
        assert state == {"tables": [], "files": ["originals/ab/cd/ancien-fichier"]}
        assert leftover.read_bytes() == b"un fichier d'une autre plateforme"


@pytest.mark.django_db(transaction=True)
def test_backup_from_a_newer_version_is_refused_before_anything_is_written(
    tmp_path, world, make_file, png_bytes
):
    path = make_file("scan.png", png_bytes((300, 200)))
    register_courrier(organisation=world.commune, actor=None, files=[IncomingFile(path, "scan.png")])
    archive = tmp_path / "b.tar"
    call_command("backup", "--output", str(archive), stdout=io.StringIO())

    # The same archive as a later version would write it: one more migration, unknown to this version.
    newer = tmp_path / "future.tar"
    with tarfile.open(archive) as src, tarfile.open(newer, "w") as dst:
        for member in src:
            data = src.extractfile(member).read() if member.isfile() else b""
            if member.name == backup.MANIFEST:
                manifest = json.loads(data)
                manifest["version"] = "9.0.0"
                manifest["migrations"].append("courrier.9999_plus_tard")
                data = json.dumps(manifest).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))

    with platform(tmp_path, "ancienne", migrate=False) as target:
        refused = target.run("restore", str(newer), expect=None)
        assert refused.returncode != 0
        assert "version plus récente de Mairie (9.0.0" in refused.stderr
        assert "courrier.9999_plus_tard" in refused.stderr and "Traceback" not in refused.stderr
        assert _empty_platform_state(target) == {"tables": [], "files": []}
        [restored] = target.json_lines("restore", str(archive))  # the original archive is fine
        assert restored["courriers"] == 1 and restored["missing_files"] == 0


@pytest.mark.django_db(transaction=True)
def test_backup_taken_while_courriers_are_registered_restores_to_a_consistent_state(
    tmp_path, world, png_bytes
):
    """A writer keeps registering scans while the backup runs: the restored register is a gapless prefix."""
    org_id = world.commune.pk

    def scan(i: int) -> IncomingFile:
        path = tmp_path / "scans" / f"scan-{i}.png"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(png_bytes((600 + i, 400)))
        return IncomingFile(path, path.name)

    # Enough stored bytes that copying the files takes a while, so registrations land during the backup.
    bulk = [_random_png(tmp_path / "bulk", i) for i in range(20)]
    for item in bulk:
        register_courrier(organisation=world.commune, actor=world.secretary, files=[item], subject="Plan")

    stop = threading.Event()
    commits: list[float] = []
    errors: list[BaseException] = []

    def keep_registering() -> None:
        from mairie.organisations.models import Organisation

        try:
            commune = Organisation.objects.get(pk=org_id)
            i = 0
            while not stop.is_set():
                register_courrier(organisation=commune, actor=None, files=[scan(i)], subject=f"Scan {i}")
                commits.append(time.monotonic())
                i += 1
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    writer = threading.Thread(target=keep_registering)
    writer.start()
    try:
        while len(commits) < 3 and writer.is_alive():
            time.sleep(0.01)
        archive = tmp_path / "pendant.tar"
        started = time.monotonic()
        out = io.StringIO()
        call_command("backup", "--output", str(archive), stdout=out)
        finished = time.monotonic()
        while len([t for t in commits if t > finished]) < 2 and writer.is_alive():
            time.sleep(0.01)
    finally:
        stop.set()
        writer.join(timeout=60)
    assert errors == []
    during = [t for t in commits if started <= t <= finished]
    assert during, "no courrier was registered while the backup ran: the test proves nothing"

    source = {
        c.chrono: [d.original.sha256 for d in c.documents.all()]
        for c in Courrier.objects.for_org(world.commune).prefetch_related("documents__original")
    }
    assert verify_chain(world.commune).ok

    with platform(tmp_path, "restored", migrate=False) as target:
        [restored] = target.json_lines("restore", str(archive))
        assert restored["missing_files"] == 0
        assert target.json_lines("audit", "verify", "--org", "saint-aubin")[0]["status"] == "ok"
        state = target.python(PLATFORM_STATE)

    assert state["damaged"] == []
    restored_register = {
        chrono: [document[0] for document in fields[4:]]
        for chrono, fields in state["organisations"]["saint-aubin"]["courriers"].items()
    }
    # A consistent snapshot: the first n courriers exactly as they were, nothing half-registered.
    numbers = sorted(int(chrono.rsplit("-", 1)[1]) for chrono in restored_register)
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(bulk) + 3 <= len(numbers) < len(source)
    assert all(restored_register[chrono] == source[chrono] for chrono in restored_register)
    assert all(len(shas) == 1 for shas in restored_register.values())


def _random_png(directory: Path, seed: int) -> IncomingFile:
    """A noisy greyscale scan of about 500 kB (noise does not compress)."""
    import random

    from PIL import Image

    directory.mkdir(exist_ok=True)
    rng = random.Random(seed)
    image = Image.frombytes("L", (700, 700), rng.randbytes(700 * 700))
    path = directory / f"plan-{seed}.png"
    image.save(path)
    return IncomingFile(path, path.name)


@pytest.mark.django_db(transaction=True)
def test_restore_over_a_platform_holding_data_is_refused_in_french_and_changes_nothing(tmp_path, world):
    register_courrier(organisation=world.commune, actor=None, subject="Courrier à garder")
    archive = tmp_path / "b.tar"
    call_command("backup", "--output", str(archive), stdout=io.StringIO())
    register_courrier(organisation=world.commune, actor=None, subject="Courrier postérieur")

    with pytest.raises(CommandError, match="Restauration refusée : la base de données contient déjà"):
        call_command("restore", str(archive), stdout=io.StringIO())

    assert Courrier.objects.for_org(world.commune).count() == 2
    assert verify_chain(world.commune).ok


@pytest.mark.django_db(transaction=True)
def test_restore_of_an_altered_archive_is_refused(tmp_path, world, make_file, png_bytes):
    path = make_file("scan.png", png_bytes((300, 200)))
    register_courrier(organisation=world.commune, actor=None, files=[IncomingFile(path, "scan.png")])
    archive = tmp_path / "b.tar"
    call_command("backup", "--output", str(archive), stdout=io.StringIO())

    # Flip one byte of a stored file inside the archive, keeping the tar itself well-formed.
    altered = tmp_path / "altered.tar"
    with tarfile.open(archive) as src, tarfile.open(altered, "w") as dst:
        for member in src:
            data = src.extractfile(member).read() if member.isfile() else b""
            if member.name.startswith("files/originals/") and data:
                data = bytes([data[0] ^ 0xFF]) + data[1:]
            dst.addfile(member, io.BytesIO(data))

    with platform(tmp_path, "target", migrate=False) as target:
        result = target.run("restore", str(altered), expect=None)
        assert result.returncode != 0
        assert "altéré" in result.stderr
        not_a_backup = make_file("notes.tar", b"")
        result = target.run("restore", str(not_a_backup), expect=None)
        assert result.returncode != 0
        assert "sauvegarde" in result.stderr


@pytest.mark.django_db
def test_backup_refuses_to_write_its_archive_inside_the_file_storage(settings):
    target = Path(settings.FILES_DIR) / "sauvegarde.tar"
    with pytest.raises(CommandError, match="stockage de fichiers"):
        call_command("backup", "--output", str(target), stdout=io.StringIO())
    assert not target.exists()


@pytest.mark.slow
@pytest.mark.django_db
def test_backup_reads_and_restore_writes_the_files_of_s3_object_storage(
    tmp_path, world, make_file, png_bytes, settings, s3_endpoint, bucket
):
    """Hosted platforms keep files in S3-compatible storage: the same archive format works there."""
    for i in range(2):
        path = make_file(f"scan-{i}.png", png_bytes((200 + i, 100)))
        register_courrier(organisation=world.commune, actor=None, files=[IncomingFile(path, path.name)])
    stored = {obj.key: obj.get()["Body"].read() for obj in bucket.objects.all()}
    assert len(stored) == 2

    archive = tmp_path / "s3.tar"
    [report] = [json.loads(line) for line in _call("backup", "--output", str(archive)).splitlines()]
    assert report["files"] == 2

    empty = boto3.resource("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **S3_CREDENTIALS)
    fresh = empty.create_bucket(Bucket=f"{bucket.name}-restauree")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            **settings.STORAGES["default"],
            "OPTIONS": {**settings.STORAGES["default"]["OPTIONS"], "bucket_name": fresh.name},
        },
    }
    with tarfile.open(archive) as tar:
        assert backup.restore_files(tar, backup.read_manifest(tar)) == 2
    assert {obj.key: obj.get()["Body"].read() for obj in fresh.objects.all()} == stored


# --- The encryption key (mailbox passwords, TOTP secrets) -------------------------------------------------

MAILBOX_PASSWORD = "Mot de passe : été 2026 €"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SECRETS = {"passwords": [MAILBOX_PASSWORD], "totp": [TOTP_SECRET]}

# Run inside a platform: an organisation's mailbox with its password, an administrator's authenticator.
MAKE_SECRETS = f"""
import json
from django.contrib.auth import get_user_model
from mairie.accounts.models import TOTPDevice
from mairie.mail.models import Mailbox
from mairie.organisations.models import Organisation
from mairie.organisations.models import Organisation
org = Organisation.objects.get(slug="saint-aubin")
Mailbox.objects.create(organisation=org, label="Mairie", host="imap.example", username="u", password={MAILBOX_PASSWORD!r})
admin = get_user_model().objects.create_user("admin-2fa", password="x")
TOTPDevice.objects.create(user=admin, secret={TOTP_SECRET!r})
print(json.dumps("ok"))
"""

READ_SECRETS = """
import json
from mairie.accounts.models import TOTPDevice
from mairie.mail.models import Mailbox
from mairie.organisations.models import Organisation
print(json.dumps({
    "passwords": [m.password for m in Mailbox.objects.order_by("pk")],
    "totp": [d.secret for d in TOTPDevice.objects.order_by("pk")],
}))
"""


@dataclass
class _WithKeys(Platform):
    """A platform given MAIRIE_ENCRYPTION_KEYS (a plain Platform's environment has no MAIRIE_ variable)."""

    keys: str = ""

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, "MAIRIE_ENCRYPTION_KEYS": self.keys}


def _json_lines(stdout: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in stdout.splitlines() if line]


def _rewrite_archive(archive: Path, output: Path, change) -> Path:  # type: ignore[no-untyped-def]
    """A copy of ``archive`` where ``change(name, data)`` gives each member's new bytes (None: left out)."""
    with tarfile.open(archive) as src, tarfile.open(output, "w") as dst:
        for member in src:
            data = src.extractfile(member).read() if member.isfile() else b""
            changed = change(member.name, data)
            if changed is None:
                continue
            member.size = len(changed)
            dst.addfile(member, io.BytesIO(changed))
    return output


def test_generated_key_travels_with_the_backup_and_the_restored_platform_reads_the_secrets(tmp_path):
    with platform(tmp_path, "cle-source") as source:
        source.run("org", "create", "--slug", "saint-aubin", "--name", "Saint-Aubin", "--kind", "commune")
        source.python(MAKE_SECRETS)
        source_key = (source.data_dir / "encryption_key").read_bytes()
        archive = tmp_path / "avec-cle.tar.gz"
        made = source.run("backup", "--output", str(archive))
        assert _json_lines(made.stdout)[0]["encryption_key"] == "included"
        assert "MAIRIE_ENCRYPTION_KEYS" not in made.stderr  # no reminder: the key is in the archive

    with tarfile.open(archive) as tar:
        manifest = backup.read_manifest(tar)
        member = tar.getmember("keys/encryption_key")
        assert tar.extractfile(member).read() == source_key and member.mode == 0o600
    assert manifest["encryption_key"] == "included"
    assert manifest["key_file"] == {
        "member": "keys/encryption_key",
        "size": len(source_key),
        "sha256": hashlib.sha256(source_key).hexdigest(),
    }

    with platform(tmp_path, "cle-cible", migrate=False) as target:
        # The new machine generated a key of its own when the platform first started: the archive's replaces it.
        key_file = target.data_dir / "encryption_key"
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(generate_key() + "\n")
        key_file.chmod(0o600)
        [restored] = target.json_lines("restore", str(archive))
        assert restored["encryption_key"] == "restored" and restored["unreadable_secrets"] == 0
        assert key_file.read_bytes() == source_key
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert target.python(READ_SECRETS) == SECRETS

    # A target given MAIRIE_ENCRYPTION_KEYS keeps them; they cannot read the secrets: the restore says which key.
    own_key = generate_key()
    with platform(tmp_path, "cle-variable", migrate=False) as plain:
        target = _WithKeys(plain.data_dir, plain.database_url, keys=own_key)
        result = target.run("restore", str(archive), expect=None)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        [restored] = _json_lines(result.stdout)
        assert restored["courriers"] == 0 and restored["missing_files"] == 0
        assert restored["encryption_key"] == "environment" and restored["unreadable_secrets"] == 2
        assert "Restauration terminée, mais des secrets chiffrés sont illisibles" in result.stderr
        assert "mots de passe de boîtes aux lettres : 1 sur 1" in result.stderr
        assert "secrets de double authentification (TOTP) : 1 sur 1" in result.stderr
        assert "ajoutez-la à MAIRIE_ENCRYPTION_KEYS, après vos clés" in result.stderr
        command = f"tar -xOf {shlex.quote(str(archive))} keys/encryption_key"
        assert command in result.stderr
        assert subprocess.run(shlex.split(command), capture_output=True, check=True).stdout == source_key
        assert not (plain.data_dir / "encryption_key").exists()  # the environment's keys stay the only ones
        # Doing as told: the archive's key after the platform's own.
        fixed = _WithKeys(plain.data_dir, plain.database_url, keys=f"{own_key},{source_key.decode().strip()}")
        assert fixed.python(READ_SECRETS) == SECRETS


@pytest.mark.django_db(transaction=True)
def test_keys_from_the_environment_stay_out_of_the_backup_and_the_command_says_to_keep_them(
    tmp_path, world, settings
):
    source_key = generate_key()
    settings.ENCRYPTION_KEYS = [source_key]
    settings.DATA_DIR = tmp_path / "donnees"
    Mailbox.objects.create(
        organisation=world.commune,
        label="Mairie",
        host="imap.example",
        username="u",
        password=MAILBOX_PASSWORD,
    )
    archive = tmp_path / "sans-cle.tar"
    out, err = io.StringIO(), io.StringIO()
    call_command("backup", "--output", str(archive), stdout=out, stderr=err)
    assert json.loads(out.getvalue())["encryption_key"] == "environment"
    assert err.getvalue().strip() == (
        "Les clés de chiffrement viennent de MAIRIE_ENCRYPTION_KEYS : elles ne sont pas dans la sauvegarde ; "
        "conservez-les à part, sans elles les mots de passe des boîtes aux lettres et les secrets de double "
        "authentification seront illisibles après restauration."
    )
    with tarfile.open(archive) as tar:
        manifest = backup.read_manifest(tar)
        assert not [name for name in tar.getnames() if name.startswith("keys/")]
    assert manifest["encryption_key"] == "environment" and "key_file" not in manifest
    assert not (tmp_path / "donnees" / "encryption_key").exists()

    # Restored where the variable is not set: the data is back, and the command says the keys are needed.
    with platform(tmp_path, "sans-variable", migrate=False) as target:
        result = target.run("restore", str(archive), expect=None)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        [restored] = _json_lines(result.stdout)
        assert (
            restored["organisations"] == Organisation.objects.count() and restored["unreadable_secrets"] == 1
        )
        assert restored["encryption_key"] == "absent"
        assert "mots de passe de boîtes aux lettres : 1 sur 1" in result.stderr
        assert "La sauvegarde a été faite avec des clés données par MAIRIE_ENCRYPTION_KEYS" in result.stderr
        assert "définissez MAIRIE_ENCRYPTION_KEYS avec les clés de la plateforme d'origine" in result.stderr
        fixed = _WithKeys(target.data_dir, target.database_url, keys=source_key)
        assert fixed.python(READ_SECRETS)["passwords"] == [MAILBOX_PASSWORD]

    # Restored where the variable holds another key: the same, asking to add the source's keys.
    with platform(tmp_path, "autre-cle", migrate=False) as plain:
        target = _WithKeys(plain.data_dir, plain.database_url, keys=generate_key())
        result = target.run("restore", str(archive), expect=None)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert _json_lines(result.stdout)[0]["encryption_key"] == "environment"
        assert "ajoutez les clés de la plateforme d'origine à MAIRIE_ENCRYPTION_KEYS" in result.stderr

    # With the source's key, nothing to say.
    with platform(tmp_path, "meme-cle", migrate=False) as plain:
        target = _WithKeys(plain.data_dir, plain.database_url, keys=source_key)
        [restored] = target.json_lines("restore", str(archive))
        assert restored["encryption_key"] == "environment" and restored["unreadable_secrets"] == 0
        assert target.python(READ_SECRETS)["passwords"] == [MAILBOX_PASSWORD]


@pytest.mark.django_db(transaction=True)
def test_restore_refuses_an_archive_whose_key_was_altered_or_removed(tmp_path, world, settings):
    settings.ENCRYPTION_KEYS = []
    settings.DATA_DIR = tmp_path / "donnees"
    Mailbox.objects.create(
        organisation=world.commune,
        label="Mairie",
        host="imap.example",
        username="u",
        password=MAILBOX_PASSWORD,
    )
    archive = tmp_path / "b.tar"
    call_command("backup", "--output", str(archive), stdout=io.StringIO())
    key = (tmp_path / "donnees" / "encryption_key").read_bytes()

    # Another valid key of the same length in place of the real one: only the manifest's SHA-256 tells.
    other = (generate_key() + "\n").encode()
    assert len(other) == len(key) and other != key
    swapped = _rewrite_archive(
        archive,
        tmp_path / "cle-changee.tar",
        lambda name, data: other if name == "keys/encryption_key" else data,
    )
    removed = _rewrite_archive(
        archive, tmp_path / "cle-retiree.tar", lambda name, data: None if name.startswith("keys/") else data
    )

    with platform(tmp_path, "cle-alteree", migrate=False) as target:
        result = target.run("restore", str(swapped), expect=None)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert "La clé de chiffrement de la sauvegarde est altérée (empreinte différente)" in result.stderr
        assert _empty_platform_state(target) == {"tables": [], "files": []}
        assert not (target.data_dir / "encryption_key").exists()

        result = target.run("restore", str(removed), expect=None)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        assert "La sauvegarde annonce la clé de chiffrement mais ne la contient pas" in result.stderr
        assert _empty_platform_state(target) == {"tables": [], "files": []}

        [restored] = target.json_lines("restore", str(archive))  # the original archive is fine
        assert restored["encryption_key"] == "restored" and restored["unreadable_secrets"] == 0
        assert (target.data_dir / "encryption_key").read_bytes() == key
        assert target.python(READ_SECRETS)["passwords"] == [MAILBOX_PASSWORD]


@pytest.mark.django_db(transaction=True)
def test_backup_of_the_previous_format_without_the_key_still_restores(tmp_path, world, settings):
    settings.ENCRYPTION_KEYS = []
    settings.DATA_DIR = tmp_path / "donnees"
    Mailbox.objects.create(
        organisation=world.commune,
        label="Mairie",
        host="imap.example",
        username="u",
        password=MAILBOX_PASSWORD,
    )
    archive = tmp_path / "b.tar"
    call_command("backup", "--output", str(archive), stdout=io.StringIO())
    source_key = (tmp_path / "donnees" / "encryption_key").read_bytes()

    def previous_format(name: str, data: bytes) -> bytes | None:
        if name.startswith("keys/"):
            return None
        if name == backup.MANIFEST:
            manifest = json.loads(data)
            del manifest["encryption_key"], manifest["key_file"]
            return json.dumps(manifest).encode()
        return data

    previous = _rewrite_archive(archive, tmp_path / "ancien-format.tar", previous_format)

    # Given the source's key (as the previous documentation asked), it restores with nothing to say.
    with platform(tmp_path, "ancien-avec-cle", migrate=False) as plain:
        target = _WithKeys(plain.data_dir, plain.database_url, keys=source_key.decode().strip())
        [restored] = target.json_lines("restore", str(previous))
        assert restored["organisations"] == Organisation.objects.count() and restored["missing_files"] == 0
        assert restored["encryption_key"] == "environment" and restored["unreadable_secrets"] == 0
        assert target.python(READ_SECRETS)["passwords"] == [MAILBOX_PASSWORD]

    # Without it: everything is restored, and the command says which key is missing and where to put it.
    with platform(tmp_path, "ancien-sans-cle", migrate=False) as target:
        result = target.run("restore", str(previous), expect=None)
        assert result.returncode != 0 and "Traceback" not in result.stderr
        [restored] = _json_lines(result.stdout)
        assert (
            restored["organisations"] == Organisation.objects.count()
            and restored["encryption_key"] == "absent"
        )
        assert restored["unreadable_secrets"] == 1
        assert (
            "Cette sauvegarde, d'un format antérieur, ne contient pas la clé de chiffrement" in result.stderr
        )
        key_file = target.data_dir / "encryption_key"
        assert str(key_file) in result.stderr
        key_file.write_bytes(source_key)  # doing as told
        assert target.python(READ_SECRETS)["passwords"] == [MAILBOX_PASSWORD]
