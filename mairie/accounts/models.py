from __future__ import annotations

from django.conf import settings
from django.db import models

from mairie.core.crypto import EncryptedTextField


class TOTPDevice(models.Model):
    """A person's authenticator app (RFC 6238 time-based codes)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_device"
    )
    secret = EncryptedTextField()  # base32 secret, encrypted at rest (mairie.core.crypto)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_used_step = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"TOTP de {self.user}"

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None


class RecoveryCode(models.Model):
    """One-time codes to log in when the phone is lost; stored hashed like passwords."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes"
    )
    code_hash = models.CharField(max_length=200)
    used_at = models.DateTimeField(null=True, blank=True)
