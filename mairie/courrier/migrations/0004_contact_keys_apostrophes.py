"""Contact match keys fold typographic apostrophes (’ → '), as ``services.contact_match_key`` now does."""

from django.db import migrations


def refold(apps, schema_editor):
    Contact = apps.get_model("courrier", "Contact")
    for contact in Contact.objects.filter(match_key__contains="’").only("pk", "match_key"):
        Contact.objects.filter(pk=contact.pk).update(match_key=contact.match_key.replace("’", "'"))


class Migration(migrations.Migration):
    dependencies = [("courrier", "0003_intake_warnings_and_post_channel")]
    operations = [migrations.RunPython(refold, migrations.RunPython.noop)]
