"""Check every stored result's files against their sha256 (and record it for results stored before
checksums existed, after checking their structure); list what is missing or damaged.

Exits with status 1 when a file is missing, damaged or unreadable, so it can run from cron or a
monitoring check. Reads every file once: about 1 ms per MB on local disk.
"""

from django.core.management.base import BaseCommand, CommandError

from imaging import storage
from imaging.models import DiffusionResult


class Command(BaseCommand):
    help = "Check the maps, previews and results files of stored results against their recorded sha256."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="earlier (not current) results too")

    def handle(self, all=False, **options):
        results = DiffusionResult.objects.order_by("scan_id", "pk")
        if not all:
            results = results.filter(is_current=True)
        checked = faults = 0
        for result in results.iterator():
            for found in storage.result_checks(result):
                checked += 1
                if found.status != storage.INTACT:
                    faults += 1
                    storage.log_problem(found, result, "found by verify_results")
                    where = f"scan {result.scan_id} result {result.pk}"
                    self.stdout.write(f"{where}: {found.key} {found.status} ({found.name})")
        self.stdout.write(f"{checked} files checked, {faults} missing, damaged or unreadable.")
        if faults:
            raise CommandError(f"{faults} stored files are missing, damaged or unreadable; reprocess their scans.")
