"""The document store on S3-compatible object storage (moto's S3 server, a real HTTP endpoint)."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import Image

from mairie.courrier.services import IncomingFile, RegistrationRefused, register_courrier
from mairie.documents import store
from mairie.documents.models import Document, Rendition, StoredFile
from mairie.documents.services import process_document
from mairie.documents.tests import samples
from mairie.documents.tests.conftest import _free_port

pytestmark = pytest.mark.slow

CREDENTIALS = {"aws_access_key_id": "mairie-test", "aws_secret_access_key": "mairie-test-secret"}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    binary = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if binary is None:
        pytest.fail(
            "moto_server est introuvable : installez les dépendances de test (pip install -e '.[test]')."
        )
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [binary, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(endpoint, timeout=2):
                    break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"moto_server s'est arrêté au démarrage (code {process.returncode})")
                if time.monotonic() > deadline:
                    pytest.fail("moto_server ne répond pas après 60 s")
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def bucket(s3_endpoint: str, settings: Any) -> Any:
    """A fresh bucket, made the default storage (as MAIRIE_S3_* would in settings.py)."""
    name = f"mairie-{uuid.uuid4().hex[:12]}"
    s3 = boto3.resource("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **CREDENTIALS)
    s3.create_bucket(Bucket=name)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": name,
                "endpoint_url": s3_endpoint,
                "access_key": CREDENTIALS["aws_access_key_id"],
                "secret_key": CREDENTIALS["aws_secret_access_key"],
                "region_name": "us-east-1",
                "addressing_style": "path",
                "file_overwrite": True,
                "default_acl": None,
                "querystring_auth": False,
            },
        },
    }
    return s3.Bucket(name)


def _objects(bucket: Any) -> dict[str, bytes]:
    return {obj.key: obj.get()["Body"].read() for obj in bucket.objects.all()}


def test_scan_is_stored_processed_and_read_back_from_s3(bucket, world, make_file) -> None:
    scan = samples.scan_pdf([samples.text_image(["Demande de branchement", "au réseau d'assainissement"])])
    sha = hashlib.sha256(scan).hexdigest()
    courrier = register_courrier(
        organisation=world.commune,
        actor=world.secretary,
        files=[IncomingFile(make_file("scan.pdf", scan), "scan.pdf")],
    )
    document = Document.objects.select_related("original").get(courrier=courrier)
    assert document.original.path == f"originals/{sha[:2]}/{sha[2:4]}/{sha}"
    assert _objects(bucket) == {document.original.path: scan}

    assert process_document(document.pk) == "done", Document.objects.get(pk=document.pk).error
    document.refresh_from_db()
    assert "assainissement" in document.text

    objects = _objects(bucket)
    renditions = {r.kind: r for r in Rendition.objects.filter(document=document)}
    assert set(renditions) == {"pdf", "thumbnail", "text"}
    assert set(objects) == {document.original.path, *(r.path for r in renditions.values())}
    for rendition in renditions.values():
        assert rendition.path.startswith(f"renditions/{sha[:2]}/{sha[2:4]}/{sha}/")
        assert rendition.size == len(objects[rendition.path])
    with store.open_file(document.original.path) as handle:
        assert handle.read() == scan  # unaltered
    assert objects[renditions["text"].path].decode() == document.text
    assert objects[renditions["pdf"].path].startswith(b"%PDF-")
    with Image.open(io.BytesIO(objects[renditions["thumbnail"].path])) as thumbnail:
        assert thumbnail.format == "PNG"


def test_same_content_is_one_object_and_refused_files_leave_none(bucket, world, make_file, text_pdf) -> None:
    content = text_pdf("Convocation au conseil communautaire")
    for org, user in ((world.commune, world.secretary), (world.other_commune, world.other_agent)):
        register_courrier(
            organisation=org, actor=user, files=[IncomingFile(make_file("c.pdf", content), "c.pdf")]
        )
    with pytest.raises(RegistrationRefused):
        register_courrier(
            organisation=world.commune,
            actor=world.secretary,
            files=[IncomingFile(make_file("x.pdf", samples.windows_executable()), "x.pdf")],
        )
    assert StoredFile.objects.count() == 1
    assert list(_objects(bucket)) == [StoredFile.objects.get().path]


def test_store_put_overwrites_in_place_and_local_copy_gives_a_temporary_file(bucket, tmp_path) -> None:
    name = store.rendition_path("ab" * 32, "text.txt")
    source = tmp_path / "v1.txt"
    source.write_bytes(b"premier")
    store.put(name, source)
    store.put(name, io.BytesIO(b"second"))  # same name, new bytes: never "text_x1y2z3.txt"
    assert _objects(bucket) == {name: b"second"}
    assert store.exists(name)

    with store.local_copy(name, suffix=".txt") as local:
        assert local.suffix == ".txt"
        assert local.read_bytes() == b"second"
        assert not str(local).startswith(str(tmp_path))
    assert not local.exists()  # the temporary copy is gone

    store.delete(name)
    assert not store.exists(name)
    assert _objects(bucket) == {}
