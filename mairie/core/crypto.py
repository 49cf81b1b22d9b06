"""Encryption at rest of the secrets the platform must read back (mailbox passwords, TOTP secrets).

Fernet (AES-128-CBC + HMAC-SHA256) through ``MultiFernet``: ``MAIRIE_ENCRYPTION_KEYS`` lists one or more
keys separated by commas; the first encrypts, all decrypt. Rotating the key is: put the new key first and
keep the old one after it; each secret is re-encrypted with the new key when it is saved again. Without the variable, a key is generated once in the data directory (like the secret key),
so that a fresh install runs with zero set-up. A database backup does not contain a key given in the
environment: keep a copy of the key, or the encrypted secrets cannot be read after a restore.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models

KEY_FILE_NAME = "encryption_key"

_lock = threading.Lock()
_cache: dict[tuple[str, ...], MultiFernet] = {}


class DecryptionError(Exception):
    """A stored secret cannot be read with the configured keys."""


def _default_keys() -> list[str]:
    key_file = Path(settings.DATA_DIR) / KEY_FILE_NAME
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        # Created with mode 0600 from the start: the key is never readable by others, even for an instant.
        fd = _open_private(key_file)
        with open(fd, "w") as handle:
            handle.write(Fernet.generate_key().decode() + "\n")
    return [key_file.read_text().strip()]


def _open_private(path: Path) -> int:
    import os

    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it at the same instant: use theirs
        return os.open(os.devnull, os.O_WRONLY)


def configured_keys() -> list[str]:
    keys = list(getattr(settings, "ENCRYPTION_KEYS", []) or [])
    return keys or _default_keys()


def _fernet() -> MultiFernet:
    keys = tuple(configured_keys())
    with _lock:
        found = _cache.get(keys)
        if found is None:
            try:
                found = MultiFernet([Fernet(key.encode()) for key in keys])
            except ValueError as exc:
                raise ValueError(
                    "MAIRIE_ENCRYPTION_KEYS : chaque clé doit être une clé Fernet (32 octets en base64 "
                    "URL-safe, voir docs/configuration.md pour en générer une)."
                ) from exc
            _cache[keys] = found
    return found


def generate_key() -> str:
    return Fernet.generate_key().decode()


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode("utf-8")).decode("ascii")


def decrypt(token: str, *, what: str = "un secret enregistré") -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError) as exc:
        raise DecryptionError(
            f"Impossible de déchiffrer {what} : la clé de chiffrement (MAIRIE_ENCRYPTION_KEYS) a changé ? "
            "Remettez l'ancienne clé après la nouvelle dans MAIRIE_ENCRYPTION_KEYS."
        ) from exc


def rotate(token: str) -> str:
    """The same secret encrypted with the first key (after a key rotation)."""
    return _fernet().rotate(token.encode("ascii")).decode("ascii")


class EncryptedTextField(models.TextField):  # type: ignore[type-arg]
    """A text stored encrypted (a Fernet token) and read back in clear; an empty value stays empty.

    The stored tokens differ at every save, so the field cannot be searched or compared in SQL.
    """

    description = "Texte chiffré"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return value
        label = (
            f"« {self.verbose_name} » ({self.model._meta.label})" if hasattr(self, "model") else "un secret"
        )
        return decrypt(value, what=label)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value))
