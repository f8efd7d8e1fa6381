"""Released the free-text fields that then held controlled vocabulary (CTCAE terms, region names)
to research as whole fields; 0005 withdraws these releases, as values are now released one by one."""

from django.db import migrations

RELEASES = {
    "adverseevent.term": "CTCAE terms are a controlled vocabulary, needed for safety analyses.",
    "roimeasurement.region": "Region names label tracts (e.g. CST left), needed for FA per region.",
}


def forwards(apps, schema_editor):
    FreeTextRelease = apps.get_model("registry", "FreeTextRelease")
    for key, note in RELEASES.items():
        FreeTextRelease.objects.get_or_create(field=key, defaults={"note": note})


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_free_text_release")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
