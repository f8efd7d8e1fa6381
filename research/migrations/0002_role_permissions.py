"""Kept for the migration history: roles now receive research permissions after every migrate (ResearchConfig)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("research", "0001_initial"), ("imaging", "0002_role_permissions")]
    # Roles now receive this app's permissions after every migrate, from the app's AppConfig.
    operations = []
