from __future__ import annotations

from django.conf import settings
from django.db import models

from mairie.core.crypto import EncryptedTextField
from mairie.core.tenancy import TenantManager


class SigningCertificate(models.Model):
    """A signing certificate and its private key (PKCS#12), stored encrypted (``mairie.core.crypto``).

    ``user`` set: a person's certificate; the PKCS#12 is re-wrapped with the PIN that person chose, so that
    only that PIN unlocks the key (the platform's encryption key alone does not). ``user`` empty: the
    organisation's server seal (*cachet serveur*), used without a PIN — its PKCS#12 is wrapped with a random
    secret stored next to it, both encrypted at rest.
    """

    organisation = models.ForeignKey("organisations.Organisation", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="titulaire",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Vide : cachet serveur de l'organisation.",
    )
    # The PKCS#12 (base64) protected by the PIN (or by ``seal_secret`` for a seal), then encrypted at rest.
    pkcs12 = EncryptedTextField("PKCS#12 chiffré")
    seal_secret = EncryptedTextField("secret du cachet serveur", blank=True, default="")
    subject_cn = models.CharField("titulaire du certificat", max_length=255)
    subject = models.CharField("sujet", max_length=500, blank=True, default="")
    issuer = models.CharField("émetteur", max_length=500)
    serial = models.CharField("numéro de série", max_length=100)
    not_before = models.DateTimeField("valide à partir du")
    not_after = models.DateTimeField("valide jusqu'au")
    fingerprint = models.CharField("empreinte SHA-256", max_length=64)
    is_active = models.BooleanField("actif", default=True)
    # Wrong PINs in a row; after MAX_PIN_FAILURES the key stays locked until ``pin_locked_until``.
    pin_failures = models.PositiveSmallIntegerField(default=0, editable=False)
    pin_locked_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantManager["SigningCertificate"]()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["organisation", "user", "is_active"], name="sigcert_org_user_active")]

    def __str__(self) -> str:
        return f"{self.subject_cn} ({self.fingerprint_display[:23]}…)"

    @property
    def is_seal(self) -> bool:
        return self.user_id is None

    @property
    def fingerprint_display(self) -> str:
        """« AB:CD:… », as certificate viewers show it."""
        text = self.fingerprint.upper()
        return ":".join(text[i : i + 2] for i in range(0, len(text), 2))
