"""Who may do what with scans: each role against the imaging API, pages and media files;
research sees scans de-identified."""

import pytest
from django.core.files import File

from imaging import services
from imaging.models import Region, RoiMeasurement, Scan

ROLES = ["hematology", "radiology", "research", "registry-admin"]


def region(code):
    return Region.objects.get(code=code)


@pytest.mark.parametrize(
    "role,allowed", [("hematology", 403), ("radiology", 202), ("research", 403), ("registry-admin", 202)]
)
def test_who_may_upload(api_as, series, build, role, allowed, monkeypatch):
    monkeypatch.setattr("imaging.services.dispatch", lambda scan_id, first=False: None)
    response = api_as(role).post("/api/v1/scans/", series.payload(build.visit()), format="multipart")
    assert response.status_code == allowed
    assert Scan.objects.count() == (1 if allowed == 202 else 0)


def test_anonymous_gets_nothing(client, processed_scan):
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/scans/").status_code == 401
    assert APIClient().get(f"/api/v1/scans/{processed_scan.pk}/").status_code == 401
    assert client.get("/imaging/").status_code == 302
    assert client.get(f"/media/{processed_scan.current_result.files['fa']}").status_code == 302


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_scans(api_as, processed_scan, role):
    client = api_as(role)
    assert client.get("/api/v1/scans/").json()["count"] == 1
    body = client.get(f"/api/v1/scans/{processed_scan.pk}/").json()
    assert body["status"] == "done" and body["summary"]["fa_wm_mean"] > 0.2


@pytest.mark.parametrize(
    "action,payload",
    [
        ("review", {"usable": False, "reason": "motion in 8 volumes", "version": 1}),
        ("reprocess", {"fit_method": "OLS"}),
    ],
)
@pytest.mark.parametrize(
    "role,allowed", [("hematology", 403), ("research", 403), ("radiology", None), ("registry-admin", None)]
)
def test_who_may_review_and_reprocess(api_as, processed_scan, action, payload, role, allowed, monkeypatch):
    monkeypatch.setattr("imaging.services.dispatch", lambda scan_id, first=False: None)
    response = api_as(role).post(f"/api/v1/scans/{processed_scan.pk}/{action}/", payload, format="json")
    scan = Scan.objects.get(pk=processed_scan.pk)
    if allowed == 403:
        assert response.status_code == 403
        assert scan.usable is None and scan.status == "done" and scan.fit_method == "WLS"
    else:
        assert response.status_code in (200, 202), response.content
        assert scan.usable is False if action == "review" else scan.fit_method == "OLS"


def test_not_usable_needs_a_reason(api_as, processed_scan):
    response = api_as("radiology").post(
        f"/api/v1/scans/{processed_scan.pk}/review/", {"usable": False, "version": 1}, format="json"
    )
    assert response.status_code == 400 and "usable_reason" in response.json()
    assert Scan.objects.get(pk=processed_scan.pk).usable is None


def test_review_is_kept_in_the_scan_history(api_as, processed_scan):
    client = api_as("radiology")
    client.post(f"/api/v1/scans/{processed_scan.pk}/review/", {"usable": True, "version": 1}, format="json")
    latest = Scan.objects.get(pk=processed_scan.pk).history.latest()
    assert latest.usable is True and latest.history_user == client.user


@pytest.mark.parametrize(
    "role,allowed", [("hematology", 403), ("research", 403), ("radiology", 201), ("registry-admin", 201)]
)
def test_who_may_type_roi_measurements(api_as, processed_scan, role, allowed):
    response = api_as(role).post(
        "/api/v1/roi-measurements/",
        {"scan": processed_scan.pk, "region": "plic-l", "fa": 0.61, "md": 0.0007},
        format="json",
    )
    assert response.status_code == allowed
    assert RoiMeasurement.objects.count() == (1 if allowed == 201 else 0)


@pytest.mark.parametrize("fa,md,field", [(1.4, 0.0007, "fa"), (0.5, 0.7, "md"), (-0.1, None, "fa")])
def test_impossible_manual_measurements_are_refused(api_as, processed_scan, fa, md, field):
    response = api_as("radiology").post(
        "/api/v1/roi-measurements/", {"scan": processed_scan.pk, "region": "cst-l", "fa": fa, "md": md}, format="json"
    )
    assert response.status_code == 400 and field in response.json()
    assert RoiMeasurement.objects.count() == 0


def test_labels_must_overlap_the_scan(api_as, processed_scan, tmp_path):
    """Labels on another grid are resampled through the affines (tests/dti/test_register.py); labels
    placed where the scan is not are refused by saying so."""
    import nibabel as nib
    import numpy as np

    far = np.eye(4)
    far[:3, 3] = 500.0
    wrong = tmp_path / "labels.nii.gz"
    nib.save(nib.Nifti1Image(np.ones((10, 10, 10), dtype=np.int16), far), wrong)
    response = api_as("radiology").post(
        f"/api/v1/scans/{processed_scan.pk}/labels/",
        {"labels": open(wrong, "rb"), "names": '{"1": "cst-l"}'},
        format="multipart",
    )
    assert response.status_code == 400
    [message] = response.json()["labels"]
    assert "'labels.nii.gz'" in message and "falls on the diffusion image" in message
    assert RoiMeasurement.objects.count() == 0


def test_label_names_must_be_json(api_as, processed_scan, scan_files):
    response = api_as("radiology").post(
        f"/api/v1/scans/{processed_scan.pk}/labels/",
        {"labels": open(scan_files["labels"], "rb"), "names": "{CST left"},
        format="multipart",
    )
    assert response.status_code == 400 and "names" in response.json()


@pytest.mark.parametrize(
    "path,codes",
    [
        ("/imaging/", {"hematology": 200, "radiology": 200, "research": 403, "registry-admin": 200}),
        ("/imaging/scans/{scan}/", {"hematology": 200, "radiology": 200, "research": 403, "registry-admin": 200}),
        (
            "/imaging/visits/{visit}/upload/",
            {"hematology": 403, "radiology": 200, "research": 403, "registry-admin": 200},
        ),
        ("/media/{fa}", {"hematology": 200, "radiology": 200, "research": 403, "registry-admin": 200}),
    ],
)
def test_pages_and_files_by_role(client, make_user, processed_scan, path, codes):
    url = path.format(
        scan=processed_scan.pk, visit=processed_scan.visit_id, fa=processed_scan.current_result.files["fa"]
    )
    for role, code in codes.items():
        client.force_login(make_user(role, f"page-{role}"))
        assert client.get(url).status_code == code, (role, url)


@pytest.mark.parametrize(
    "url", ["/media/scans/../../config/settings.py", "/media/secret_key", "/media/scans/999/input/dwi.nii.gz"]
)
def test_media_outside_the_scans_is_not_served(client, make_user, url):
    client.force_login(make_user("radiology"))
    assert client.get(url).status_code == 404


def test_research_sees_scans_de_identified(api_as, processed_scan):
    RoiMeasurement.objects.create(scan=processed_scan, region=region("cst-l"), fa=0.6, source="manual")
    research = api_as("research")
    body = research.get(f"/api/v1/scans/{processed_scan.pk}/").content.decode()
    date = processed_scan.acquisition_date.isoformat()
    assert date not in body and processed_scan.dwi_sha256 not in body and "/media/" not in body
    assert '"acquisition_day"' in body and '"fa_wm_mean"' in body
    rois = research.get("/api/v1/roi-measurements/").json()["results"]
    assert rois and "created_at" not in rois[0]
    assert research.get(f"/api/v1/scans/?date_after={date}").status_code == 403


def test_the_patient_page_shows_fa_next_to_the_scores(client, make_user, processed_scan):
    client.force_login(make_user("hematology"))
    page = client.get(f"/patients/{processed_scan.visit.patient_id}/").content.decode()
    assert "White-matter FA" in page
    assert f"{processed_scan.current_result.fa_wm_mean:.3f}" in page


def test_labels_attached_before_processing_are_measured_at_every_run(
    upload_scan, make_user, scan_files, phantom, phantom_regions
):
    radiologist = make_user("radiology", "labeller")
    scan = upload_scan(uploader=radiologist)
    with open(scan_files["labels"], "rb") as labels:
        assert (
            services.labels_apply(
                scan, radiologist, File(labels, name="labels.nii.gz"), open(scan_files["label_names"]).read()
            )
            == []
        )
    services.scan_process(scan.pk, worker="test")
    first = {roi.label: roi for roi in RoiMeasurement.objects.filter(scan=scan)}
    tracts = [label for label in phantom.true_fa if label >= 3]
    assert set(tracts) <= set(first)
    assert {label: roi.region.code for label, roi in first.items() if roi.region} == phantom_regions
    for label in tracts:
        assert first[label].fa == pytest.approx(phantom.true_fa[label], abs=0.05)

    Scan.objects.filter(pk=scan.pk).update(status="done")
    services.scan_process(scan.pk, worker="test")
    again = RoiMeasurement.objects.filter(scan=scan)
    current = Scan.objects.get(pk=scan.pk).current_result
    assert again.count() == len(first) and {roi.result_id for roi in again} == {current.pk}


def test_visits_in_the_api_carry_their_scans_fa(api_as, processed_scan):
    body = api_as("hematology").get(f"/api/v1/visits/{processed_scan.visit_id}/").json()
    result = processed_scan.current_result
    assert body["imaging"] == [
        {
            "id": processed_scan.pk,
            "status": "done",
            "usable": None,
            "counts": True,
            "fa_mean": result.fa_mean,
            "fa_wm_mean": result.fa_wm_mean,
            "md_mean": result.md_mean,
            "in_change": True,
        }
    ]


def test_listing_visits_takes_as_many_queries_for_many_visits_as_for_one(api_as, processed_scan, build):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api_as("hematology")
    build.score(visit=processed_scan.visit)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/api/v1/visits/").status_code == 200
        return len(captured)

    one = queries()
    for day in (3, 4, 5, 6, 7, 8):
        visit = build.visit(patient=processed_scan.visit.patient, date=processed_scan.visit.date.replace(day=day))
        build.score(visit=visit)
    build.visit(patient=build.patient(), kind="baseline")
    assert queries() == one


def test_computed_region_values_are_not_typed_over(api_as, processed_scan):
    roi = RoiMeasurement.objects.create(
        scan=processed_scan, region=region("cst-l"), label=3, fa=0.61, voxels=40, source="label-mask"
    )
    response = api_as("radiology").patch(
        f"/api/v1/roi-measurements/{roi.pk}/", {"fa": 0.9, "version": 1}, format="json"
    )
    assert response.status_code == 400 and "label image" in response.json()["source"][0]
    assert RoiMeasurement.objects.get(pk=roi.pk).fa == 0.61
    manual = RoiMeasurement.objects.create(scan=processed_scan, region=region("plic-l"), fa=0.5, source="manual")
    response = api_as("registry-admin").patch(
        f"/api/v1/roi-measurements/{manual.pk}/", {"fa": 0.55, "version": 1}, format="json"
    )
    assert response.status_code == 200 and RoiMeasurement.objects.get(pk=manual.pk).fa == 0.55


def test_reprocessing_a_scan_still_in_processing_is_a_conflict(api_as, processed_scan):
    Scan.objects.filter(pk=processed_scan.pk).update(status="running")

    response = api_as("radiology").post(f"/api/v1/scans/{processed_scan.pk}/reprocess/", {}, format="json")

    assert response.status_code == 409
    assert response.json() == {"detail": "The scan is already being processed."}
    assert Scan.objects.get(pk=processed_scan.pk).status == "running"
