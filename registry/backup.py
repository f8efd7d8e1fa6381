"""Backup and restore of the whole registry: a JSON dump of the database and every stored file.

A backup folder holds `database.json` (Django's JSON serialization, content types and permissions
by natural key, so it loads on PostgreSQL or SQLite), `files/<storage path>` for every file in default storage, and
`manifest.json` with each file's size and sha256, the dump's sha256, the registry version and
the migrations applied. The manifest is written last: a folder without it is not a backup.
"""

import datetime as dt
import hashlib
import json
import posixpath
import tomllib
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import serializers
from django.core.files import File
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.color import no_style
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.test.utils import override_settings

from registry.models import Patient

MANIFEST = "manifest.json"
DUMP = "database.json"
FILES = "files"
FORMAT = 1
# Rebuilt by `migrate` (contenttypes, permissions) or not worth keeping across a restore: sessions,
# API tokens and Celery task results. Everyone signs in again and makes new API tokens.
NOT_DUMPED = ["contenttypes", "auth.permission", "sessions", "knox", "django_celery_results"]
# Records keep their primary keys; only content types and permissions, which `migrate` makes with
# other keys on another database, are named by natural key ("registry.patient", "add_patient").
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or restore refused, with a message naming what is at fault."""


def registry_version():
    try:
        with open(Path(settings.BASE_DIR) / "pyproject.toml", "rb") as project:
            return tomllib.load(project)["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def applied_migrations():
    return sorted([app, name] for app, name in MigrationRecorder(connection).applied_migrations())


def stored_paths(storage=default_storage, folder=""):
    """Every file in storage, as storage names ("imaging/scans/7/fa.nii.gz"), sorted."""
    try:
        folders, files = storage.listdir(folder)
    except FileNotFoundError:  # a local MEDIA_ROOT that was never created holds nothing
        return []
    found = [posixpath.join(folder, name) for name in files]
    for name in folders:
        found += stored_paths(storage, posixpath.join(folder, name))
    return sorted(found)


def copy_with_sha256(source, target):
    """Copies one open binary file to another; returns (size, sha256 hex). (The registry builds on
    no add-on, so it hashes here rather than through imaging's reader; both are plain SHA-256.)"""
    digest, size = hashlib.sha256(), 0
    while chunk := source.read(CHUNK):
        digest.update(chunk)
        size += len(chunk)
        if target is not None:
            target.write(chunk)
    return size, digest.hexdigest()


def file_sha256(path):
    with open(path, "rb") as source:
        return copy_with_sha256(source, None)


class ExactJSONEncoder(DjangoJSONEncoder):
    """Keeps times to the microsecond (Django's encoder cuts them to milliseconds)."""

    def default(self, o):
        if isinstance(o, dt.datetime | dt.time):
            return o.isoformat()
        return super().default(o)


def dumped_models():
    app_list = [(config, None) for config in apps.get_app_configs()]
    for model in serializers.sort_dependencies(app_list, allow_cycles=True):
        meta = model._meta
        if meta.app_label in NOT_DUMPED or meta.label_lower in NOT_DUMPED or meta.proxy or not meta.managed:
            continue
        yield model


def dumped_records():
    """Every record of every dumped model, models in dependency order, records by primary key."""
    for model in dumped_models():
        yield from model._base_manager.order_by(model._meta.pk.name).iterator()


def backup_create(*, folder):
    """Writes a backup of the database and of every stored file into `folder` (empty or new)."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise BackupError(f"{folder} is not an empty folder: choose a new or empty one.")
    folder.mkdir(parents=True, exist_ok=True)
    # The dump first, then the files: every file a dumped record names is then in the backup.
    with open(folder / DUMP, "w", encoding="utf-8") as dump:
        serializers.serialize(
            "json", dumped_records(), stream=dump, use_natural_foreign_keys=True, cls=ExactJSONEncoder
        )
    files = []
    for name in stored_paths():
        target = folder / FILES / name
        target.parent.mkdir(parents=True, exist_ok=True)
        with default_storage.open(name, "rb") as source, open(target, "wb") as copy:
            size, sha256 = copy_with_sha256(source, copy)
        files.append({"path": name, "size": size, "sha256": sha256})
    size, sha256 = file_sha256(folder / DUMP)
    manifest = {
        "format": FORMAT,
        "registry_version": registry_version(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database": {"path": DUMP, "size": size, "sha256": sha256, "engine": connection.vendor},
        "migrations": applied_migrations(),
        "files": files,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(folder):
    try:
        manifest = json.loads((Path(folder) / MANIFEST).read_text())
    except FileNotFoundError:
        raise BackupError(f"{folder} holds no {MANIFEST}: it is not a complete backup.") from None
    except (ValueError, UnicodeDecodeError):
        raise BackupError(f"{MANIFEST} in {folder} is not readable JSON.") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(
            f"{MANIFEST} in {folder} has format {manifest.get('format')!r}; this registry reads {FORMAT}."
        )
    return manifest


def safe_storage_name(name):
    """A manifest path must stay inside files/: relative, without '..'."""
    parts = name.split("/")
    return bool(name) and not name.startswith("/") and ".." not in parts and "" not in parts and "\\" not in name


def damaged_entries(folder, manifest):
    """Backup files whose size or sha256 differ from the manifest, are missing, or are not listed."""
    folder = Path(folder)
    entries = [{**manifest["database"], "path": DUMP}] + [
        {**entry, "path": f"{FILES}/{entry['path']}"} for entry in manifest["files"]
    ]
    faults = [
        f"{entry['path']} (not a storage path)" for entry in manifest["files"] if not safe_storage_name(entry["path"])
    ]
    for entry in entries:
        try:
            size, sha256 = file_sha256(folder / entry["path"])
        except (FileNotFoundError, IsADirectoryError):
            faults.append(f"{entry['path']} (missing)")
            continue
        if (size, sha256) != (entry["size"], entry["sha256"]):
            faults.append(f"{entry['path']} (checksum differs)")
    listed = {entry["path"] for entry in entries}
    if (folder / FILES).is_dir():
        present = {path.relative_to(folder).as_posix() for path in (folder / FILES).rglob("*") if path.is_file()}
        faults += [f"{path} (not in the manifest)" for path in sorted(present - listed)]
    return faults


def target_holdings():
    """What the target already holds that a restore would mix with: accounts, patients, files."""
    held = {
        "accounts": get_user_model().objects.count(),
        "patients": Patient.objects.count(),
        "stored files": len(stored_paths()),
    }
    return {what: count for what, count in held.items() if count}


def dumped_tables():
    """The tables the dump fills, with their many-to-many tables (auth_user_groups)."""
    tables = set()
    for model in apps.get_models(include_auto_created=True):
        if model._meta.app_label in NOT_DUMPED or model._meta.label_lower in NOT_DUMPED:
            continue
        if model._meta.proxy or not model._meta.managed:
            continue
        tables.add(model._meta.db_table)
    return sorted(tables & set(connection.introspection.table_names()))


def clear_seeded_rows():
    """An empty registry still holds what `migrate` seeds (role groups, instruments, regions); the
    backup's own copy replaces it, with the backup's keys."""
    statements = connection.ops.sql_flush(no_style(), dumped_tables(), reset_sequences=False, allow_cascade=True)
    connection.ops.execute_sql_flush(statements)


def restore_files(folder, manifest):
    """Writes every backed-up file into default storage and checks it there; returns the names written."""
    written = []
    try:
        for entry in manifest["files"]:
            with open(Path(folder) / FILES / entry["path"], "rb") as source:
                name = default_storage.save(entry["path"], File(source))
            written.append(name)
            with default_storage.open(name, "rb") as stored:
                size, sha256 = copy_with_sha256(stored, None)
            if name != entry["path"] or (size, sha256) != (entry["size"], entry["sha256"]):
                raise BackupError(f"{entry['path']} differs in storage after writing it; nothing was restored.")
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise
    return written


def backup_restore(*, folder):
    """Restores a backup into an empty database (migrated) and empty storage, or restores nothing."""
    manifest = read_manifest(folder)
    faults = damaged_entries(folder, manifest)
    if faults:
        raise BackupError("The backup is damaged; nothing was restored: " + "; ".join(faults) + ".")
    backed_up, here = manifest["migrations"], applied_migrations()
    if backed_up != here:
        missing = [".".join(pair) for pair in backed_up if pair not in here][:5]
        extra = [".".join(pair) for pair in here if pair not in backed_up][:5]
        raise BackupError(
            f"The backup was made by registry {manifest['registry_version']} with other migrations than this "
            f"database has (backup only: {', '.join(missing) or 'none'}; here only: {', '.join(extra) or 'none'}). "
            "Restore with the same registry version, on a database migrated with it."
        )
    held = target_holdings()
    if held:
        listed = ", ".join(f"{count} {what}" for what, count in held.items())
        raise BackupError(
            f"This registry is not empty ({listed}); restore only into a new, migrated database and empty storage."
        )
    with transaction.atomic():
        clear_seeded_rows()
        # The dump holds every record's history as it was; loading it must not add more (loaddata sets
        # many-to-many fields such as a timepoint's instruments, which would otherwise write history).
        with override_settings(SIMPLE_HISTORY_ENABLED=False):
            call_command("loaddata", str(Path(folder) / DUMP), verbosity=0)
        restore_files(folder, manifest)
    return manifest
