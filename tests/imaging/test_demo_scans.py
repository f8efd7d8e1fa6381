"""The demo's synthetic scans go only onto the demo as seed_demo loaded it: never onto a visit
somebody entered, never again once the registry has scans, and with DEBUG=false only when asked."""

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command

from imaging.models import Scan
from registry.models import Patient, Visit

SMALL = "16,16,16"


def seed_demo_scans(**options):
    out = io.StringIO()
    call_command("seed_demo_scans", shape=SMALL, stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def demo(reference_data):
    call_command("seed_demo", allow_production=True, stdout=io.StringIO())


def test_the_demo_visits_get_one_scan_each_on_the_first_run(demo):
    output = seed_demo_scans(allow_production=True)

    assert "Demo scans: 6 queued" in output
    assert Scan.objects.count() == 6
    assert set(Scan.objects.values_list("visit", flat=True)) == set(Visit.objects.values_list("pk", flat=True))


def test_a_second_run_adds_nothing_even_where_a_demo_scan_was_deleted(demo):
    seed_demo_scans(allow_production=True)
    Scan.objects.filter(visit__patient__study_id="CP-001").delete()

    output = seed_demo_scans(allow_production=True)

    assert "Demo scans not loaded" in output
    assert Scan.objects.count() == 4


def test_a_visit_entered_on_a_demo_patient_never_gets_a_synthetic_scan(demo, build):
    patient = Patient.objects.get(study_id="CP-001")
    entered = build.visit(patient=patient, date=dt.date(2024, 11, 6), kind="unscheduled")

    output = seed_demo_scans(allow_production=True)

    assert "Demo scans not loaded" in output
    assert not Scan.objects.exists()
    assert not entered.scans.exists()


def test_nothing_is_attached_without_the_demo(reference_data, build):
    build.visit(patient=build.patient(study_id="CP-001"), date=dt.date(2024, 1, 29), kind="baseline")

    seed_demo_scans(allow_production=True)

    assert not Scan.objects.exists()


def test_with_debug_off_the_demo_scans_refuse_unless_asked(demo, settings):
    settings.DEBUG = False
    settings.LOAD_DEMO = False

    with pytest.raises(CommandError, match="--allow-production or set LOAD_DEMO=true"):
        seed_demo_scans()

    assert not Scan.objects.exists()


def test_the_demo_baselines_have_regions_drawn_from_the_vocabulary(demo):
    seed_demo_scans(allow_production=True)

    baselines = Scan.objects.filter(visit__kind=Visit.Kind.BASELINE)
    assert baselines.count() == 3
    for scan in baselines:
        assert scan.labels and scan.labels_at is not None
        assert set(scan.label_names.values()) == {"cst-l", "cst-r", "plic-l", "plic-r", "cc-body"}
    assert not Scan.objects.filter(visit__kind=Visit.Kind.FOLLOW_UP).exclude(labels="").exists()


@pytest.mark.postgres
def test_the_demo_follow_ups_get_the_regions_drawn_at_baseline_once_the_worker_has_processed_them(
    demo, django_capture_on_commit_callbacks
):
    from config.celery import app
    from imaging.models import AcquisitionProtocol, RegionCarry, RoiMeasurement

    was = app.conf.task_always_eager
    app.conf.task_always_eager = True  # the worker runs each queued task at once, here
    try:
        with django_capture_on_commit_callbacks(execute=True):
            call_command("seed_demo_scans", shape="32,32,20", allow_production=True, stdout=io.StringIO())
    finally:
        app.conf.task_always_eager = was

    follow_ups = Scan.objects.filter(visit__kind=Visit.Kind.FOLLOW_UP)
    assert follow_ups.count() == 3 and set(follow_ups.values_list("status", flat=True)) == {"done"}
    for scan in follow_ups:
        carry = RegionCarry.objects.get(scan=scan)
        assert carry.source_scan.visit.kind == Visit.Kind.BASELINE
        assert carry.source_scan.visit.patient_id == scan.visit.patient_id
        carried = set(RoiMeasurement.objects.filter(scan=scan, source="carried").values_list("region__code", flat=True))
        assert carried >= {"cst-l", "cst-r"}
        assert scan.current_result.files["carried_regions"]
        assert scan.comparable is True
    assert AcquisitionProtocol.objects.count() == 1
