"""Regions drawn once, measured everywhere: a label image attached to one scan of a child is carried
to their other processed scans, past and future, by registering the FA maps; each carried region says
where it was drawn, a poor registration is flagged, and a rejected carry counts nowhere."""

import dataclasses
import datetime as dt
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from django.core.files import File
from scipy import ndimage

from config.celery import app
from imaging import services
from imaging.dti import make_phantom
from imaging.models import RegionCarry, RoiMeasurement, Scan
from imaging.selectors import visit_imaging
from registry.roles import RADIOLOGY

SHAPE = (48, 48, 28)
# Phantom tract label -> (region code, FA added at follow-up): two tracts rise, two do not.
TRACTS = {5: ("cst-l", 0.05), 11: ("cst-r", 0.10), 7: ("plic-l", 0.0), 15: ("plic-r", 0.0)}


def rotation(axis, degrees):
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    i, j = [(1, 2), (0, 2), (0, 1)][axis]
    matrix = np.eye(4)
    matrix[i, i] = matrix[j, j] = c
    matrix[i, j], matrix[j, i] = -s, s
    return matrix


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """Files of a baseline and a follow-up of one phantom child (other noise, FA raised in two tracts,
    head turned 4 degrees about z and 3 about x and shifted (3, -2, 1.5) mm), and the baseline's
    regions drawn on a grid twice as fine as the scan's."""
    folder = tmp_path_factory.mktemp("pair")
    baseline = make_phantom(SHAPE, n_b0=2, n_dirs=20, snr=30, seed=0)
    follow = make_phantom(SHAPE, n_b0=2, n_dirs=20, snr=30, seed=1)
    for label, (_code, boost) in TRACTS.items():
        if boost:
            inside = baseline.labels == label
            follow.data[inside] = make_phantom(SHAPE, n_b0=2, n_dirs=20, snr=30, seed=1, fa_boost=boost).data[inside]
    motion = rotation(2, 4.0) @ rotation(0, 3.0)
    motion[:3, 3] = [3.0, -2.0, 1.5]
    to_source = np.linalg.inv(baseline.affine) @ np.linalg.inv(motion) @ baseline.affine
    moved = np.stack(
        [
            ndimage.affine_transform(follow.data[..., v], to_source[:3, :3], to_source[:3, 3], order=0)
            for v in range(follow.data.shape[-1])
        ],
        axis=-1,
    )
    files = {
        "baseline": baseline.save(folder / "baseline"),
        "follow": dataclasses.replace(follow, data=moved).save(folder / "follow"),
    }
    drawn = np.where(np.isin(baseline.labels, list(TRACTS)), baseline.labels, 0)
    fine = np.repeat(np.repeat(np.repeat(drawn, 2, 0), 2, 1), 2, 2).astype(np.int16)
    fine_affine = np.diag([1.0, 1.0, 1.0, 1.0])
    fine_affine[:3, 3] = baseline.affine[:3, 3] - 0.5
    files["labels"] = str(folder / "regions_1mm.nii.gz")
    nib.save(nib.Nifti1Image(fine, fine_affine), files["labels"])
    files["true_fa"] = {label: baseline.true_fa[label] for label in TRACTS}
    return files


@pytest.fixture
def eager(monkeypatch, django_capture_on_commit_callbacks):
    """Celery tasks run in the test's process, and what waits for the commit runs at once."""
    monkeypatch.setattr("imaging.services.dispatch", lambda scan_id, first=False: None)
    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield django_capture_on_commit_callbacks
    app.conf.task_always_eager = was


@pytest.fixture
def child(build):
    patient = build.patient()
    return {
        "baseline": build.visit(patient=patient, date=dt.date(2024, 1, 10), kind="baseline"),
        "follow": build.visit(patient=patient, date=dt.date(2024, 8, 2), kind="follow-up"),
    }


def processed(files, visit, user, capture):
    with open(files["dwi"], "rb") as dwi, open(files["bval"], "rb") as bval, open(files["bvec"], "rb") as bvec:
        scan, _created = services.scan_register(
            visit,
            user,
            dwi=File(dwi, name=Path(files["dwi"]).name),
            bval=File(bval, name="dwi.bval"),
            bvec=File(bvec, name="dwi.bvec"),
        )
    with capture(execute=True):
        services.scan_process(scan.pk, worker="test")
    scan.refresh_from_db()
    assert scan.status == Scan.Status.DONE, scan.error
    return scan


def draw(client, scan, series, capture):
    names = '{"5": "cst-l", "11": "cst-r", "7": "plic-l", "15": "plic-r"}'
    with capture(execute=True), open(series["labels"], "rb") as labels:
        response = client.post(
            f"/api/v1/scans/{scan.pk}/labels/", {"labels": labels, "names": names}, format="multipart"
        )
    assert response.status_code == 201, response.content
    return response


def fa_by_region(scan, source):
    return {roi.region.code: roi for roi in RoiMeasurement.objects.filter(scan=scan, source=source)}


@pytest.mark.postgres
def test_regions_drawn_at_baseline_are_carried_to_an_earlier_processed_follow_up(
    api_as, eager, child, series, make_user
):
    client = api_as(RADIOLOGY)
    baseline = processed(series["baseline"], child["baseline"], client.user, eager)
    follow = processed(series["follow"], child["follow"], client.user, eager)
    assert not RoiMeasurement.objects.filter(scan=follow).exists()

    draw(client, baseline, series, eager)

    drawn = fa_by_region(baseline, RoiMeasurement.Source.LABEL_MASK)
    carried = fa_by_region(follow, RoiMeasurement.Source.CARRIED)
    assert set(carried) == {"cst-l", "cst-r", "plic-l", "plic-r"}
    carry = RegionCarry.objects.get(scan=follow)
    print(f"\nphantom pair: registration {carry.transform['seconds']:.2f} s per scan ({carry.transform['method']})")
    for label, (code, boost) in TRACTS.items():
        truth = series["true_fa"][label]
        print(
            f"{code}: FA carried {carried[code].fa:.4f} vs true {truth + boost:.4f} "
            f"(error {carried[code].fa - truth - boost:+.4f}); change {carried[code].fa - drawn[code].fa:+.4f} "
            f"vs true {boost:+.4f} (error {carried[code].fa - drawn[code].fa - boost:+.4f})"
        )
    for label, (code, boost) in TRACTS.items():
        truth = series["true_fa"][label]
        assert drawn[code].fa == pytest.approx(truth, abs=0.03), code
        assert carried[code].fa == pytest.approx(truth + boost, abs=0.03), code
        assert carried[code].fa - drawn[code].fa == pytest.approx(boost, abs=0.02), code
        assert carried[code].source_scan_id == baseline.pk
        assert carried[code].ad > carried[code].md > carried[code].rd > 0
    assert carry.source_scan_id == baseline.pk and not carry.flagged and carry.similarity > 0.85
    assert len(carry.transform["affine"]) == 4 and carry.transform["seconds"] > 0


@pytest.mark.postgres
def test_a_follow_up_processed_after_the_regions_were_drawn_gets_them_too(api_as, eager, child, series):
    client = api_as(RADIOLOGY)
    baseline = processed(series["baseline"], child["baseline"], client.user, eager)
    draw(client, baseline, series, eager)

    follow = processed(series["follow"], child["follow"], client.user, eager)

    carried = fa_by_region(follow, RoiMeasurement.Source.CARRIED)
    assert carried["cst-r"].fa == pytest.approx(series["true_fa"][11] + 0.10, abs=0.03)
    measures = {m.name: m.value for m in visit_imaging([child["follow"].pk])[child["follow"].pk].measures}
    assert measures["FA cst-r"] == carried["cst-r"].fa


@pytest.mark.postgres
def test_a_poor_registration_is_flagged_and_counts_only_once_accepted(api_as, eager, child, series, settings):
    settings.IMAGING_CARRY_MIN_SIMILARITY = 0.999  # no real registration reaches it
    client = api_as(RADIOLOGY)
    baseline = processed(series["baseline"], child["baseline"], client.user, eager)
    follow = processed(series["follow"], child["follow"], client.user, eager)
    draw(client, baseline, series, eager)
    carry = RegionCarry.objects.get(scan=follow)
    visit = child["follow"].pk

    assert carry.flagged and RoiMeasurement.objects.filter(scan=follow, source="carried").count() == 4
    assert "FA cst-l" not in {m.name for m in visit_imaging([visit])[visit].measures}

    response = client.post(f"/api/v1/scans/{follow.pk}/carried-regions/", {"decision": "accepted"}, format="json")

    assert response.status_code == 200, response.content
    assert "FA cst-l" in {m.name for m in visit_imaging([visit])[visit].measures}


@pytest.mark.postgres
def test_rejected_carried_regions_count_nowhere(api_as, eager, child, series):
    client = api_as(RADIOLOGY)
    baseline = processed(series["baseline"], child["baseline"], client.user, eager)
    follow = processed(series["follow"], child["follow"], client.user, eager)
    draw(client, baseline, series, eager)
    visit = child["follow"].pk
    assert "FA cst-l" in {m.name for m in visit_imaging([visit])[visit].measures}

    response = client.post(f"/api/v1/scans/{follow.pk}/carried-regions/", {"decision": "rejected"}, format="json")

    assert response.status_code == 200, response.content
    assert RegionCarry.objects.get(scan=follow).decision == "rejected"
    assert not [m for m in visit_imaging([visit])[visit].measures if m.name.startswith("FA cst")]
    rois = client.get(f"/api/v1/scans/{follow.pk}/").json()["rois"]
    assert {(roi["region"], roi["source"], roi["source_scan"]) for roi in rois} >= {("cst-l", "carried", baseline.pk)}
    [seen] = [
        roi for roi in api_as("research").get(f"/api/v1/scans/{follow.pk}/").json()["rois"] if roi["region"] == "cst-l"
    ]
    assert seen["source"] == "carried" and seen["source_scan"] == baseline.pk
    assert set(seen["registration"]) == {"similarity", "flagged", "decision"}  # not when it was decided


@pytest.mark.postgres
def test_the_radiologist_names_labels_row_by_row_and_accepts_the_carried_regions_on_the_page(
    client, make_user, eager, child, series
):
    radiologist = make_user(RADIOLOGY, "reader")
    client.force_login(radiologist)
    baseline = processed(series["baseline"], child["baseline"], radiologist, eager)
    follow = processed(series["follow"], child["follow"], radiologist, eager)
    rows = {"label_1": "5", "region_1": "cst-l", "label_2": "11", "region_2": "cst-r"}

    with eager(execute=True), open(series["labels"], "rb") as labels:
        response = client.post(f"/imaging/scans/{baseline.pk}/labels/", {"labels": labels, **rows})

    assert response.status_code == 302
    assert Scan.objects.get(pk=baseline.pk).label_names == {"5": "cst-l", "11": "cst-r"}
    page = client.get(f"/imaging/scans/{follow.pk}/").content.decode()
    assert f"Regions carried from scan {baseline.pk}" in page and "Accept carried regions" in page
    spanish = client.get(f"/imaging/scans/{follow.pk}/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert f"Regiones trasladadas desde el estudio {baseline.pk}" in spanish and "Valor de etiqueta" in spanish

    response = client.post(f"/imaging/scans/{follow.pk}/carried-regions/", {"decision": "accepted"})

    assert response.status_code == 302
    carry = RegionCarry.objects.get(scan=follow)
    assert carry.decision == "accepted" and carry.decided_by == radiologist


@pytest.mark.postgres
def test_a_row_without_its_region_is_refused_naming_the_row(client, make_user, eager, child, series):
    radiologist = make_user(RADIOLOGY, "reader")
    client.force_login(radiologist)
    baseline = processed(series["baseline"], child["baseline"], radiologist, eager)

    with open(series["labels"], "rb") as labels:
        rows = {"label_1": "5", "region_1": "cst-l", "label_2": "7"}
        response = client.post(f"/imaging/scans/{baseline.pk}/labels/", {"labels": labels, **rows}, follow=True)

    assert "Row 2: give both the label value and its region." in response.content.decode()
    assert Scan.objects.get(pk=baseline.pk).label_names == {}


@pytest.mark.postgres
def test_a_damaged_map_leaves_the_scan_without_carried_regions_and_the_task_does_not_fail(
    api_as, eager, child, series, settings
):
    from imaging.tasks import carry_regions

    client = api_as(RADIOLOGY)
    baseline = processed(series["baseline"], child["baseline"], client.user, eager)
    follow = processed(series["follow"], child["follow"], client.user, eager)
    with eager(execute=False), open(series["labels"], "rb") as labels:  # drawn, not yet carried
        client.post(f"/api/v1/scans/{baseline.pk}/labels/", {"labels": labels, "names": '{"5": "cst-l"}'})
    with open(Path(settings.MEDIA_ROOT) / follow.current_result.files["fa"], "wb") as damaged:
        damaged.write(b"not the stored map")

    assert carry_regions.apply(args=[follow.pk]).get() is None
    assert not RegionCarry.objects.filter(scan=follow).exists()


def test_a_busy_database_makes_the_carry_try_again_rather_than_lose_the_regions(monkeypatch):
    from django.db import OperationalError

    from imaging.tasks import carry_regions

    answers = [OperationalError("database is locked"), None]

    def carry_to(scan_id):
        answer = answers.pop(0)
        if answer is not None:
            raise answer
        return RegionCarry(pk=41)

    monkeypatch.setattr("imaging.regions.regions_carry_to", carry_to)

    assert carry_regions.apply(args=[7]).get() == 41
    assert answers == []


@pytest.mark.postgres
def test_a_decision_on_regions_carried_again_since_is_refused_and_a_decision_is_kept_in_history(
    api_as, eager, child, series
):
    client = api_as(RADIOLOGY)
    baseline = processed(series["baseline"], child["baseline"], client.user, eager)
    follow = processed(series["follow"], child["follow"], client.user, eager)
    draw(client, baseline, series, eager)
    carry = RegionCarry.objects.get(scan=follow)
    [shown] = {
        roi["registration"]["id"]
        for roi in client.get(f"/api/v1/scans/{follow.pk}/").json()["rois"]
        if roi["registration"]
    }
    assert shown == carry.pk

    stale = client.post(
        f"/api/v1/scans/{follow.pk}/carried-regions/", {"decision": "accepted", "carry": carry.pk + 1}, format="json"
    )
    assert stale.status_code == 400 and "carried again" in stale.json()["carry"][0]
    carry.refresh_from_db()
    assert carry.decision == "pending"

    response = client.post(
        f"/api/v1/scans/{follow.pk}/carried-regions/", {"decision": "accepted", "carry": carry.pk}, format="json"
    )
    assert response.status_code == 200, response.content
    [decided] = carry.history.filter(decision="accepted")
    assert decided.history_user == client.user
