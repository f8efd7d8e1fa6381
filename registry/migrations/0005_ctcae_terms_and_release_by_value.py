"""Adverse-event terms from the CTCAE v5.0 list (others become "Other, specify" with the text in
`term_other`), and free text released value by value: the whole-field releases of 0004 are withdrawn."""

from django.db import migrations, models

# The term list of registry/ctcae.py when this migration was written (literal: a migration keeps its meaning).
TERMS = [
    "Headache",
    "Back pain",
    "Neck pain",
    "Pain",
    "Pain in extremity",
    "Injection site reaction",
    "Cerebrospinal fluid leakage",
    "Meningismus",
    "Paresthesia",
    "Muscle weakness lower limb",
    "Urinary retention",
    "Bruising",
    "Hematoma",
    "Anemia",
    "Platelet count decreased",
    "Fever",
    "Nausea",
    "Vomiting",
    "Diarrhea",
    "Constipation",
    "Anorexia",
    "Fatigue",
    "Allergic reaction",
    "Anaphylaxis",
    "Rash maculo-papular",
    "Urticaria",
    "Pruritus",
    "Hypotension",
    "Hypertension",
    "Sinus bradycardia",
    "Sinus tachycardia",
    "Hypoxia",
    "Apnea",
    "Seizure",
    "Irritability",
    "Agitation",
    "Somnolence",
    "Lethargy",
    "Depressed level of consciousness",
    "Dizziness",
    "Spasticity",
    "Hydrocephalus",
    "Intracranial hemorrhage",
    "Meningitis",
    "Sepsis",
    "Skin infection",
    "Infections and infestations - Other, specify",
]
OTHER = "Other, specify"
CHOICES = [(term, term) for term in TERMS] + [(OTHER, OTHER)]
TERM_FIELD = models.CharField(
    choices=CHOICES, help_text="CTCAE v5.0, e.g. Headache, Fever.", max_length=200, verbose_name="CTCAE term"
)
TERM_OTHER_FIELD = models.CharField(
    blank=True,
    help_text='The adverse event, when the term is "Other, specify".',
    max_length=200,
    verbose_name="other term",
)
VALUE_FIELD = models.TextField(
    default="", help_text="Exactly as it was typed; other values stay hidden.", verbose_name="value"
)
# The whole-field releases that 0004 made; a release now names one exact value.
WHOLE_FIELD_RELEASES = ["adverseevent.term", "roimeasurement.region"]


def terms_to_ctcae(apps, schema_editor):
    """A term that is on the list (in any case) takes its CTCAE spelling; any other becomes
    "Other, specify" with the words typed kept in term_other."""
    AdverseEvent = apps.get_model("registry", "AdverseEvent")
    by_lower = {term.lower(): term for term in TERMS + [OTHER]}
    for event in AdverseEvent.objects.all():
        typed = event.term.strip()
        if typed.lower() in by_lower:
            event.term = by_lower[typed.lower()]
        else:
            event.term, event.term_other = OTHER, typed[:200]
        event.save(update_fields=["term", "term_other"])


def withdraw_whole_field_releases(apps, schema_editor):
    FreeTextRelease = apps.get_model("registry", "FreeTextRelease")
    FreeTextRelease.objects.filter(value="").delete()
    FreeTextRelease.objects.filter(field__in=WHOLE_FIELD_RELEASES).delete()


class Migration(migrations.Migration):
    dependencies = [("registry", "0004_release_controlled_vocabulary")]

    operations = [
        migrations.AddField(model_name="adverseevent", name="term_other", field=TERM_OTHER_FIELD),
        migrations.AddField(model_name="historicaladverseevent", name="term_other", field=TERM_OTHER_FIELD),
        migrations.AlterField(model_name="adverseevent", name="term", field=TERM_FIELD),
        migrations.AlterField(model_name="historicaladverseevent", name="term", field=TERM_FIELD),
        migrations.RunPython(terms_to_ctcae, migrations.RunPython.noop),
        migrations.AddField(model_name="freetextrelease", name="value", field=VALUE_FIELD, preserve_default=False),
        migrations.AddField(
            model_name="historicalfreetextrelease", name="value", field=VALUE_FIELD, preserve_default=False
        ),
        migrations.AlterField(
            model_name="freetextrelease", name="field", field=models.CharField(max_length=64, verbose_name="field")
        ),
        migrations.AlterField(
            model_name="historicalfreetextrelease",
            name="field",
            field=models.CharField(max_length=64, verbose_name="field"),
        ),
        migrations.RunPython(withdraw_whole_field_releases, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="freetextrelease",
            constraint=models.UniqueConstraint(
                fields=("field", "value"),
                name="free_text_release_once_per_value",
                violation_error_message="This value of this field is already released.",
            ),
        ),
    ]
