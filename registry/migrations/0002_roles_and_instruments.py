"""Seeds the clinical instruments every registry starts with (registry-admins add more).

The role groups and their permissions are granted after every migrate by each app's AppConfig
(registry.roles.grant_role_permissions), so this migration holds instrument data only.
"""

from decimal import Decimal

from django.db import migrations

INSTRUMENTS = [
    # code, name, min, max, higher_is_better, unit, integer_only, value_labels
    ("GMFM-88", "Gross Motor Function Measure-88 (total %)", 0, 100, True, "%", False, {}),
    ("GMFM-66", "Gross Motor Function Measure-66 (interval score)", 0, 100, True, "", False, {}),
    ("GMFCS", "Gross Motor Function Classification System (level)", 1, 5, False, "", True, {}),
    (
        "MAS",
        "Modified Ashworth Scale",
        0,
        4,
        False,
        "",
        False,
        {"0": "0", "1": "1", "1.5": "1+", "2": "2", "3": "3", "4": "4"},
    ),
    ("MACS", "Manual Ability Classification System (level)", 1, 5, False, "", True, {}),
    ("CFCS", "Communication Function Classification System (level)", 1, 5, False, "", True, {}),
]


def seed_instruments(apps, schema_editor=None):
    Instrument = apps.get_model("registry", "Instrument")
    for code, name, low, high, higher_better, unit, integer_only, labels in INSTRUMENTS:
        Instrument.objects.update_or_create(
            code=code,
            defaults={
                "name": name,
                "min_value": Decimal(low),
                "max_value": Decimal(high),
                "higher_is_better": higher_better,
                "unit": unit,
                "integer_only": integer_only,
                "value_labels": labels,
            },
        )


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_results", "0014_alter_taskresult_status"),
    ]
    operations = [migrations.RunPython(seed_instruments, migrations.RunPython.noop)]
