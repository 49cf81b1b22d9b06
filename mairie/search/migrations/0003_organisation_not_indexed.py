"""Drop the index on search_searchentry.organisation_id (see SearchEntry.organisation).

Only the index goes: on SQLite, Django's AlterField would rebuild the whole table, and the full-text
triggers of migration 0002 would go with the old table.
"""

import django.db.models.deletion
from django.db import migrations, models


def _organisation_indexes(schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "search_searchentry")
    return [
        name
        for name, info in constraints.items()
        if info["index"] and not info["unique"] and not info["primary_key"] and info["columns"] == ["organisation_id"]
    ]


def drop_index(apps, schema_editor):
    for name in _organisation_indexes(schema_editor):
        schema_editor.execute(f"DROP INDEX {schema_editor.quote_name(name)}")


def create_index(apps, schema_editor):
    if not _organisation_indexes(schema_editor):
        schema_editor.execute(
            'CREATE INDEX "search_searchentry_organisation_id_idx" ON "search_searchentry" ("organisation_id")'
        )


class Migration(migrations.Migration):
    dependencies = [
        ("organisations", "0001_initial"),
        ("search", "0002_fulltext"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="searchentry",
                    name="organisation",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="organisations.organisation",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_index, create_index)],
        ),
    ]
