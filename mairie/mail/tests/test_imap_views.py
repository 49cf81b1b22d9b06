"""The mailbox pages of the organisation page, with a real Dovecot behind the login check."""

from __future__ import annotations

from typing import Any

from django_tasks_db.models import DBTaskResult

from mairie.audit.models import AuditEntry
from mairie.courrier.models import Channel, Courrier
from mairie.mail.models import Mailbox
from mairie.mail.services import create_mailbox
from mairie.mail.tests.test_imap_fetch import message
from mairie.testing.dovecot import Dovecot

ADD = "/o/saint-aubin/organisation/boites/ajouter/"
SETTINGS = "/o/saint-aubin/organisation/"


def form_data(dovecot: Dovecot, user: str, **changes: Any) -> dict[str, Any]:
    data = {
        "label": "Boîte de la mairie",
        "service": "",
        "host": dovecot.host,
        "port": dovecot.port,
        "security": "plain",
        "username": user,
        "auth": "password",
        "password": dovecot.password,
        "client_id": "",
        "client_secret": "",
        "refresh_token": "",
        "token_url": "",
        "folder": "INBOX",
        "done_folder": "Traités",
        "quarantine_folder": "Quarantaine",
    }
    data.update(changes)
    return data


def test_admin_connects_a_mailbox_after_a_successful_login(dovecot, mail_user, world, as_user) -> None:
    client = as_user(world.commune_admin)
    page = client.get(ADD)
    assert page.status_code == 200
    assert "Connecter une boîte aux lettres" in page.content.decode()

    service = world.service("Services techniques")
    response = client.post(ADD, form_data(dovecot, mail_user, service=service.pk))
    assert response.status_code == 302 and response["Location"].startswith(SETTINGS)
    mailbox = Mailbox.objects.get()
    assert mailbox.organisation == world.commune and mailbox.service == service
    assert mailbox.password == dovecot.password and mailbox.created_by == world.commune_admin

    listing = client.get(SETTINGS).content.decode()
    assert "Boîte de la mairie" in listing and "Jamais relevée" in listing and "Relever maintenant" in listing
    assert dovecot.password not in listing


def test_wrong_password_shows_the_server_answer_and_saves_nothing(dovecot, mail_user, world, as_user) -> None:
    client = as_user(world.commune_admin)
    response = client.post(ADD, form_data(dovecot, mail_user, password="pas-le-bon"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Connexion impossible, la boîte n&#x27;est pas enregistrée." in html
    assert "mot de passe refusé par le serveur" in html and "Authentication failed" in html
    assert 'role="alert"' in html
    assert "pas-le-bon" not in html  # a password typed is not sent back either
    assert not Mailbox.objects.exists()


def test_secrets_never_appear_in_the_edit_page_and_empty_keeps_them(
    dovecot, mail_user, world, as_user
) -> None:
    oauth = dovecot.oauth
    refresh = oauth.grant(mail_user)
    mailbox = create_mailbox(
        organisation=world.commune,
        actor=world.commune_admin,
        host=dovecot.host,
        port=dovecot.port,
        security="plain",
        username=mail_user,
        auth="xoauth2",
        client_id=oauth.client_id,
        client_secret=oauth.client_secret,
        refresh_token=refresh,
        token_url=oauth.token_url,
        label="Gmail de la mairie",
    )
    client = as_user(world.commune_admin)
    url = f"/o/saint-aubin/organisation/boites/{mailbox.pk}/"
    html = client.get(url).content.decode()
    assert oauth.client_secret not in html and refresh not in html
    assert html.count("Enregistré — laisser vide pour conserver.") == 2  # client secret, refresh token
    assert oauth.client_id in html  # not a secret

    changed = form_data(
        dovecot,
        mail_user,
        label="Gmail de l'accueil",
        auth="xoauth2",
        password="",
        client_id=oauth.client_id,
        token_url=oauth.token_url,
    )
    response = client.post(url, changed)
    assert response.status_code == 302, response.content.decode()
    mailbox.refresh_from_db()
    assert mailbox.label == "Gmail de l'accueil"
    assert (mailbox.client_secret, mailbox.refresh_token) == (oauth.client_secret, refresh)
    assert AuditEntry.objects.filter(action="mail.mailbox_changed", organisation=world.commune).exists()


def test_fetch_now_enqueues_a_job_that_fetches(
    dovecot, mail_user, transactional_db, world, as_user, run_jobs
) -> None:
    # transactional_db: the worker closes its database connection between duties, as in production.
    mailbox = create_mailbox(
        organisation=world.commune,
        actor=None,
        host=dovecot.host,
        port=dovecot.port,
        security="plain",
        username=mail_user,
        password=dovecot.password,
    )
    dovecot.deliver(mail_user, message(1))
    client = as_user(world.commune_admin)
    response = client.post(f"/o/saint-aubin/organisation/boites/{mailbox.pk}/relever/")
    assert response.status_code == 302
    assert DBTaskResult.objects.filter(task_path="mairie.mail.tasks.fetch_mailbox_task").count() == 1
    run_jobs()
    assert Courrier.objects.for_org(world.commune).filter(channel=Channel.EMAIL).count() == 1
    mailbox.refresh_from_db()
    assert mailbox.last_status == Mailbox.LastStatus.OK
    assert "Relevée" in client.get(SETTINGS).content.decode()


def test_deactivate_and_reactivate(world, as_user) -> None:
    mailbox = Mailbox.objects.create(
        organisation=world.commune, label="Mairie", host="imap.invalid", username="u", password="p"
    )
    client = as_user(world.commune_admin)
    client.post(f"/o/saint-aubin/organisation/boites/{mailbox.pk}/activation/")
    mailbox.refresh_from_db()
    assert not mailbox.is_active
    assert "désactivée" in client.get(SETTINGS).content.decode()
    refused = client.post(f"/o/saint-aubin/organisation/boites/{mailbox.pk}/relever/", follow=True)
    assert "Cette boîte est désactivée" in refused.content.decode()
    client.post(f"/o/saint-aubin/organisation/boites/{mailbox.pk}/activation/")
    mailbox.refresh_from_db()
    assert mailbox.is_active
    actions = set(AuditEntry.objects.filter(organisation=world.commune).values_list("action", flat=True))
    assert {"mail.mailbox_deactivated", "mail.mailbox_activated"} <= actions


def test_error_of_the_last_fetch_is_shown_on_the_organisation_page(world, as_user) -> None:
    Mailbox.objects.create(
        organisation=world.commune,
        label="Mairie",
        host="imap.invalid",
        username="u",
        password="p",
        last_status="error",
        last_error="Serveur IMAP introuvable : « imap.invalid ».",
    )
    html = as_user(world.commune_admin).get(SETTINGS).content.decode()
    assert "En erreur" not in html or "Serveur IMAP introuvable" in html
    assert "Serveur IMAP introuvable : « imap.invalid »." in html


def test_non_admin_gets_403(world, as_user) -> None:
    mailbox = Mailbox.objects.create(
        organisation=world.commune, label="Mairie", host="imap.invalid", username="u", password="p"
    )
    client = as_user(world.secretary)
    assert client.get(ADD).status_code == 403
    assert client.get(f"/o/saint-aubin/organisation/boites/{mailbox.pk}/").status_code == 403
    assert client.post(f"/o/saint-aubin/organisation/boites/{mailbox.pk}/relever/").status_code == 403


def test_agent_of_other_commune_gets_404(world, as_user) -> None:
    mailbox = Mailbox.objects.create(
        organisation=world.commune, label="Mairie", host="imap.invalid", username="u", password="p"
    )
    client = as_user(world.other_agent)
    assert client.get(ADD).status_code == 404
    assert client.get(f"/o/saint-aubin/organisation/boites/{mailbox.pk}/").status_code == 404
    assert client.get(f"/o/villeneuve/organisation/boites/{mailbox.pk}/").status_code in {403, 404}
    assert client.post(f"/o/saint-aubin/organisation/boites/{mailbox.pk}/activation/").status_code == 404
    mailbox.refresh_from_db()
    assert mailbox.is_active


def test_oauth2_form_asks_for_what_it_needs_and_connects(dovecot, mail_user, world, as_user) -> None:
    client = as_user(world.commune_admin)
    incomplete = client.post(ADD, form_data(dovecot, mail_user, auth="xoauth2", password=""))
    assert incomplete.status_code == 200
    assert incomplete.content.decode().count("Nécessaire pour une connexion OAuth2.") == 3
    oauth = dovecot.oauth
    refresh = oauth.grant(mail_user)
    complete = client.post(
        ADD,
        form_data(
            dovecot,
            mail_user,
            auth="xoauth2",
            password="",
            client_id=oauth.client_id,
            client_secret=oauth.client_secret,
            refresh_token=refresh,
            token_url=oauth.token_url,
        ),
    )
    assert complete.status_code == 302
    mailbox = Mailbox.objects.get()
    assert mailbox.auth == "xoauth2" and mailbox.refresh_token == refresh and mailbox.password == ""
    assert refresh not in client.get(f"/o/saint-aubin/organisation/boites/{mailbox.pk}/").content.decode()
