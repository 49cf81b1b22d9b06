"""Encrypt the TOTP secrets at rest (mairie.core.crypto); the reverse writes them back in clear."""

from typing import Any

from django.db import migrations

import mairie.core.crypto

TABLE = "accounts_totpdevice"


def _rewrite(schema_editor: Any, change: Any) -> None:
    # Plain SQL: the historical model's field would try to decrypt the clear values on read.
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "id", "secret" FROM "{TABLE}"')
        rows = cursor.fetchall()
        for pk, secret in rows:
            if secret:
                cursor.execute(f'UPDATE "{TABLE}" SET "secret" = %s WHERE "id" = %s', [change(secret), pk])


def encrypt_secrets(apps: Any, schema_editor: Any) -> None:
    _rewrite(schema_editor, mairie.core.crypto.encrypt)


def decrypt_secrets(apps: Any, schema_editor: Any) -> None:
    _rewrite(schema_editor, mairie.core.crypto.decrypt)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [
        migrations.AlterField(
            model_name="totpdevice",
            name="secret",
            field=mairie.core.crypto.EncryptedTextField(),
        ),
        migrations.RunPython(encrypt_secrets, decrypt_secrets),
    ]
