"""Run the data-quality rules now: `manage.py run_quality_rules [--patient CP-001 ...]` (the nightly run
does every patient)."""

from django.core.management.base import BaseCommand, CommandError

from registry import quality
from registry.models import Patient


class Command(BaseCommand):
    help = "Run the data-quality rules over every patient (or the given study IDs) and update their queries."

    def add_arguments(self, parser):
        parser.add_argument("--patient", action="append", default=[], help="A study ID; repeat for several.")

    def handle(self, patient, **options):
        if patient:
            found = dict(Patient.objects.filter(study_id__in=patient).values_list("study_id", "pk"))
            missing = sorted(set(patient) - set(found))
            if missing:
                raise CommandError(f"No patient with study ID {', '.join(missing)}.")
            totals = quality.check_patients(list(found.values()))
        else:
            totals = quality.check_all()
        self.stdout.write(
            self.style.SUCCESS(
                "Queries opened: {opened}, re-opened: {reopened}, closed automatically: {closed}.".format(**totals)
            )
        )
