"""Releases the free-text fields that hold controlled vocabulary (CTCAE terms, region names) to
research; registry-admins can withdraw the release in the admin."""

from django.db import migrations


def forwards(apps, schema_editor):
    from registry.deidentify import seed_free_text_releases

    seed_free_text_releases(apps)


class Migration(migrations.Migration):
    dependencies = [("registry", "0003_free_text_release")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
