"""Gives the roles their imaging permissions (radiology uploads and reviews scans)."""

from django.db import migrations


def forwards(apps, schema_editor):
    from registry.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    dependencies = [("imaging", "0001_initial"), ("registry", "0002_roles_and_instruments")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
