"""Comparable scans only: each processed scan's acquisition is compared with the site's protocol and the
patient's baseline scan; a follow-up acquired otherwise (another b-value, fewer directions) is flagged and
left out of every change since baseline until a radiologist includes it with a reason."""

import datetime as dt
from pathlib import Path

import pytest
from django.core.files import File

from imaging import services
from imaging.dti import make_phantom
from imaging.models import Scan
from registry.course import FA_WHITE_MATTER, read_course
from registry.roles import RADIOLOGY

SHAPE = (32, 32, 20)


@pytest.fixture(scope="module")
def acquisitions(tmp_path_factory):
    """Series files of one phantom child acquired three ways: the baseline protocol (b=1000, 20
    directions), another b-value (700), and fewer directions (12)."""
    folder = tmp_path_factory.mktemp("acquisitions")
    return {
        "protocol": make_phantom(SHAPE, n_b0=2, n_dirs=20, snr=30, seed=0).save(folder / "protocol"),
        "repeat": make_phantom(SHAPE, n_b0=2, n_dirs=20, snr=30, seed=1, fa_boost=0.05).save(folder / "repeat"),
        "b700": make_phantom(SHAPE, n_b0=2, n_dirs=20, snr=30, seed=2, bval=700.0).save(folder / "b700"),
        "12dirs": make_phantom(SHAPE, n_b0=2, n_dirs=12, snr=30, seed=3).save(folder / "dirs"),
    }


@pytest.fixture
def child(build, monkeypatch):
    monkeypatch.setattr("imaging.services.dispatch", lambda scan_id, first=False: None)
    monkeypatch.setattr("imaging.regions.dispatch_carry", lambda scan_ids: None)
    patient = build.patient()
    return {
        "patient": patient,
        "baseline": build.visit(patient=patient, date=dt.date(2024, 1, 10), kind="baseline"),
        "follow": build.visit(patient=patient, date=dt.date(2024, 8, 2), kind="follow-up"),
    }


def processed(files, visit, user):
    with open(files["dwi"], "rb") as dwi, open(files["bval"], "rb") as bval, open(files["bvec"], "rb") as bvec:
        scan, _created = services.scan_register(
            visit,
            user,
            dwi=File(dwi, name=Path(files["dwi"]).name),
            bval=File(bval, name="dwi.bval"),
            bvec=File(bvec, name="dwi.bvec"),
        )
    services.scan_process(scan.pk, worker="test")
    scan.refresh_from_db()
    assert scan.status == Scan.Status.DONE, scan.error
    return scan


def change_at_follow_up(child):
    course = read_course(child["patient"].pk)
    return course.change(course.visit(child["follow"].pk), FA_WHITE_MATTER)


@pytest.mark.postgres
def test_a_follow_up_acquired_like_the_baseline_is_comparable_and_its_change_counts(api_as, child, acquisitions):
    client = api_as(RADIOLOGY)
    baseline = processed(acquisitions["protocol"], child["baseline"], client.user)
    follow = processed(acquisitions["repeat"], child["follow"], client.user)

    assert baseline.acquisition["shells"] == [[0.0, 2], [1000.0, 20]]
    assert baseline.acquisition["voxel_size"] == [2.0, 2.0, 2.0] and baseline.acquisition["matrix"] == list(SHAPE)
    assert follow.comparable is True and follow.comparability["baseline_scan"] == baseline.pk
    change = change_at_follow_up(child)
    assert change.change is not None and change.change > 0 and not change.excluded
    answer = client.get(f"/api/v1/scans/{follow.pk}/").json()
    assert answer["comparable"] is True and answer["comparability"]["baseline"] == []


@pytest.mark.postgres
@pytest.mark.parametrize(
    "acquired, item, value, expected",
    [("b700", "b_values", [700.0], [1000.0]), ("12dirs", "directions", [12], [20])],
)
def test_a_follow_up_with_another_b_value_or_fewer_directions_is_flagged_and_left_out_of_the_change(
    api_as, signed_in_client, child, acquisitions, acquired, item, value, expected
):
    client = api_as(RADIOLOGY)
    processed(acquisitions["protocol"], child["baseline"], client.user)
    follow = processed(acquisitions[acquired], child["follow"], client.user)

    assert follow.comparable is False
    assert follow.comparability["baseline"] == [{"item": item, "value": value, "expected": expected}]
    course = read_course(child["patient"].pk)
    visit = course.visit(child["follow"].pk)
    assert visit.measures[FA_WHITE_MATTER].value > 0  # measured and shown...
    change = course.change(visit, FA_WHITE_MATTER)
    assert change.change is None and change.excluded  # ...but not compared with the baseline
    answer = client.get(f"/api/v1/scans/{follow.pk}/").json()
    assert answer["comparable"] is False and answer["comparability"]["baseline"][0]["item"] == item
    patient_page = signed_in_client("hematology").get(f"/patients/{child['patient'].pk}/").content.decode()
    assert "not acquired like the baseline: no change computed" in patient_page
    visit_answer = client.get(f"/api/v1/visits/{child['follow'].pk}/")
    assert visit_answer.status_code == 200
    assert [(scan["id"], scan["counts"], scan["in_change"]) for scan in visit_answer.json()["imaging"]] == [
        (follow.pk, True, False)
    ]


@pytest.mark.postgres
def test_a_radiologist_s_override_with_a_reason_includes_the_scan_and_is_kept_in_its_history(
    api_as, child, acquisitions
):
    client = api_as(RADIOLOGY)
    processed(acquisitions["protocol"], child["baseline"], client.user)
    follow = processed(acquisitions["b700"], child["follow"], client.user)
    reason = "b=700 on the new scanner was checked against a phantom; FA agrees within 1 %"

    response = client.post(
        f"/api/v1/scans/{follow.pk}/comparability/",
        {"include": True, "reason": reason, "version": follow.version},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["comparability_override"] is True
    follow.refresh_from_db()
    assert follow.comparable is False and follow.comparability_override and follow.comparability_reason == reason
    assert follow.comparability_override_by == client.user
    change = change_at_follow_up(child)
    assert change.change is not None and not change.excluded
    history = follow.history.order_by("history_date")
    assert [h.comparability_override for h in history][-2:] == [False, True]

    response = client.post(
        f"/api/v1/scans/{follow.pk}/comparability/",
        {"include": False, "version": follow.version},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert change_at_follow_up(child).excluded


@pytest.mark.postgres
def test_an_override_without_a_reason_is_refused_naming_the_field_and_changes_nothing(api_as, child, acquisitions):
    client = api_as(RADIOLOGY)
    processed(acquisitions["protocol"], child["baseline"], client.user)
    follow = processed(acquisitions["12dirs"], child["follow"], client.user)

    response = client.post(
        f"/api/v1/scans/{follow.pk}/comparability/",
        {"include": True, "reason": "  ", "version": follow.version},
        format="json",
    )

    assert response.status_code == 400
    assert "reason" in response.json() and "Say why" in response.json()["reason"][0]
    follow.refresh_from_db()
    assert not follow.comparability_override and follow.comparability_reason == ""
    assert change_at_follow_up(child).excluded


@pytest.mark.postgres
def test_research_cannot_override(api_as, child, acquisitions):
    radiologist = api_as(RADIOLOGY)
    processed(acquisitions["protocol"], child["baseline"], radiologist.user)
    follow = processed(acquisitions["b700"], child["follow"], radiologist.user)

    response = api_as("research").post(
        f"/api/v1/scans/{follow.pk}/comparability/",
        {"include": True, "reason": "x", "version": follow.version},
        format="json",
    )

    assert response.status_code == 403
    follow.refresh_from_db()
    assert not follow.comparability_override


@pytest.mark.postgres
def test_the_protocol_check_lists_each_difference_in_the_page_s_language(
    client, make_user, child, acquisitions, django_capture_on_commit_callbacks
):
    radiologist = make_user(RADIOLOGY, "reader")
    client.force_login(radiologist)
    baseline = processed(acquisitions["protocol"], child["baseline"], radiologist)
    follow = processed(acquisitions["b700"], child["follow"], radiologist)
    admin = make_user("registry-admin", "keeper")
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/imaging/acquisitionprotocol/add/",
            {
                "name": "DTI 2.5 mm",
                "b_values": "[1000]",
                "b_value_tolerance": "50",
                "min_directions": "30",
                "voxel_size": "[2.5, 2.5, 2.5]",
                "voxel_tolerance_mm": "0.1",
                "matrix": "[]",
                "timing_tolerance_percent": "5",
            },
        )
    assert response.status_code == 302, response.content.decode()[:3000]
    follow.refresh_from_db()
    assert {d["item"] for d in follow.comparability["protocol"]} == {"b_values", "directions", "voxel_size"}
    client.force_login(radiologist)

    english = client.get(f"/imaging/scans/{follow.pk}/").content.decode()
    spanish = client.get(f"/imaging/scans/{follow.pk}/", HTTP_ACCEPT_LANGUAGE="es").content.decode()

    assert 'data-check="protocol"' in english
    assert "Protocol DTI 2.5 mm: b-values 700 s/mm², 1000 expected" in english
    assert "voxel size 2 × 2 × 2 mm, 2.5 × 2.5 × 2.5 expected" in english
    assert f"Baseline scan {baseline.pk}: b-values 700 s/mm², 1000 expected" in english
    assert "its measures are left out of every change since baseline" in english
    assert "tamaño de vóxel 2 × 2 × 2 mm; se esperaba 2,5 × 2,5 × 2,5" in spanish
    assert f"Estudio basal {baseline.pk}" in spanish


@pytest.mark.postgres
def test_the_page_form_includes_the_scan_and_refuses_a_missing_reason_beside_the_field(
    client, make_user, child, acquisitions
):
    radiologist = make_user(RADIOLOGY, "reader")
    client.force_login(radiologist)
    processed(acquisitions["protocol"], child["baseline"], radiologist)
    follow = processed(acquisitions["b700"], child["follow"], radiologist)

    refused = client.post(
        f"/imaging/scans/{follow.pk}/comparability/", {"include": "yes", "reason": "", "version": follow.version}
    )
    assert refused.status_code == 400
    assert 'id="comparability-reason-errors"' in refused.content.decode()
    follow.refresh_from_db()
    assert not follow.comparability_override

    saved = client.post(
        f"/imaging/scans/{follow.pk}/comparability/",
        {"include": "yes", "reason": "same scanner, software update", "version": follow.version},
    )
    assert saved.status_code == 302
    follow.refresh_from_db()
    assert follow.comparability_override and follow.comparability_reason == "same scanner, software update"


@pytest.mark.postgres
def test_a_dicom_upload_records_the_scanner_field_strength_tr_and_te_with_the_acquisition(
    api_as, child, phantom, dicom_synth, tmp_path
):
    client = api_as(RADIOLOGY)
    dicom_synth.write_dwi_series(tmp_path / "dwi", phantom.data, phantom.bvals, phantom.bvecs, manufacturer="SIEMENS")
    archive = dicom_synth.zip_folder(tmp_path / "dwi", tmp_path / "dwi.zip")

    with open(archive, "rb") as handle:
        response = client.post(
            "/api/v1/scans/", {"visit": child["baseline"].pk, "dicom_zip": handle}, format="multipart"
        )

    assert response.status_code == 202, response.content
    scan = Scan.objects.get(pk=response.json()["id"])
    assert scan.acquisition == {
        "manufacturer": "Siemens",
        "model": "Synthetic",
        "field_strength": 3.0,
        "repetition_time": 5000.0,
        "echo_time": 80.0,
    }
    services.scan_process(scan.pk, worker="test")
    scan.refresh_from_db()
    assert scan.acquisition["shells"] == [[0.0, 2], [1000.0, 20]] and scan.acquisition["echo_time"] == 80.0
    assert client.get(f"/api/v1/scans/{scan.pk}/").json()["acquisition"]["manufacturer"] == "Siemens"


@pytest.mark.postgres
def test_a_site_s_own_protocol_applies_to_its_patients_and_the_registry_wide_one_to_the_others(
    make_user, build, child, acquisitions, monkeypatch
):
    from imaging.models import AcquisitionProtocol
    from registry.models import Site

    north = Site.objects.create(code="NORTE", name="Hospital del Norte")
    patient_b = build.patient(site=north, study_id="CP-900", mrn="MRN-900")
    visit_b = build.visit(patient=patient_b, date=dt.date(2024, 1, 10), kind="baseline")
    radiologist = make_user(RADIOLOGY, "reader", sites=[Site.default(), north])
    AcquisitionProtocol.objects.create(name="Every site", b_values=[1000])
    AcquisitionProtocol.objects.create(name="Norte 3T", b_values=[700], site=north)

    at_main = processed(acquisitions["protocol"], child["baseline"], radiologist)  # b=1000
    at_north = processed(acquisitions["protocol"], visit_b, radiologist)  # b=1000, Norte expects 700

    assert at_main.comparability["protocol_name"] == "Every site" and at_main.comparability["protocol"] == []
    assert at_north.comparability["protocol_name"] == "Norte 3T"
    assert [d["item"] for d in at_north.comparability["protocol"]] == ["b_values"]


@pytest.mark.postgres
def test_a_follow_up_not_processed_yet_is_neither_comparable_nor_not(make_user, child, acquisitions):
    """A DICOM upload records its scanner at once, but has no shells until the worker has read it: it is
    not compared (and a failed one is not left marked incomparable)."""
    from imaging import comparability

    radiologist = make_user(RADIOLOGY, "reader")
    processed(acquisitions["protocol"], child["baseline"], radiologist)
    files = acquisitions["b700"]
    with open(files["dwi"], "rb") as dwi, open(files["bval"], "rb") as bval, open(files["bvec"], "rb") as bvec:
        waiting, _created = services.scan_register(
            child["follow"],
            radiologist,
            dwi=File(dwi, name="dwi.nii.gz"),
            bval=File(bval, name="dwi.bval"),
            bvec=File(bvec, name="dwi.bvec"),
        )
    Scan.objects.filter(pk=waiting.pk).update(
        acquisition={"manufacturer": "Siemens"}, comparable=False, comparability={"baseline": ["stale"]}
    )
    comparability.comparability_refresh(child["patient"].pk)
    waiting.refresh_from_db()
    assert waiting.status == Scan.Status.QUEUED
    assert waiting.comparable is None and waiting.comparability == {}
    assert waiting.acquisition == {"manufacturer": "Siemens"}


@pytest.mark.postgres
def test_working_out_again_writes_only_the_scans_whose_comparison_changed(make_user, child, acquisitions):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from imaging import comparability

    radiologist = make_user(RADIOLOGY, "reader")
    baseline = processed(acquisitions["protocol"], child["baseline"], radiologist)
    follow = processed(acquisitions["b700"], child["follow"], radiologist)
    worked_out = Scan.objects.get(pk=follow.pk).comparability

    with CaptureQueriesContext(connection) as nothing_changed:
        comparability.comparability_refresh(child["patient"].pk)
    Scan.objects.filter(pk=follow.pk).update(comparable=True, comparability={"baseline": ["stale"]})
    with CaptureQueriesContext(connection) as one_stale:
        comparability.comparability_refresh(child["patient"].pk)

    def scan_updates(queries):
        return [q["sql"] for q in queries if q["sql"].startswith('UPDATE "imaging_scan" SET "comparability"')]

    assert scan_updates(nothing_changed) == []
    assert (
        len(scan_updates(one_stale)) == 1 and f'WHERE "imaging_scan"."id" = {follow.pk}' in scan_updates(one_stale)[0]
    )
    follow.refresh_from_db()
    baseline.refresh_from_db()
    assert follow.comparable is False and follow.comparability == worked_out
    assert baseline.comparable is None and baseline.comparability["baseline_scan"] is None
