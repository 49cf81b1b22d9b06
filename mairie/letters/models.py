from __future__ import annotations

from django.conf import settings
from django.db import models

from mairie.core.tenancy import TenantManager


class LetterTemplate(models.Model):
    """A commune's letter model: an object and a text with merge fields (see ``letters.merge``)."""

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    # The templates every organisation receives carry a key (so they are created once); others have none.
    key = models.CharField(max_length=40, blank=True)
    name = models.CharField("nom du modèle", max_length=120)
    subject_template = models.CharField("objet de la lettre", max_length=300)
    body_template = models.TextField("texte de la lettre")
    # « text »: paragraphs separated by blank lines; « html »: a restricted HTML (titles, lists, tables, bold…)
    # with its own CSS, laid out on the same letterhead. HTML templates serve documents made from dossiers.
    body_format = models.CharField(
        "format du texte",
        max_length=4,
        choices=[("text", "Texte simple"), ("html", "HTML et CSS")],
        default="text",
    )
    css = models.TextField("feuille de style (CSS)", blank=True)
    is_active = models.BooleanField("proposé pour les réponses", default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    objects = TenantManager["LetterTemplate"]()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "modèle de lettre"
        constraints = [
            models.UniqueConstraint(fields=["organisation", "name"], name="unique_letter_template_name"),
            models.UniqueConstraint(
                fields=["organisation", "key"], condition=~models.Q(key=""), name="unique_letter_template_key"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Reply(models.Model):
    """An outgoing courrier written as a reply to an incoming one (its letter, and its e-mail if any)."""

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    incoming = models.ForeignKey("courrier.Courrier", on_delete=models.PROTECT, related_name="+")
    outgoing = models.OneToOneField("courrier.Courrier", on_delete=models.PROTECT, related_name="+")
    # The reply form's one-time token: posting the form twice gives one reply.
    token = models.CharField(max_length=64)
    template = models.ForeignKey(
        LetterTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    mail = models.ForeignKey(
        "core.OutgoingMail", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantManager["Reply"]()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organisation", "token"], name="unique_reply_token"),
        ]
        indexes = [models.Index(fields=["organisation", "incoming"], name="reply_org_incoming_idx")]
