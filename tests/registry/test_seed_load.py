"""seed_load: a synthetic cohort in bulk for load tests, each patient with a full course and processed scans
for some visits; refused where real patients may be, unless asked."""

import io

import pytest
from django.core.management import CommandError, call_command

from imaging.models import DiffusionResult, RoiMeasurement, Scan
from registry.course import read_courses
from registry.models import (
    AdverseEvent,
    BoneMarrowHarvest,
    CellProduct,
    IntrathecalProcedure,
    Patient,
    Score,
    Visit,
)


def seed_load(**options):
    out = io.StringIO()
    call_command("seed_load", stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def debug_on(settings, reference_data):
    settings.DEBUG = True


def test_each_patient_gets_a_whole_course_and_some_processed_scans(debug_on):
    output = seed_load(patients="3")
    assert "Loaded 3 patients" in output and "12 scans" in output
    assert Patient.objects.count() == 3
    for model in (BoneMarrowHarvest, CellProduct, IntrathecalProcedure, AdverseEvent):
        assert model.objects.count() == 3, model
    assert Visit.objects.count() == 30 and Score.objects.count() == 120
    assert set(Score.objects.values_list("instrument__code", flat=True)) == {"GMFM-88", "GMFM-66", "GMFCS", "MACS"}
    # A scan with one current result at the baseline and the 6-, 12- and 24-month follow-ups.
    assert Scan.objects.filter(status="done").count() == 12
    assert DiffusionResult.objects.filter(is_current=True).count() == 12
    assert RoiMeasurement.objects.filter(region__code__in=["cst-l", "cst-r"]).count() == 24
    fa = list(DiffusionResult.objects.values_list("fa_wm_mean", flat=True))
    assert all(0.3 < value < 0.6 for value in fa)


def test_the_loaded_courses_read_like_entered_ones(debug_on):
    seed_load(patients="2")
    for course in read_courses(Patient.objects.values_list("pk", flat=True)):
        assert course.tnc_per_kg > 0 and course.first_procedure_date is not None
        assert [visit.timepoint for visit in course.visits if visit.timepoint] == [
            "3m",
            "6m",
            "9m",
            "12m",
            "18m",
            "24m",
        ]
        kinds = [visit.kind for visit in course.visits]
        assert kinds.count("baseline") == 1 and kinds.count("unscheduled") == 2
        baseline, two_years = course.baseline, course.at_timepoint("24m")
        assert baseline.scan is not None and two_years.scan is not None
        assert "FA white matter" in two_years.measures and "FA cst-l" in two_years.measures
        assert course.change(two_years, "GMFM-88").change is not None


def test_each_loaded_record_has_its_history(debug_on):
    seed_load(patients="1")
    assert Patient.history.count() == 1 and Visit.history.count() == 10
    assert "seed_load" in Patient.history.get().history_change_reason


def test_a_second_load_numbers_on(debug_on):
    seed_load(patients="2")
    seed_load(patients="2", allow_production=True)
    assert list(Patient.objects.values_list("study_id", flat=True)) == ["LD-00001", "LD-00002", "LD-00003", "LD-00004"]


def test_it_refuses_a_registry_that_holds_patients_unless_asked(debug_on, build):
    build.patient()
    with pytest.raises(CommandError, match=r"already holds 1 patient.*--allow-production"):
        seed_load(patients="2")
    assert Patient.objects.count() == 1
    seed_load(patients="2", allow_production=True)
    assert Patient.objects.count() == 3


def test_it_refuses_with_debug_off_unless_asked(settings, reference_data):
    settings.DEBUG = False
    with pytest.raises(CommandError, match=r"DEBUG is off.*--allow-production"):
        seed_load(patients="2")
    assert not Patient.objects.exists()
    seed_load(patients="2", allow_production=True)
    assert Patient.objects.count() == 2


@pytest.mark.parametrize("bad", ["0", "-3", "many", "2.5"])
def test_a_bad_number_of_patients_is_named(debug_on, bad):
    with pytest.raises(CommandError, match=f"--patients must be a whole number from 1, not '{bad}'"):
        seed_load(patients=bad)
    assert not Patient.objects.exists()
