"""`manage.py backup DIR` and `manage.py restore DIR`: the database and every stored file, checked
by sha256, restored into an empty database and empty storage."""

import hashlib
import json
from importlib import import_module

import pytest
from django.apps import apps
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError

from imaging.models import DiffusionResult, Region, Scan
from registry.backup import NOT_DUMPED, stored_paths
from registry.models import AdverseEvent, Instrument, Patient

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def row_counts():
    return {
        model._meta.label: model.objects.count()
        for model in apps.get_models()
        if model._meta.app_label not in NOT_DUMPED and model._meta.label_lower not in NOT_DUMPED
    }


def stored_checksums():
    checksums = {}
    for name in stored_paths():
        with default_storage.open(name, "rb") as stored:
            checksums[name] = hashlib.sha256(stored.read()).hexdigest()
    return checksums


def empty_registry(settings, tmp_path):
    """A new, migrated database (flush, then what the data migrations seed) and new storage."""
    call_command("flush", interactive=False, verbosity=0)
    import_module("registry.migrations.0002_roles_and_instruments").seed_instruments(apps)
    import_module("registry.migrations.0010_seed_visit_schedule").seed(apps, None)
    import_module("imaging.migrations.0003_region_vocabulary").seed_regions(apps, None)
    settings.MEDIA_ROOT = str(tmp_path / "new-media")


@pytest.fixture
def registry_with_a_scan(build, processed_scan):
    build.adverse_event(
        procedure=build.procedure(product=build.product(harvest=build.harvest(processed_scan.visit.patient)))
    )
    Region.objects.create(code="custom-region", name_en="Custom region", name_es="Región propia")
    return processed_scan


def test_it_restores_every_record_and_file_into_an_empty_registry(registry_with_a_scan, settings, tmp_path):
    scan = registry_with_a_scan
    counts, checksums = row_counts(), stored_checksums()
    patient = Patient.objects.values().get(pk=scan.visit.patient_id)
    assert counts["registry.AdverseEvent"] and counts["imaging.DiffusionResult"] and len(checksums) >= 4

    call_command("backup", str(tmp_path / "backup"))
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    assert {entry["path"]: entry["sha256"] for entry in manifest["files"]} == checksums
    assert ["imaging", "0001_initial"] in manifest["migrations"]

    empty_registry(settings, tmp_path)
    assert not Patient.objects.exists() and stored_paths() == []
    call_command("restore", str(tmp_path / "backup"))

    assert row_counts() == counts
    assert Patient.objects.values().get(pk=scan.visit.patient_id) == patient
    assert Scan.objects.get(pk=scan.pk).status == Scan.Status.DONE
    assert Scan.history.filter(id=scan.pk).count() == scan.history.count()
    assert Region.objects.filter(code="custom-region").exists()
    assert stored_checksums() == checksums
    result = DiffusionResult.objects.get(scan=scan, is_current=True)
    assert all(default_storage.exists(path) for path in result.files.values())


def test_it_refuses_a_damaged_backup_naming_the_file_and_restores_nothing(registry_with_a_scan, settings, tmp_path):
    call_command("backup", str(tmp_path / "backup"))
    manifest = json.loads((tmp_path / "backup" / "manifest.json").read_text())
    damaged = manifest["files"][0]["path"]
    with open(tmp_path / "backup" / "files" / damaged, "r+b") as backed_up:
        backed_up.write(b"\0\0\0\0")

    empty_registry(settings, tmp_path)
    with pytest.raises(CommandError, match=f"files/{damaged} \\(checksum differs\\)"):
        call_command("restore", str(tmp_path / "backup"))

    assert not Patient.objects.exists() and not AdverseEvent.objects.exists()
    assert Instrument.objects.filter(code="GMFM-88").exists()  # the fresh database as it was
    assert stored_paths() == []


def test_it_refuses_to_restore_over_a_registry_with_patients(registry_with_a_scan, settings, tmp_path):
    call_command("backup", str(tmp_path / "backup"))
    with pytest.raises(CommandError, match="not empty .*1 patients"):
        call_command("restore", str(tmp_path / "backup"))


def test_it_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "notes.txt").write_text("kept")
    with pytest.raises(CommandError, match="not an empty folder"):
        call_command("backup", str(tmp_path / "backup"))
