"""Creates the role groups with their permissions, and seeds the clinical instruments."""

from django.db import migrations


def forwards(apps, schema_editor):
    from registry.instruments import seed_instruments
    from registry.roles import sync_roles

    sync_roles(apps)
    seed_instruments(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("django_celery_results", "0014_alter_taskresult_status"),
    ]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
