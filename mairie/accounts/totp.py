"""Time-based one-time passwords (RFC 6238) with replay protection."""

from __future__ import annotations

import secrets
import time

import pyotp
import segno
from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.utils import timezone

from mairie.accounts.models import RecoveryCode, TOTPDevice

ISSUER = "Mairie"
STEP = 30


def new_device(user) -> TOTPDevice:  # type: ignore[no-untyped-def]
    device, _ = TOTPDevice.objects.update_or_create(
        user=user, defaults={"secret": pyotp.random_base32(), "confirmed_at": None, "last_used_step": 0}
    )
    return device


def provisioning_uri(device: TOTPDevice) -> str:
    return pyotp.TOTP(device.secret).provisioning_uri(name=device.user.get_username(), issuer_name=ISSUER)


def qr_svg(device: TOTPDevice) -> str:
    return segno.make(provisioning_uri(device), error="m").svg_inline(scale=4, title="Code QR à scanner")


def verify(device: TOTPDevice, code: str, *, at: float | None = None) -> bool:
    """Accept the current code (±1 step of clock drift) once; a code already used is refused."""
    code = "".join(ch for ch in code if ch.isdigit())
    if len(code) != 6:
        return False
    now = time.time() if at is None else at
    totp = pyotp.TOTP(device.secret)
    current_step = int(now // STEP)
    for step in (current_step - 1, current_step, current_step + 1):
        if secrets.compare_digest(totp.at(step * STEP), code):
            with transaction.atomic():
                updated = TOTPDevice.objects.filter(pk=device.pk, last_used_step__lt=step).update(
                    last_used_step=step
                )
            return bool(updated)
    return False


def new_recovery_codes(user, count: int = 8) -> list[str]:  # type: ignore[no-untyped-def]
    codes = [f"{secrets.randbelow(10**5):05d}-{secrets.randbelow(10**5):05d}" for _ in range(count)]
    with transaction.atomic():
        RecoveryCode.objects.filter(user=user).delete()
        RecoveryCode.objects.bulk_create([RecoveryCode(user=user, code_hash=make_password(c)) for c in codes])
    return codes


def use_recovery_code(user, code: str) -> bool:  # type: ignore[no-untyped-def]
    code = code.strip()
    for rc in RecoveryCode.objects.filter(user=user, used_at__isnull=True):
        if check_password(code, rc.code_hash):
            return bool(
                RecoveryCode.objects.filter(pk=rc.pk, used_at__isnull=True).update(used_at=timezone.now())
            )
    return False
