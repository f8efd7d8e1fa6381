"""Seeds the protocol's visit schedule, the muscle groups scored by Modified Ashworth, and the labels
of the level instruments (GMFCS, MACS, CFCS: I–V); Modified Ashworth is written as its labels ("1+")
and scored per muscle group and side.

Schedule: baseline within 30 days before the first procedure; follow-ups 3, 6, 9 and 12 months ±1
calendar month, 18 and 24 months ±2. Every visit assesses GMFM-88, GMFM-66, GMFCS, MACS, CFCS and
Modified Ashworth; registry-admins change both in the admin.
"""

from django.db import migrations

LEVELS = {"1": "I", "2": "II", "3": "III", "4": "IV", "5": "V"}
LEVEL_INSTRUMENTS = ["GMFCS", "MACS", "CFCS"]
ASSESSED = ["GMFM-88", "GMFM-66", "GMFCS", "MACS", "CFCS", "MAS"]
SCHEDULE = [
    # code, months, before, after, unit
    ("baseline", 0, 30, 0, "days"),
    ("3m", 3, 1, 1, "months"),
    ("6m", 6, 1, 1, "months"),
    ("9m", 9, 1, 1, "months"),
    ("12m", 12, 1, 1, "months"),
    ("18m", 18, 2, 2, "months"),
    ("24m", 24, 2, 2, "months"),
]
MUSCLE_GROUPS = [
    ("hip-adductors", "hip adductors"),
    ("hamstrings", "hamstrings"),
    ("gastrocnemius-soleus", "gastrocnemius–soleus"),
    ("elbow-flexors", "elbow flexors"),
    ("wrist-flexors", "wrist flexors"),
]


def seed(apps, schema_editor):
    Instrument = apps.get_model("registry", "Instrument")
    ScheduledTimepoint = apps.get_model("registry", "ScheduledTimepoint")
    MuscleGroup = apps.get_model("registry", "MuscleGroup")
    Instrument.objects.filter(code__in=LEVEL_INSTRUMENTS, value_labels={}).update(value_labels=LEVELS)
    Instrument.objects.filter(code="MAS").update(written_as_label=True, per_muscle_group=True)
    assessed = list(Instrument.objects.filter(code__in=ASSESSED))
    for code, months, before, after, unit in SCHEDULE:
        timepoint, created = ScheduledTimepoint.objects.get_or_create(
            code=code,
            defaults={"months": months, "window_before": before, "window_after": after, "window_unit": unit},
        )
        if created:
            timepoint.instruments.set(assessed)
    for position, (code, name) in enumerate(MUSCLE_GROUPS, 1):
        MuscleGroup.objects.get_or_create(code=code, defaults={"name": name, "position": position})


class Migration(migrations.Migration):
    dependencies = [("registry", "0009_visit_schedule_and_assessments")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
