"""Restore a backup into an empty registry: `manage.py restore DIR` (checks every sha256 first)."""

from django.core.management.base import BaseCommand, CommandError

from registry.backup import BackupError, backup_restore


class Command(BaseCommand):
    help = "Restore a folder written by `backup` into a migrated, empty database and empty storage."

    def add_arguments(self, parser):
        parser.add_argument("folder", help="A folder written by `manage.py backup`.")

    def handle(self, folder, **options):
        try:
            manifest = backup_restore(folder=folder)
        except BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored the database and {len(manifest['files'])} stored files from {folder} "
                f"(registry {manifest['registry_version']}, made {manifest['created_at']})."
            )
        )
