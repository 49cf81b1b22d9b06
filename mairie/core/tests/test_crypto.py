"""Secrets encrypted at rest: round trip, key rotation, wrong key, nothing in clear in the database."""

from __future__ import annotations

import stat
import time

import pyotp
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from mairie.accounts.models import TOTPDevice
from mairie.accounts.tests.test_login import VERIFY, enrol, password_login
from mairie.core import crypto
from mairie.core.crypto import DecryptionError, decrypt, encrypt, generate_key, rotate
from mairie.mail.models import Mailbox

KEY_A = generate_key()
KEY_B = generate_key()


def _column(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{column}" FROM "{table}" WHERE "id" = %s', [pk])
        return str(cursor.fetchone()[0])


def test_round_trip_with_accents(settings) -> None:
    settings.ENCRYPTION_KEYS = [KEY_A]
    token = encrypt("Mot de passe : été 2026 €")
    assert "été" not in token and token != encrypt("Mot de passe : été 2026 €")  # random IV each time
    assert decrypt(token) == "Mot de passe : été 2026 €"


def test_rotation_new_key_first_old_key_still_decrypts(settings) -> None:
    settings.ENCRYPTION_KEYS = [KEY_A]
    old = encrypt("secret")
    settings.ENCRYPTION_KEYS = [KEY_B, KEY_A]
    assert decrypt(old) == "secret"
    new = rotate(old)
    settings.ENCRYPTION_KEYS = [KEY_B]
    assert decrypt(new) == "secret"
    with pytest.raises(DecryptionError):
        decrypt(old)


def test_wrong_key_gives_a_clear_french_error(world, settings) -> None:
    settings.ENCRYPTION_KEYS = [KEY_A]
    mailbox = Mailbox.objects.create(
        organisation=world.commune, label="Mairie", host="imap.example", username="u", password="p"
    )
    settings.ENCRYPTION_KEYS = [KEY_B]
    with pytest.raises(DecryptionError) as error:
        Mailbox.objects.get(pk=mailbox.pk)
    message = str(error.value)
    assert message.startswith("Impossible de déchiffrer « mot de passe » (mail.Mailbox)")
    assert "la clé de chiffrement (MAIRIE_ENCRYPTION_KEYS) a changé ?" in message


def test_malformed_key_setting_is_explained(settings) -> None:
    settings.ENCRYPTION_KEYS = ["pas-une-cle"]
    with pytest.raises(ValueError, match="MAIRIE_ENCRYPTION_KEYS"):
        encrypt("x")


def test_without_setting_a_key_is_generated_once_in_the_data_directory(settings, tmp_path) -> None:
    settings.ENCRYPTION_KEYS = []
    settings.DATA_DIR = tmp_path
    token = encrypt("secret")
    key_file = tmp_path / crypto.KEY_FILE_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert decrypt(token) == "secret" and key_file.read_text().strip() == key  # not generated again
    settings.ENCRYPTION_KEYS = [key]
    assert decrypt(token) == "secret"


def test_mailbox_secrets_are_not_in_clear_in_the_database(world) -> None:
    mailbox = Mailbox.objects.create(
        organisation=world.commune,
        label="Mairie",
        host="imap.example",
        username="mairie",
        password="Tres-Secret-42",
        client_secret="client-secret-xyz",
        refresh_token="refresh-token-abc",
    )
    for column, clear in [
        ("password", "Tres-Secret-42"),
        ("client_secret", "client-secret-xyz"),
        ("refresh_token", "refresh-token-abc"),
    ]:
        stored = _column("mail_mailbox", column, mailbox.pk)
        assert clear not in stored and stored.startswith("gAAAAA")  # a Fernet token
    again = Mailbox.objects.get(pk=mailbox.pk)
    assert (again.password, again.client_secret, again.refresh_token) == (
        "Tres-Secret-42",
        "client-secret-xyz",
        "refresh-token-abc",
    )
    assert _column("mail_mailbox", "client_id", mailbox.pk) == ""  # empty stays empty, not encrypted


def test_totp_secret_is_encrypted_and_login_still_works(world) -> None:
    first = Client()
    password_login(first, world.commune_admin)
    secret, _ = enrol(first, world.commune_admin)
    device = TOTPDevice.objects.get(user=world.commune_admin)
    stored = _column("accounts_totpdevice", "secret", device.pk)
    assert secret not in stored and decrypt(stored) == secret

    second = Client()
    password_login(second, world.commune_admin)
    ok = second.post(VERIFY, {"code": pyotp.TOTP(secret).at(time.time() + 30)})
    assert ok.status_code == 302
    assert second.get("/o/saint-aubin/registre/").status_code == 200


@pytest.mark.slow
def test_migration_encrypts_existing_totp_secrets_and_back(transactional_db, world) -> None:
    user = world.commune_admin
    executor = MigrationExecutor(connection)
    executor.migrate([("accounts", "0001_initial")])
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                'INSERT INTO "accounts_totpdevice" ("user_id", "secret", "last_used_step", "created_at") '
                "VALUES (%s, %s, 0, CURRENT_TIMESTAMP)",
                [user.pk, "JBSWY3DPEHPK3PXP"],
            )
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate([("accounts", "0002_encrypt_totp_secret")])
        device = TOTPDevice.objects.get(user=user)
        assert device.secret == "JBSWY3DPEHPK3PXP"
        assert "JBSWY3DPEHPK3PXP" not in _column("accounts_totpdevice", "secret", device.pk)

        executor = MigrationExecutor(connection)
        executor.migrate([("accounts", "0001_initial")])
        assert _column("accounts_totpdevice", "secret", device.pk) == "JBSWY3DPEHPK3PXP"
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
