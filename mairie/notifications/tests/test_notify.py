from __future__ import annotations

import datetime as dt
from email import message_from_bytes, policy

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mairie.core.models import OutgoingMail
from mairie.notifications import services
from mairie.notifications.models import Notification, NotificationPreference
from mairie.notifications.services import notify, send_digest, send_digests
from mairie.organisations.models import Role
from mairie.organisations.services import add_member

from .helpers import NOW


def _notify(world, user=None, text="Nouvelle tâche : vérifier le permis", org=None, **kwargs):
    return notify(
        user=user or world.agent,
        organisation=org or world.commune,
        kind=kwargs.pop("kind", "task.new"),
        text=text,
        url=kwargs.pop("url", "/o/saint-aubin/"),
        **kwargs,
    )


def _parsed(mail):
    return message_from_bytes(mail.raw_bytes, policy=policy.default)


@pytest.mark.django_db(transaction=True)
def test_immediate_queues_one_mail_after_commit(world, run_jobs, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    services.set_preference(user=world.agent, digest="immediate", daily_hour=8)
    with transaction.atomic():
        notification = _notify(world)
        assert not OutgoingMail.objects.exists()  # nothing before the commit
    mail = OutgoingMail.objects.get()
    assert mail.recipients == ["agent@example.org"]
    assert "Nouvelle tâche : vérifier le permis" in mail.subject
    body = _parsed(mail).get_body(preferencelist=("plain",)).get_content()
    assert "Bonjour Karim Benali" in body and "http://127.0.0.1:8000/o/saint-aubin/" in body
    notification.refresh_from_db()
    assert notification.emailed_at is not None
    # Run again (a second callback, a retry): still one message.
    assert services.email_notification(notification.pk) is None
    run_jobs()
    mail.refresh_from_db()
    assert mail.status == OutgoingMail.Status.FILED
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1
    # Not in the digest: it was e-mailed already.
    services.set_preference(user=world.agent, digest="daily", daily_hour=8)
    assert send_digests(now=NOW) == 0


def test_rolled_back_notification_sends_nothing(world, django_capture_on_commit_callbacks):
    services.set_preference(user=world.agent, digest="immediate", daily_hour=8)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        _notify(world)
        raise RuntimeError("l'action échoue")
    assert callbacks == []
    assert not Notification.objects.exists()
    assert not OutgoingMail.objects.exists()


def test_email_problems_never_break_the_caller(world, django_capture_on_commit_callbacks, monkeypatch):
    services.set_preference(user=world.agent, digest="immediate", daily_hour=8)

    def broken(**kwargs):
        raise OSError("serveur en panne")

    monkeypatch.setattr(services.mailer, "queue_mail", broken)
    with django_capture_on_commit_callbacks(execute=True):
        notification = _notify(world)
    notification.refresh_from_db()
    assert notification.emailed_at is None  # the claim rolled back with the failure
    assert not OutgoingMail.objects.exists()


def test_none_sends_no_mail(world, django_capture_on_commit_callbacks):
    services.set_preference(user=world.agent, digest="none", daily_hour=8)
    with django_capture_on_commit_callbacks(execute=True):
        _notify(world)
    assert send_digests(now=NOW) == 0
    assert not OutgoingMail.objects.exists()
    assert Notification.objects.filter(user=world.agent, emailed_at__isnull=True).count() == 1


def test_daily_digest_lists_unread_by_organisation_once(world, django_capture_on_commit_callbacks):
    add_member(actor=None, organisation=world.other_commune, username="agent", roles=[Role.AGENT])
    with django_capture_on_commit_callbacks(execute=True):  # daily by default: no mail at once
        first = _notify(world, text="Nouvelle tâche : élagage")
        _notify(world, text="Avis demandé : permis de construire")
        _notify(world, text="Réponse reçue : cantine", org=world.other_commune, url="")
        read = _notify(world, text="Déjà lue")
    assert not OutgoingMail.objects.exists()
    Notification.objects.filter(pk=read.pk).update(read_at=NOW)
    other = _notify(world, user=world.secretary, text="Pour la secrétaire")

    assert send_digests(now=NOW.replace(hour=7)) == 0  # before 8 h
    assert send_digests(now=NOW) == 2
    mail = OutgoingMail.objects.get(recipients=["agent@example.org"])
    message = _parsed(mail)
    assert message["Subject"] == "Vos notifications : 3 nouvelles"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    for content in (text, html):
        assert "Nouvelle tâche : élagage" in content and "Réponse reçue : cantine" in content
        assert "Déjà lue" not in content and "Pour la secrétaire" not in content
    # Grouped by organisation (alphabetical order).
    assert text.index("Saint-Aubin-les-Vignes") < text.index("élagage") < text.index("Villeneuve-sur-Lergue")
    assert text.index("Villeneuve-sur-Lergue") < text.index("cantine")
    assert "<h2" in html and "http://127.0.0.1:8000/o/saint-aubin/" in html
    first.refresh_from_db()
    assert first.emailed_at == NOW
    other.refresh_from_db()
    assert other.emailed_at == NOW

    # Idempotent: again the same day, nothing; a new one waits for tomorrow's digest.
    assert send_digests(now=NOW + dt.timedelta(hours=1)) == 0
    _notify(world, text="Arrivée l'après-midi")
    assert send_digests(now=NOW + dt.timedelta(hours=5)) == 0
    assert OutgoingMail.objects.count() == 2
    assert send_digests(now=NOW + dt.timedelta(days=1)) == 1
    latest = OutgoingMail.objects.order_by("-pk").first()
    assert "Arrivée l'après-midi" in _parsed(latest).get_body(preferencelist=("plain",)).get_content()
    assert "élagage" not in _parsed(latest).get_body(preferencelist=("plain",)).get_content()


def test_digest_hour_is_the_persons_choice(world):
    services.set_preference(user=world.agent, digest="daily", daily_hour=17)
    _notify(world)
    assert send_digests(now=NOW) == 0
    assert send_digests(now=NOW.replace(hour=17)) == 1


def test_a_killed_digest_sends_nothing_and_the_next_run_sends_once(world, monkeypatch):
    _notify(world)

    def killed(**kwargs):
        raise SystemExit("travailleur arrêté")

    original = services._queue_digest_mail
    monkeypatch.setattr(services, "_queue_digest_mail", killed)
    with pytest.raises(SystemExit):
        send_digest(world.agent, now=NOW)
    assert not OutgoingMail.objects.exists()
    assert Notification.objects.get().emailed_at is None
    assert NotificationPreference.objects.get(user=world.agent).last_digest_on is None
    monkeypatch.setattr(services, "_queue_digest_mail", original)
    assert send_digests(now=NOW) == 1
    # Another worker that looked at the preference before the claim finds the day taken.
    stale = NotificationPreference.objects.get(user=world.agent)
    stale.last_digest_on = None
    monkeypatch.setattr(NotificationPreference.objects, "get_or_create", lambda **kwargs: (stale, False))
    _notify(world, text="Une autre")
    assert send_digest(world.agent, now=NOW) is None
    assert OutgoingMail.objects.count() == 1


# --- Pages --------------------------------------------------------------------------------------------


def _url(world, name, **kwargs):
    return reverse(name, kwargs={"slug": world.commune.slug, **kwargs})


def test_bell_shows_unread_count_with_one_query(world, as_user):
    _notify(world)
    _notify(world, text="Deuxième")
    _notify(world, user=world.secretary)
    client = as_user(world.agent)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(_url(world, "notifications:preferences"))
    assert page.status_code == 200
    assert '<span class="count">2</span>' in page.text
    counting = [q["sql"] for q in queries.captured_queries if 'FROM "notifications_notification"' in q["sql"]]
    assert len(counting) == 1 and "COUNT" in counting[0].upper()
    Notification.objects.update(read_at=NOW)
    assert 'class="count"' not in client.get(_url(world, "notifications:preferences")).text


def test_list_and_mark_read(world, as_user):
    one = _notify(world, text="Première notification", url="/o/saint-aubin/courriers/")
    two = _notify(world, text="Seconde notification")
    theirs = _notify(world, user=world.secretary, text="Celle de la secrétaire")
    client = as_user(world.agent)
    page = client.get(_url(world, "notifications:list"))
    assert page.status_code == 200
    assert "Première notification" in page.text and "Seconde notification" in page.text
    assert "Celle de la secrétaire" not in page.text
    assert "2 notifications non lues" in page.text

    response = client.post(_url(world, "notifications:mark_read", notification_id=one.pk), {"open": "1"})
    assert response.status_code == 302 and response["Location"] == "/o/saint-aubin/courriers/"
    one.refresh_from_db()
    assert one.read_at is not None
    # Someone else's notification: 404, untouched.
    response = client.post(_url(world, "notifications:mark_read", notification_id=theirs.pk))
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert client.get(_url(world, "notifications:mark_read", notification_id=two.pk)).status_code == 405

    response = client.post(_url(world, "notifications:mark_all_read"))
    assert response.status_code == 302
    two.refresh_from_db()
    assert two.read_at is not None
    assert "Aucune notification non lue" in client.get(_url(world, "notifications:list")).text


def test_preferences_page(world, as_user):
    client = as_user(world.agent)
    page = client.get(_url(world, "notifications:preferences"))
    assert page.status_code == 200
    assert 'value="daily" id="id_digest_1" required checked' in page.text
    assert '<option value="8" selected>8 h</option>' in page.text
    response = client.post(
        _url(world, "notifications:preferences"), {"digest": "immediate", "daily_hour": "10"}
    )
    assert response.status_code == 302
    preference = NotificationPreference.objects.get(user=world.agent)
    assert (preference.digest, preference.daily_hour) == ("immediate", 10)
    response = client.post(_url(world, "notifications:preferences"), {"digest": "jamais", "daily_hour": "25"})
    assert response.status_code == 400
    assert "Sélectionnez un choix valide" in response.text
