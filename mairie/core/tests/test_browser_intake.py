"""The pages of the e-mail intake, replies, routing and batch scanning, in a real browser (system Chromium).

Each journey logs in as the persona who does it, runs axe-core (WCAG 2.1 AA, no serious or critical
violation) on every page it meets, does the page's main action with real clicks and typing, and checks the
page has no horizontal scroll at a phone's width (390 px). Real servers stand behind the pages: a Dovecot
for the mailbox login check, an aiosmtpd server for the reply sent by e-mail.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyotp
import pytest
from django.db import connection, connections
from django.utils import timezone

from mairie.accounts.models import TOTPDevice
from mairie.courrier.models import Channel, Courrier, CourrierLink, Direction
from mairie.courrier.services import find_or_create_contact
from mairie.letters.models import LetterTemplate
from mairie.letters.services import templates_for
from mairie.letters.tests.conftest import Recorder, SmtpServer, free_port
from mairie.mail.intake import register_message
from mairie.mail.models import Mailbox
from mairie.mail.tests.corpus import CORPUS
from mairie.routing.models import Suggestion
from mairie.routing.services import suggest_for_courrier
from mairie.testing.browser import axe_violations, describe, horizontal_overflow, launch, log_in
from mairie.testing.dovecot import Dovecot, start_dovecot, stop_dovecot
from mairie.testing.factories import courrier_with_document
from mairie.testing.personas import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
ORG = "/o/saint-aubin"
RECOURS = (
    "Objet : recours gracieux\nPar la présente, je forme un recours gracieux contre l'arrêté de voirie du "
    "3 février. C'est urgent : le chemin est fermé."
)

# The innermost elements that stick out on the right, to tell what to fix when a page scrolls sideways.
WIDE_ELEMENTS = """() => [...document.body.querySelectorAll('*')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
    .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right > window.innerWidth + 1))
    .slice(0, 5)
    .map(e => `${e.tagName.toLowerCase()}${e.className ? '.' + e.className : ''} `
              + `(${Math.round(e.getBoundingClientRect().right)} px) « ${e.textContent.trim().slice(0, 40)} »`)"""


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    """A real Dovecot on loopback for this module (any user logs in with ``dovecot.password``)."""
    # Not under pytest's private temporary directory: the mail processes run as another user.
    root = Path(tempfile.mkdtemp(prefix="mairie-dovecot-browser-"))
    root.chmod(0o755)
    server = start_dovecot(root)
    try:
        yield server
    finally:
        stop_dovecot(server)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer(port=free_port(), recorder=Recorder())
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _playwright_in_this_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # Playwright's synchronous API runs an event loop in this thread; the test still uses the database.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


class Journey:
    """A browser for one test, with the pages' axe and phone-width findings gathered for one assertion."""

    def __init__(self, browser: Any, base: str) -> None:
        self.browser = browser
        self.base = base
        self.failures: dict[str, str] = {}
        self.context = browser.new_context(viewport=DESKTOP, locale="fr-FR", accept_downloads=True)
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()

    def audit(self, name: str) -> None:
        found = axe_violations(self.page)
        if found:
            self.failures[name] = describe(found)

    def on_phone(self, name: str, path: str) -> None:
        """The same person on a phone: no horizontal scroll of the page, and axe again at that width."""
        phone = self.browser.new_context(
            viewport=PHONE, locale="fr-FR", storage_state=self.context.storage_state()
        )
        try:
            small = phone.new_page()
            small.goto(f"{self.base}{path}")  # returns once the page is loaded (its images have sizes)
            overflow = horizontal_overflow(small)
            if overflow > 0:
                wide = small.evaluate(WIDE_ELEMENTS)
                self.failures[f"{name} (téléphone)"] = (
                    f"la page dépasse de {overflow} px à 390 px de large : {'; '.join(wide)}"
                )
            found = axe_violations(small)
            if found:
                self.failures[f"{name} (téléphone, axe)"] = describe(found)
        finally:
            phone.close()

    def check(self) -> None:
        assert not self.failures, "Accessibilité ou largeur téléphone :\n" + "\n".join(
            f"[{name}]\n{report}" for name, report in self.failures.items()
        )


@contextmanager
def journey(base: str) -> Iterator[Journey]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield Journey(browser, base)
        finally:
            browser.close()
            # Playwright's block runs in a greenlet with its own context, hence its own database
            # connections: closed here, or PostgreSQL cannot drop the test database at the end.
            connections.close_all()
    _assert_no_other_database_session()


def _assert_no_other_database_session() -> None:
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


def field(page: Any, label: str) -> Any:
    """The form field of this exact label (a required field's label ends with a hidden « (obligatoire) »)."""
    return page.get_by_label(re.compile(rf"^{re.escape(label)}\s*\*?\s*(\(obligatoire\))?$"))


def _log_in_with_totp(page: Any, base: str, user: Any) -> None:
    """An administrator whose authenticator app is already enrolled: password, then the 6-digit code."""
    secret = pyotp.random_base32()
    TOTPDevice.objects.create(user=user, secret=secret, confirmed_at=timezone.now())
    log_in(page, base, user.username, PASSWORD)
    page.get_by_label("Code à 6 chiffres").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Valider").click()
    page.wait_for_load_state()


def test_admin_connects_a_mailbox_against_a_real_dovecot(world, live_server, dovecot, run_jobs):
    from playwright.sync_api import expect

    base = live_server.url
    wrong = "pas-le-bon-mot-de-passe"
    with journey(base) as j:
        page = j.page
        _log_in_with_totp(page, base, world.commune_admin)
        page.goto(f"{base}{ORG}/organisation/")
        expect(page.get_by_role("heading", name="Boîtes aux lettres électroniques")).to_be_visible()
        expect(page.get_by_text("Aucune boîte connectée pour l'instant.")).to_be_visible()
        j.audit("organisation (sans boîte)")

        page.get_by_role("link", name="Connecter une boîte aux lettres").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Connecter une boîte aux lettres")
        j.audit("boîte : formulaire")
        field(page, "Nom").fill("Boîte de la mairie")
        page.get_by_label("Service destinataire").select_option(label="Services techniques")
        field(page, "Serveur IMAP").fill(dovecot.host)
        field(page, "Port").fill(str(dovecot.port))
        field(page, "Sécurité").select_option(label="Sans chiffrement (réseau local uniquement)")
        field(page, "Identifiant").fill("mairie-navigateur")
        field(page, "Mot de passe").fill(wrong)
        page.get_by_role("button", name="Essayer la connexion et enregistrer").click()

        # Dovecot's answer, next to the form; nothing saved, the typed password not sent back.
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("Connexion impossible, la boîte n'est pas enregistrée.")
        expect(alert).to_contain_text("Authentication failed")
        assert not Mailbox.objects.exists()
        assert wrong not in page.content()
        expect(field(page, "Mot de passe")).to_have_value("")
        expect(field(page, "Serveur IMAP")).to_have_value(dovecot.host)  # the rest is kept
        j.audit("boîte : connexion refusée")

        field(page, "Mot de passe").fill(dovecot.password)
        page.get_by_role("button", name="Essayer la connexion et enregistrer").click()
        expect(page).to_have_url(re.compile(re.escape(f"{base}{ORG}/organisation/") + r"(#boites-title)?$"))
        expect(page.get_by_role("status").first).to_contain_text("Boîte « Boîte de la mairie » connectée")
        row = page.get_by_role("row", name=re.compile("Boîte de la mairie"))
        expect(row).to_contain_text("Jamais relevée")
        expect(row.get_by_role("button", name="Relever maintenant Boîte de la mairie")).to_be_visible()
        mailbox = Mailbox.objects.get()
        assert mailbox.username == "mairie-navigateur" and mailbox.service == world.service(
            "Services techniques"
        )
        assert dovecot.password not in page.content()
        j.audit("organisation (une boîte)")

        row.get_by_role("link", name="Boîte de la mairie").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Boîte « Boîte de la mairie »")
        expect(page.get_by_text("Enregistré — laisser vide pour conserver.")).to_be_visible()
        expect(field(page, "Mot de passe")).to_have_value("")
        assert dovecot.password not in page.content()
        j.audit("boîte : modification")
        # Saving without retyping the password keeps it (and logs in again with it).
        field(page, "Nom").fill("Boîte de l'accueil")
        page.get_by_role("button", name="Enregistrer", exact=True).click()
        expect(page.get_by_role("status").first).to_contain_text("Boîte « Boîte de l'accueil » enregistrée.")
        assert dovecot.password not in page.content()
        mailbox.refresh_from_db()
        assert mailbox.password == dovecot.password

        # A malformed e-mail arrives; « Relever maintenant », the worker fetches it into the register.
        dovecot.deliver("mairie-navigateur", CORPUS["broken_headers"])
        row = page.get_by_role("row", name=re.compile("Boîte de l'accueil"))
        row.get_by_role("button", name="Relever maintenant Boîte de l'accueil").click()
        expect(page.get_by_role("status").first).to_contain_text("Relevé de « Boîte de l'accueil » demandé")
        run_jobs()
        page.reload()
        expect(row).to_contain_text("Relevée")
        assert dovecot.count("mairie-navigateur", "Traités") == 1
        fetched = Courrier.objects.get(organisation=world.commune, channel=Channel.EMAIL)
        assert fetched.service == world.service("Services techniques") and fetched.intake_warnings
        j.audit("organisation (boîte relevée)")

        # The letter templates are the administrator's pages too.
        page.get_by_role("link", name="Modèles de lettres").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Modèles de lettres")
        j.audit("modèles de lettres")
        template = LetterTemplate.objects.filter(organisation=world.commune).order_by("pk").first()
        assert template is not None
        page.get_by_role("link", name=template.name, exact=True).click()
        expect(field(page, "Nom du modèle")).to_have_value(template.name)
        j.audit("modèle de lettre")

        j.on_phone("organisation", f"{ORG}/organisation/")
        j.on_phone("boîte : formulaire", f"{ORG}/organisation/boites/ajouter/")
        j.on_phone("boîte : modification", f"{ORG}/organisation/boites/{mailbox.pk}/")
        j.on_phone("modèles de lettres", f"{ORG}/modeles-de-lettres/")
        j.on_phone("modèle de lettre", f"{ORG}/modeles-de-lettres/{template.pk}/")
        j.check()


def test_agent_replies_by_email_and_sees_the_outgoing_courrier(
    world, live_server, settings, smtp_server, run_jobs
):
    from playwright.sync_api import expect

    settings.SMTP_URL = f"smtp://127.0.0.1:{smtp_server.port}"
    contact = find_or_create_contact(
        organisation=world.commune,
        name="Dupont",
        first_name="Jeanne",
        email="jeanne.dupont@example.org",
        address_line1="3 chemin des Vignes",
        postal_code="34980",
        city="Saint-Aubin-les-Vignes",
    )
    incoming, _ = courrier_with_document(
        organisation=world.commune,
        actor=world.secretary,
        text="Bonjour, je souhaite un acte de naissance.",
        subject="Demande d'acte de naissance",
        contact=contact,
        channel=Channel.EMAIL,
    )
    templates_for(world.commune)  # the default templates, as the first visit of the reply page makes them
    accuse = LetterTemplate.objects.get(organisation=world.commune, key="accuse-reception")
    base = live_server.url
    with journey(base) as j:
        page = j.page
        log_in(page, base, world.secretary.username, PASSWORD)
        page.goto(f"{base}{ORG}/courriers/{incoming.chrono}/")
        j.audit("courrier arrivé")
        page.get_by_role("link", name="Répondre", exact=True).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Répondre au courrier {incoming.chrono}")
        expect(field(page, "Adresse électronique du destinataire")).to_have_value("jeanne.dupont@example.org")
        j.audit("réponse : formulaire")

        # Another template, applied in the form: subject and text replaced, merged for this courrier.
        page.get_by_label("Modèle de lettre").select_option(label=accuse.name)
        page.get_by_role("button", name="Appliquer ce modèle").click()
        expect(field(page, "Objet")).to_have_value("Accusé de réception — Demande d'acte de naissance")
        body = field(page, "Texte de la lettre")
        expect(body).to_have_value(re.compile("Nous accusons réception de votre courrier"))
        body.press("Control+End")
        body.type("\nVotre acte de naissance vous parviendra sous huit jours.")
        page.get_by_role("button", name="Enregistrer et envoyer la réponse").click()

        outgoing = Courrier.objects.get(organisation=world.commune, direction=Direction.DEPART)
        expect(page).to_have_url(f"{base}{ORG}/courriers/{outgoing.chrono}/")
        expect(page.get_by_role("status").first).to_contain_text(f"Réponse {outgoing.chrono} enregistrée")
        assert CourrierLink.objects.filter(
            source=outgoing, target=incoming, kind=CourrierLink.Kind.REPLY_TO
        ).exists()

        run_jobs()  # the worker sends the e-mail
        [received] = smtp_server.received
        assert received.rcpt_tos == ["jeanne.dupont@example.org"]
        message = received.message
        assert message["Subject"] == "Accusé de réception — Demande d'acte de naissance"
        text = message.get_body(("plain",)).get_content()
        assert "sous huit jours" in text
        [attachment] = list(message.iter_attachments())
        assert attachment.get_filename() == f"{outgoing.chrono}.pdf"

        page.reload()
        expect(page.get_by_text("Envoyé à jeanne.dupont@example.org le ")).to_be_visible()
        j.audit("courrier départ")
        page.get_by_role("link", name=incoming.chrono, exact=True).first.click()
        expect(page).to_have_url(f"{base}{ORG}/courriers/{incoming.chrono}/")
        replies = page.locator(".letters-panel")
        expect(replies.get_by_role("link", name=outgoing.chrono)).to_be_visible()
        expect(replies).to_contain_text("Envoyé à jeanne.dupont@example.org le ")
        j.audit("courrier arrivé (répondu)")

        j.on_phone("courrier arrivé (répondu)", f"{ORG}/courriers/{incoming.chrono}/")
        j.on_phone("réponse : formulaire", f"{ORG}/courriers/{incoming.chrono}/repondre/")
        j.on_phone("courrier départ", f"{ORG}/courriers/{outgoing.chrono}/")
        j.check()


def test_agent_accepts_the_suggestions_in_one_click(world, live_server):
    from playwright.sync_api import expect

    courrier, _ = courrier_with_document(organisation=world.commune, actor=world.secretary, text=RECOURS)
    assert suggest_for_courrier(courrier.pk) == "suggested"
    suggestion = Suggestion.objects.get(courrier=courrier)
    assert suggestion.service is not None and courrier.service is None
    base = live_server.url
    url = f"{ORG}/courriers/{courrier.chrono}/"
    with journey(base) as j:
        page = j.page
        log_in(page, base, world.secretary.username, PASSWORD)
        page.goto(f"{base}{url}")
        box = page.get_by_role("region", name="Suggestions")
        expect(box).to_contain_text(suggestion.service.name)
        expect(box).to_contain_text("Délai légal")
        j.audit("courrier : suggestions")
        info = page.locator("dl.meta").last
        expect(info).to_contain_text("Service—")

        box.get_by_role("button", name="Accepter les suggestions").click()
        expect(page.get_by_role("status").first).to_contain_text("Suggestions appliquées au courrier.")
        expect(box).to_contain_text("Acceptées")
        expect(box.get_by_role("button", name="Accepter les suggestions")).to_have_count(0)
        expect(info).to_contain_text(f"Service{suggestion.service.name}")
        courrier.refresh_from_db()
        assert courrier.service == suggestion.service
        assert courrier.due_date == suggestion.deadline_date
        j.audit("courrier : suggestions acceptées")
        j.on_phone("courrier : suggestions", url)
        j.check()


def test_agent_prints_separator_sheets_and_splits_a_batch(world, live_server):
    import pypdfium2 as pdfium
    from playwright.sync_api import expect

    from mairie.courrier.tests import batch_scans as bs

    base = live_server.url
    service = world.service("Services techniques")
    with journey(base) as j:
        page = j.page
        log_in(page, base, world.secretary.username, PASSWORD)
        page.goto(f"{base}{ORG}/courriers/nouveau/")
        expect(page.get_by_role("group", name="Numérisation par lot")).to_be_visible()
        j.audit("enregistrement (options de lot)")
        page.get_by_role("link", name="Imprimer des feuilles de séparation").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Feuilles de séparation")
        j.audit("feuilles de séparation")
        field(page, "Nombre de feuilles").fill("2")
        page.get_by_label("Service destinataire (facultatif)").select_option(label=service.name)
        with page.expect_download() as download_info:
            page.get_by_role("button", name="Télécharger le PDF à imprimer").click()
        download = download_info.value
        assert download.suggested_filename == f"feuilles-separation-saint-aubin-service-{service.pk}.pdf"
        sheets = Path(download.path()).read_bytes()
        assert sheets.startswith(b"%PDF")
        assert len(pdfium.PdfDocument(sheets)) == 2

        # The sheets printed, one before each letter, and the pile scanned in one go.
        scan = bs.Batch().add(
            bs.printed_pdf(sheets, dpi=200, seed=1),
            *bs.letter(1, max_pages=1),
            bs.printed_pdf(sheets, dpi=200, seed=2),
            *bs.letter(2, max_pages=1),
        )
        batch_file = Path(tempfile.mkdtemp(prefix="mairie-lot-")) / "lot.pdf"
        batch_file.write_bytes(scan.pdf())
        page.get_by_role("link", name="Retour à l'enregistrement d'un courrier").click()
        page.get_by_label("Fichiers").set_input_files(str(batch_file))
        page.get_by_label(
            "Ce fichier contient plusieurs courriers séparés par des feuilles de séparation"
        ).check()
        page.get_by_role("button", name="Enregistrer", exact=True).click()

        status = page.get_by_role("status").first
        expect(status).to_contain_text("(page 2)")
        chronos = list(
            Courrier.objects.filter(organisation=world.commune)
            .order_by("chrono")
            .values_list("chrono", flat=True)
        )
        assert len(chronos) == 2
        for chrono in chronos:
            expect(status).to_contain_text(chrono)
        assert set(Courrier.objects.values_list("service", flat=True)) == {service.pk}
        j.audit("enregistrement (lot découpé)")
        batch_file.unlink()

        j.on_phone("enregistrement", f"{ORG}/courriers/nouveau/")
        j.on_phone("feuilles de séparation", f"{ORG}/courrier/separateurs/")
        j.check()


def test_courrier_from_a_malformed_email_shows_what_to_check(world, live_server):
    from playwright.sync_api import expect

    result = register_message(organisation=world.commune, raw=CORPUS["broken_headers"])
    assert result.status == "warning" and result.courrier is not None
    courrier = result.courrier
    base = live_server.url
    url = f"{ORG}/courriers/{courrier.chrono}/"
    with journey(base) as j:
        page = j.page
        log_in(page, base, world.secretary.username, PASSWORD)
        page.goto(f"{base}{url}")
        expect(page.get_by_role("heading", level=1)).to_contain_text("Réclamation éclairage public")
        box = page.get_by_role("note", name=re.compile("À vérifier"))
        expect(box).to_be_visible()
        for warning in courrier.intake_warnings:
            expect(box).to_contain_text(warning[:60])
        expect(box).to_contain_text("L'original complet est conservé")
        expect(page.get_by_role("heading", name="courriel.eml")).to_be_visible()
        j.audit("courrier : à vérifier")
        j.on_phone("courrier : à vérifier", url)
        j.check()
