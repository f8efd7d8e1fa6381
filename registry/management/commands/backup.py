"""Back up the database and every stored file: `manage.py backup DIR` (DIR new or empty)."""

from django.core.management.base import BaseCommand, CommandError

from registry.backup import BackupError, backup_create


class Command(BaseCommand):
    help = "Write the database (JSON) and every stored file, with their sha256, into a new or empty folder."

    def add_arguments(self, parser):
        parser.add_argument("folder", help="A new or empty folder to write the backup into.")

    def handle(self, folder, **options):
        try:
            manifest = backup_create(folder=folder)
        except BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            self.style.SUCCESS(f"Backed up the database and {len(manifest['files'])} stored files into {folder}.")
        )
