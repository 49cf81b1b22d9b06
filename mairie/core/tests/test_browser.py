"""The agent's journey in a real browser (system Chromium), with axe-core on every page.

Logs in, uploads a generated scan through the upload page, lets the worker OCR it, opens the courrier,
finds it by a word of the letter, and checks WCAG 2.1 AA (no "serious" or "critical" violation) on each page,
at desktop and phone widths. The administrator's pages are checked after a real TOTP enrolment.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any

import pyotp
import pytest
from django.db import connection, connections
from django.utils import timezone

from mairie.courrier.models import Courrier
from mairie.demo.letters import make_letter
from mairie.demo.scans import scanned_letter_pdf
from mairie.documents.models import Document
from mairie.testing.browser import axe_violations, describe, horizontal_overflow, launch, log_in
from mairie.testing.personas import PASSWORD

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}


def _close_connections_of_the_playwright_block() -> None:
    """Close, from inside the ``sync_playwright()`` block, the database connections opened in it.

    Playwright's synchronous API runs the block in a greenlet with a context of its own, and Django keeps
    connections per context: queries in the block open other connections than the test's, which nothing
    else closes. On PostgreSQL the test database then cannot be dropped at the end of the run ("is being
    accessed by other users").
    """
    connections.close_all()


def _assert_no_other_database_session() -> None:
    """On PostgreSQL, only the test's own connection is left once the browser is closed."""
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + 10  # the live server's threads close theirs when their socket closes
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            (others,) = cursor.fetchone()
        if others == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert others == 0, f"{others} connexion(s) à la base de test encore ouverte(s)"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_agent_journey_is_accessible_in_chromium(world, live_server, run_jobs, tmp_path, monkeypatch):
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
    from playwright.sync_api import expect, sync_playwright

    # Playwright's synchronous API runs an event loop in this thread; the worker run below (run_jobs)
    # still uses the database from here, as `mairie worker` would from its own process.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    _, letter = make_letter(1)
    scan = tmp_path / "courrier-cantine.pdf"
    scan.write_bytes(scanned_letter_pdf(letter, seed=1))
    base = live_server.url
    org = f"{base}/o/saint-aubin"
    failures: dict[str, str] = {}

    def audit(page: Any, name: str) -> None:
        found = axe_violations(page)
        if found:
            failures[name] = describe(found)

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            desktop = browser.new_context(viewport=DESKTOP, locale="fr-FR")
            page = desktop.new_page()

            page.goto(f"{base}/connexion/")
            audit(page, "connexion")
            log_in(page, base, world.secretary.username, "pas-le-bon")
            expect(page.get_by_role("alert")).to_contain_text("Identifiant ou mot de passe incorrect")
            audit(page, "connexion (erreur)")
            log_in(page, base, world.secretary.username, PASSWORD)
            expect(page).to_have_url(f"{org}/")
            expect(page.get_by_role("heading", level=1)).to_have_text("Ma corbeille")

            page.get_by_role("link", name="Enregistrer un courrier").first.click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Enregistrer un courrier")
            audit(page, "enregistrement")
            page.get_by_label("Fichiers").set_input_files(str(scan))
            page.get_by_label("Expéditeur (nom)").fill("Mathilde Mercier")
            page.get_by_label("Objet").fill("Inscription d'une élève de CE2")
            page.get_by_role("button", name="Enregistrer", exact=True).click()
            expect(page.get_by_role("heading", level=1)).to_contain_text("Inscription d'une élève de CE2")
            chrono = Courrier.objects.get(organisation=world.commune).chrono
            assert page.url == f"{org}/courriers/{chrono}/"
            expect(page.get_by_role("status").first).to_contain_text(f"Enregistré : {chrono}")
            audit(page, "courrier (lecture en cours)")

            run_jobs()  # the worker OCRs the scan
            document = Document.objects.get(courrier__chrono=chrono, organisation=world.commune)
            assert document.status == Document.Status.DONE, document.error
            page.reload()
            expect(
                page.get_by_role("img", name=re.compile(r"Page 1 sur 1 de courrier-cantine\.pdf"))
            ).to_be_visible()
            page.get_by_text("Texte du document").click()
            expect(page.locator(".ocr-text")).to_contain_text("restauration scolaire")
            page.get_by_text("Modifier, attribuer, transmettre").click()
            audit(page, "courrier")
            # The page images are lazy-loaded: brought into view, each must load and decode.
            page.locator(".page img").first.scroll_into_view_if_needed()
            try:
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.page img')]"
                    ".every(i => i.complete && i.naturalWidth > 0)",
                    timeout=10_000,
                )
            except PlaywrightTimeoutError:
                raise AssertionError("l'image de la page du document ne s'affiche pas") from None

            # Assign it to herself with a due date already past: it shows in her inbox, late.
            page.get_by_label("Agent", exact=True).select_option(label="Sylvie Marchand")
            yesterday = timezone.localdate() - dt.timedelta(days=1)
            page.get_by_label("Échéance").fill(yesterday.isoformat())
            page.get_by_role("button", name="Enregistrer", exact=True).click()
            expect(page.get_by_role("status").first).to_contain_text("Courrier mis à jour.")
            page.get_by_role("link", name="Ma corbeille").click()
            row = page.get_by_role("row", name=re.compile(re.escape(chrono)))
            expect(row).to_contain_text("en retard")
            audit(page, "corbeille")
            page.get_by_role("link", name=re.compile(r"En retard")).click()
            expect(page.get_by_role("row", name=re.compile(re.escape(chrono)))).to_be_visible()

            page.get_by_role("link", name="Registre", exact=True).click()
            expect(page.get_by_role("row", name=re.compile(re.escape(chrono)))).to_be_visible()
            audit(page, "registre")

            page.get_by_role("link", name="Recherche", exact=True).click()
            page.get_by_label("Rechercher").fill("Restauration scolaire")
            page.get_by_role("button", name="Rechercher").click()
            result = page.get_by_role("link", name=re.compile(re.escape(chrono)))
            expect(result).to_be_visible()
            expect(page.locator(".snippet mark").first).to_be_visible()
            audit(page, "recherche")
            result.click()
            expect(page).to_have_url(f"{org}/courriers/{chrono}/")

            page.goto(f"{org}/registre/export/")
            audit(page, "export")

            # A phone: no horizontal scrolling on the pages used at the counter.
            phone = browser.new_context(viewport=PHONE, locale="fr-FR", storage_state=desktop.storage_state())
            small = phone.new_page()
            for name, url in (("corbeille", f"{org}/"), ("courrier", f"{org}/courriers/{chrono}/")):
                small.goto(url)
                small.wait_for_load_state("networkidle")
                overflow = horizontal_overflow(small)
                assert overflow <= 0, f"{name} : la page dépasse de {overflow} px à 375 px de large"
                audit(small, f"{name} (téléphone)")
            phone.close()
            desktop.close()

            # An administrator: TOTP enrolment is forced, then the organisation's settings.
            admin = browser.new_context(viewport=DESKTOP, locale="fr-FR")
            page = admin.new_page()
            log_in(page, base, world.commune_admin.username, PASSWORD)
            expect(page).to_have_url(f"{base}/compte/double-authentification/")
            audit(page, "double authentification")
            secret = page.locator("code").first.inner_text().strip()
            page.get_by_label("Code à 6 chiffres").fill(pyotp.TOTP(secret).now())
            page.get_by_role("button", name="Activer").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("Double authentification active")
            page.goto(f"{org}/organisation/")
            expect(page.get_by_role("heading", level=1)).to_have_text("Saint-Aubin-les-Vignes")
            audit(page, "organisation")
            admin.close()

            # Next login asks for the code.
            again = browser.new_context(viewport=DESKTOP, locale="fr-FR")
            page = again.new_page()
            log_in(page, base, world.commune_admin.username, PASSWORD)
            expect(page.get_by_role("heading", level=1)).to_have_text("Vérification en deux étapes")
            audit(page, "vérification")
            page.get_by_label("Code à 6 chiffres").fill(pyotp.TOTP(secret).at(time.time() + 30))
            page.get_by_role("button", name="Valider").click()
            expect(page).to_have_url(f"{org}/")
            again.close()
        finally:
            browser.close()
            _close_connections_of_the_playwright_block()
    _assert_no_other_database_session()

    assert not failures, "Violations axe-core (WCAG 2.1 AA) :\n" + "\n".join(
        f"[{name}]\n{report}" for name, report in failures.items()
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_files_dropped_on_the_upload_zone_are_registered(world, live_server, monkeypatch):
    """Drag and drop: two files dropped on the zone are listed, then registered as one courrier."""
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    _, letter = make_letter(2)
    pdf = list(scanned_letter_pdf(letter, seed=2))
    base = live_server.url
    org = f"{base}/o/saint-aubin"
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_context(viewport=DESKTOP, locale="fr-FR").new_page()
            log_in(page, base, world.secretary.username, PASSWORD)
            page.goto(f"{org}/courriers/nouveau/")
            # What the browser does when files from the desktop are dropped: a drop event carrying them.
            page.evaluate(
                """(bytes) => {
                    const transfer = new DataTransfer();
                    transfer.items.add(new File([new Uint8Array(bytes)], "lettre-deposee.pdf",
                                                {type: "application/pdf"}));
                    transfer.items.add(new File([new Uint8Array(bytes)], "copie.pdf", {type: "application/pdf"}));
                    const zone = document.querySelector("[data-dropzone]");
                    zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: transfer, bubbles: true}));
                    zone.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true}));
                }""",
                pdf,
            )
            expect(page.locator("[data-file-list]")).to_contain_text(
                "2 fichier(s) : lettre-deposee.pdf, copie.pdf"
            )
            page.get_by_label("Un seul courrier avec toutes les pièces").check()
            page.get_by_label("Objet").fill("Demande déposée par glisser-déposer")
            page.get_by_role("button", name="Enregistrer", exact=True).click()
            expect(page.get_by_role("heading", level=1)).to_contain_text(
                "Demande déposée par glisser-déposer"
            )
        finally:
            browser.close()
            _close_connections_of_the_playwright_block()
    _assert_no_other_database_session()
    courrier = Courrier.objects.get(organisation=world.commune, subject="Demande déposée par glisser-déposer")
    assert sorted(courrier.documents.values_list("original_name", flat=True)) == [
        "copie.pdf",
        "lettre-deposee.pdf",
    ]
