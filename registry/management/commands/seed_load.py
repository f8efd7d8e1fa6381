"""Load a synthetic cohort at scale for load tests and benchmarks: `manage.py seed_load --patients 1000`.

Synthetic patients must never mix with real ones, so it loads only into an empty registry with
DEBUG on; anything else (a registry holding patients, or DEBUG off) needs --allow-production.
See registry.synthetic for what each patient gets.
"""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from registry import synthetic
from registry.models import Patient


def refuse_unless_asked(allow_production):
    """Refuse a registry that may hold real data (patients, or DEBUG off) unless asked explicitly."""
    reasons = []
    if not settings.DEBUG:
        reasons.append("DEBUG is off")
    held = Patient.objects.count()
    if held:
        reasons.append(f"the registry already holds {held} patient(s)")
    if reasons and not allow_production:
        raise CommandError(
            f"Synthetic patients were not loaded: {' and '.join(reasons)}, and synthetic patients must never mix "
            "with real ones. To load them anyway (a registry kept for load tests), run with --allow-production."
        )


def positive(value):
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise CommandError(f"--patients must be a whole number from 1, not {value!r}.")
    return number


class Command(BaseCommand):
    help = "Load N synthetic patients, each with a full course, in bulk (for load tests and benchmarks)."

    def add_arguments(self, parser):
        parser.add_argument("--patients", required=True, help="how many patients to load, e.g. 1000")
        parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic values (default 0)")
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="load even though DEBUG is off or the registry already holds patients",
        )

    def handle(self, patients, seed=0, allow_production=False, **options):
        count = positive(patients)
        refuse_unless_asked(allow_production)
        started = time.perf_counter()
        loaded = synthetic.load(count, seed=seed)
        seconds = time.perf_counter() - started
        details = ", ".join(f"{number} {label}" for label, number in loaded.items())
        self.stdout.write(f"Loaded {details} in {seconds:.1f} s.")
