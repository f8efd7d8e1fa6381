"""Gives the research role its permissions to analyse and export the de-identified cohort."""

from django.db import migrations


def forwards(apps, schema_editor):
    from registry.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [("research", "0001_initial"), ("imaging", "0002_role_permissions")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
