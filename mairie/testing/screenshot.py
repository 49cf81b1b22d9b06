"""Take the README's screenshot: a courrier page at desktop width, with a real OCRed scan.

Run by hand (never by the test suite):

    .venv/bin/python -m mairie.testing.screenshot [--output docs/screenshot.png]

Everything happens in a throw-away data directory with its own SQLite database: the personas of the test
suite, a generated scanned letter sent through the real pipeline, a web server on a free local port and the
system Chromium. Nothing of a developer's data or configuration is used.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.core.servers.basehttp import ThreadedWSGIServer

DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent.parent / "docs" / "screenshot.png"


def _prepare_environment(data_dir: str) -> None:
    for name in [n for n in os.environ if n.startswith("MAIRIE_")] + ["DATABASE_URL"]:
        os.environ.pop(name, None)
    os.environ["MAIRIE_DATA_DIR"] = data_dir
    os.environ["MAIRIE_SECRET_KEY"] = "screenshot-only-not-a-secret"
    os.environ["OMP_THREAD_LIMIT"] = "1"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mairie.settings")


def _build_scene() -> str:
    """The demo commune with one courrier that shows every part of the page; returns its chrono."""
    from django.core.management import call_command
    from django.utils import timezone

    from mairie.courrier import services
    from mairie.demo.letters import make_letter
    from mairie.demo.scans import scanned_letter_pdf
    from mairie.documents.services import process_document
    from mairie.testing.personas import build_world

    call_command("migrate", verbosity=0, interactive=False)
    world = build_world()
    commune = world.commune
    secretary = world.membership(world.secretary)
    mayor = world.membership(world.mayor)
    _, letter = make_letter(1)
    with tempfile.TemporaryDirectory() as tmp:
        scan = Path(tmp) / "scan-cantine.pdf"
        scan.write_bytes(scanned_letter_pdf(letter, seed=1))
        courrier = services.register_courrier(
            organisation=commune,
            actor=world.secretary,
            files=[services.IncomingFile(scan, scan.name)],
            subject="Demande d'inscription à la cantine scolaire",
            contact=services.find_or_create_contact(organisation=commune, name="Mathilde Mercier"),
            kind="request",
            service=world.service("Accueil et secrétariat"),
        )
    for document in courrier.documents.all():
        process_document(document.pk)
    courrier = services.update_courrier(
        membership=secretary,
        courrier=courrier,
        assigned_to=world.secretary,
        due_date=timezone.localdate() + dt.timedelta(days=10),
    )
    services.change_status(
        membership=secretary, courrier=courrier, status="en_cours", reason="dossier complet"
    )
    services.add_comment(
        membership=mayor, courrier=courrier, body="D'accord pour une inscription dès janvier. Merci Sylvie."
    )
    reply = services.register_courrier(
        organisation=commune,
        actor=world.secretary,
        direction="depart",
        subject="Confirmation d'inscription à la cantine",
        contact=courrier.contact,
        kind="letter",
    )
    services.link_courriers(membership=secretary, source=reply, target=courrier, kind="reply_to")
    return courrier.chrono or ""


def _serve() -> tuple[str, ThreadedWSGIServer]:
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler, allow_reuse_address=False)
    server.set_app(StaticFilesHandler(WSGIHandler()))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}", server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Capture d'écran d'une page de courrier pour le README.")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="fichier PNG à écrire")
    parser.add_argument("--width", type=int, default=1280, help="largeur de la fenêtre en pixels")
    args = parser.parse_args(argv)

    data_dir = tempfile.mkdtemp(prefix="mairie-screenshot-")
    try:
        _prepare_environment(data_dir)
        import django

        django.setup()
        chrono = _build_scene()
        base, server = _serve()
        from playwright.sync_api import sync_playwright

        from mairie.testing.browser import launch, log_in
        from mairie.testing.personas import PASSWORD

        with sync_playwright() as playwright:
            browser = launch(playwright)
            page = browser.new_page(viewport={"width": args.width, "height": 900}, locale="fr-FR")
            log_in(page, base, "secretaire", PASSWORD)
            page.goto(f"{base}/o/saint-aubin/courriers/{chrono}/")
            page.wait_for_load_state("networkidle")
            page.wait_for_function(
                "() => [...document.querySelectorAll('img')].every(i => i.complete && i.naturalWidth > 0)"
            )
            args.output.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.output), full_page=True)
            browser.close()
        server.shutdown()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    print(f"Capture enregistrée : {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
