"""Kept for the migration history: roles now receive imaging permissions after every migrate (ImagingConfig)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("imaging", "0001_initial"), ("registry", "0002_roles_and_instruments")]
    # Roles now receive this app's permissions after every migrate, from the app's AppConfig.
    operations = []
