"""Notifications: write one in the caller's transaction; e-mail it at once, in a daily digest, or never.

``notify`` only writes a row. For a person who chose « immediate », an e-mail is queued once the caller's
transaction has committed (a rolled-back action notifies nobody), through ``core.mailer`` (an
``OutgoingMail`` row and its job: the job sends it or files it in the outbox). E-mail problems are logged,
never raised: a notification must not break the action that caused it.

The daily digest (``send_digests``, a periodic duty) claims the day for a person by a conditional update of
their preference, marks the notifications it lists as e-mailed and queues the message, all in one
transaction: run twice, or by two workers at once, or killed half-way, it queues one message at most.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
from collections.abc import Sequence
from email.utils import make_msgid
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from mairie.audit.services import record
from mairie.core import mailer
from mairie.core.models import OutgoingMail
from mairie.jobs.services import periodic
from mairie.notifications.models import Notification, NotificationPreference
from mairie.organisations.models import Organisation

logger = logging.getLogger("mairie.notifications")

DIGEST_EVERY_SECONDS = 300.0
# At most this many notifications are listed in one digest (the rest are in the bell).
DIGEST_MAX_ITEMS = 200


def preference_for(user: Any) -> NotificationPreference:
    """The person's preference (not stored until they change it: daily at 8 h by default)."""
    found = NotificationPreference.objects.filter(user=user).first()
    return found or NotificationPreference(user=user)


def absolute_url(url: str) -> str:
    if not url or url.startswith(("http://", "https://")):
        return url
    return settings.SITE_URL + (url if url.startswith("/") else "/" + url)


def notify(
    *,
    user: Any,
    organisation: Organisation,
    kind: str,
    text: str,
    url: str = "",
    dossier: Any = None,
    force_email: bool = False,
) -> Notification:
    """Notify ``user`` in ``organisation`` (in the caller's transaction).

    ``force_email`` sends an e-mail whatever the person's preference (reminders: they are the point).
    """
    notification = Notification.objects.create(
        organisation=organisation,
        user=user,
        kind=kind[:40],
        text=text[:500],
        url=url[:500],
        dossier=dossier,
    )
    try:
        wants_mail = force_email or preference_for(user).digest == NotificationPreference.Digest.IMMEDIATE
        if wants_mail and (user.email or "").strip():
            notification_id = notification.pk
            transaction.on_commit(lambda: email_notification(notification_id))
    except Exception:  # never let e-mail break the caller
        logger.exception("Courriel de notification non programmé pour %s", user)
    return notification


def email_notification(notification_id: int) -> OutgoingMail | None:
    """Queue the e-mail of one notification, once (claims it by ``emailed_at``). Never raises."""
    try:
        with transaction.atomic():
            now = timezone.now()
            claimed = Notification.objects.filter(pk=notification_id, emailed_at__isnull=True).update(
                emailed_at=now
            )
            if not claimed:
                return None
            notification = Notification.objects.select_related("organisation", "user").get(pk=notification_id)
            user = notification.user
            if not (user.email or "").strip():
                return None
            lines = [f"Bonjour {_name(user)},", "", notification.text]
            if notification.url:
                lines += ["", f"Voir : {absolute_url(notification.url)}"]
            lines += [
                "",
                "—",
                f"{notification.organisation.name}",
                "Vous recevez ce message selon vos préférences de notification : "
                + absolute_url(_preferences_url(notification.organisation)),
            ]
            return mailer.queue_mail(
                organisation=notification.organisation,
                to=[user.email],
                subject=f"[{notification.organisation.name}] {notification.text}"[:200],
                body="\n".join(lines) + "\n",
            )
    except Exception:
        logger.exception("Courriel de la notification %s non mis en file", notification_id)
        return None


def _name(user: Any) -> str:
    return (user.get_full_name() or user.get_username()).strip()


def _preferences_url(organisation: Organisation) -> str:
    from django.urls import reverse

    return reverse("notifications:preferences", kwargs={"slug": organisation.slug})


# --- Reading and marking ------------------------------------------------------------------------------


def unread_count(*, user: Any, organisation: Organisation) -> int:
    return Notification.objects.filter(user=user, organisation=organisation, read_at__isnull=True).count()


def mark_read(*, user: Any, organisation: Organisation, notification_id: int) -> bool:
    return bool(
        Notification.objects.filter(
            pk=notification_id, user=user, organisation=organisation, read_at__isnull=True
        ).update(read_at=timezone.now())
    )


def mark_all_read(*, user: Any, organisation: Organisation) -> int:
    return Notification.objects.filter(user=user, organisation=organisation, read_at__isnull=True).update(
        read_at=timezone.now()
    )


def set_preference(*, user: Any, digest: str, daily_hour: int) -> NotificationPreference:
    from django.core.exceptions import ValidationError

    if digest not in NotificationPreference.Digest.values:
        raise ValidationError({"digest": "Choix inconnu."})
    if not 0 <= int(daily_hour) <= 23:
        raise ValidationError({"daily_hour": "L'heure doit être comprise entre 0 et 23."})
    preference, _ = NotificationPreference.objects.update_or_create(
        user=user, defaults={"digest": digest, "daily_hour": int(daily_hour)}
    )
    return preference


# --- Daily digest -------------------------------------------------------------------------------------


def _queue_digest_mail(
    *, organisation: Organisation, to: str, subject: str, text: str, html_body: str
) -> OutgoingMail:
    """Like ``mailer.queue_mail`` with an HTML alternative; From is the platform (the digest spans
    organisations). Call inside a transaction: the row and its job commit with the claim."""
    sender = mailer.platform_sender()
    message_id = make_msgid(domain=sender.domain or "mairie.invalid")
    message = mailer.build_message(sender=sender, to=[to], subject=subject, body=text, message_id=message_id)
    message.add_alternative(html_body, subtype="html", charset="utf-8")
    mail = OutgoingMail.objects.create(
        organisation=organisation,
        message_id=message_id,
        sender=str(sender),
        recipients=[to],
        subject=subject[:500],
        raw=message.as_bytes(),
    )
    mailer.send_mail_task.enqueue(mail.pk)
    record(
        organisation=organisation,
        actor=None,
        action="mail.queued",
        summary=f"Courriel « {mail.subject} » à {to} mis en file d'envoi.",
    )
    return mail


def _digest_bodies(user: Any, items: Sequence[Notification]) -> tuple[str, str, str]:
    groups: dict[int, list[Notification]] = {}
    for item in items:
        groups.setdefault(item.organisation_id, []).append(item)
    ordered = sorted(groups.values(), key=lambda group: group[0].organisation.name)
    count = len(items)
    subject = f"Vos notifications : {count} nouvelle{'s' if count > 1 else ''}"
    text = [f"Bonjour {_name(user)},", "", f"Voici vos notifications non lues ({count}).", ""]
    parts = [
        "<!doctype html><html lang='fr'><body style='font-family:sans-serif'>",
        f"<p>Bonjour {html.escape(_name(user))},</p>",
        f"<p>Voici vos notifications non lues ({count}).</p>",
    ]
    for group in ordered:
        organisation = group[0].organisation
        text += [organisation.name, "-" * len(organisation.name)]
        parts.append(f"<h2 style='font-size:1.1em'>{html.escape(organisation.name)}</h2><ul>")
        for item in group:
            when = timezone.localtime(item.created_at)
            link = absolute_url(item.url)
            text.append(f"- {when:%d/%m %H:%M} {item.text}" + (f"\n  {link}" if link else ""))
            label = html.escape(item.text)
            if link:
                label = f"<a href='{html.escape(link, quote=True)}'>{label}</a>"
            parts.append(f"<li>{when:%d/%m %H:%M} — {label}</li>")
        text.append("")
        parts.append("</ul>")
    preferences = absolute_url(_preferences_url(ordered[0][0].organisation))
    text += [
        "—",
        f"Vous recevez ce récapitulatif chaque jour selon vos préférences de notification : {preferences}",
    ]
    parts.append(
        "<p style='color:#555;font-size:.9em'>Vous recevez ce récapitulatif chaque jour selon vos "
        f"<a href='{html.escape(preferences, quote=True)}'>préférences de notification</a>.</p></body></html>"
    )
    return subject, "\n".join(text) + "\n", "\n".join(parts)


def send_digest(user: Any, *, now: dt.datetime | None = None) -> OutgoingMail | None:
    """Queue today's digest for one person if it is due and not taken yet (idempotent)."""
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    preference, _ = NotificationPreference.objects.get_or_create(user=user)
    if preference.digest != NotificationPreference.Digest.DAILY:
        return None
    if timezone.localtime(now).hour < preference.daily_hour:
        return None
    if preference.last_digest_on is not None and preference.last_digest_on >= today:
        return None
    with transaction.atomic():
        # The claim: one worker wins the day; a killed one rolls it back with the rest.
        claimed = (
            NotificationPreference.objects.filter(pk=preference.pk)
            .filter(Q(last_digest_on__isnull=True) | Q(last_digest_on__lt=today))
            .update(last_digest_on=today)
        )
        if not claimed:
            return None
        pending = Notification.objects.filter(user=user, read_at__isnull=True, emailed_at__isnull=True)
        items = list(
            pending.select_related("organisation").order_by("organisation__name", "created_at", "id")[
                :DIGEST_MAX_ITEMS
            ]
        )
        if not items:
            return None
        Notification.objects.filter(pk__in=[item.pk for item in items], emailed_at__isnull=True).update(
            emailed_at=now
        )
        address = (user.email or "").strip()
        if not address:
            return None
        subject, text, html_body = _digest_bodies(user, items)
        return _queue_digest_mail(
            organisation=items[0].organisation, to=address, subject=subject, text=text, html_body=html_body
        )


def send_digests(now: dt.datetime | None = None) -> int:
    """The periodic duty: each person with unread, un-e-mailed notifications whose digest hour has come."""
    now = now or timezone.now()
    user_ids = set(
        Notification.objects.filter(read_at__isnull=True, emailed_at__isnull=True)
        .values_list("user_id", flat=True)
        .distinct()
    )
    if not user_ids:
        return 0
    local = timezone.localtime(now)
    # Not due (another choice than daily, today's digest taken, hour not come): left out without a query each.
    skip = set(
        NotificationPreference.objects.filter(user_id__in=user_ids)
        .filter(
            ~Q(digest=NotificationPreference.Digest.DAILY)
            | Q(last_digest_on__gte=local.date())
            | Q(daily_hour__gt=local.hour)
        )
        .values_list("user_id", flat=True)
    )
    if local.hour < NotificationPreference._meta.get_field("daily_hour").get_default():
        # People who never chose keep the default hour.
        skip |= user_ids - set(
            NotificationPreference.objects.filter(user_id__in=user_ids).values_list("user_id", flat=True)
        )
    sent = 0
    for user in get_user_model().objects.filter(pk__in=user_ids - skip, is_active=True).order_by("pk"):
        try:
            if send_digest(user, now=now) is not None:
                sent += 1
        except Exception:
            logger.exception("Récapitulatif des notifications de %s non envoyé", user)
    return sent


periodic("notification-digest", every=DIGEST_EVERY_SECONDS)(send_digests)
