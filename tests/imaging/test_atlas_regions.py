"""Atlas regions where a site provides an atlas: with a template FA, a label atlas and the region of each
label named in the settings, every processed scan is registered to the template and measured in the
atlas's regions (source "atlas"); settings that describe no usable atlas stop the start-up check with a
message naming the setting. The template and atlas here are made in the test from the phantom."""

import dataclasses
import datetime as dt
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from django.core.files import File
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from scipy import ndimage

from config.celery import app
from imaging import atlas, services
from imaging.dti import fit_dti, make_phantom
from imaging.dti.gradients import make_gradient_table
from imaging.models import RoiMeasurement, Scan
from imaging.selectors import visit_imaging
from registry.roles import RADIOLOGY

SHAPE = (48, 48, 28)
TRACTS = {5: "cst-l", 11: "cst-r", 7: "plic-l", 15: "plic-r"}


@pytest.fixture(scope="module")
def site_atlas(tmp_path_factory):
    """A template FA (as a site's template is the mean of many children's FA maps: here of four phantoms
    with other noise), its tract labels on a grid twice as fine, and the JSON naming each label's region,
    as a site would install them."""
    folder = tmp_path_factory.mktemp("atlas")
    maps = []
    for seed in (10, 11, 12, 13):
        truth = make_phantom(SHAPE, n_b0=2, n_dirs=20, snr=30, seed=seed)
        maps.append(
            np.nan_to_num(fit_dti(truth.data, make_gradient_table(truth.bvals, truth.bvecs), truth.brain_mask).fa)
        )
    template = np.mean(maps, axis=0).astype(np.float32)
    nib.save(nib.Nifti1Image(template, truth.affine), folder / "template_fa.nii.gz")
    drawn = np.where(np.isin(truth.labels, list(TRACTS)), truth.labels, 0)
    fine = np.repeat(np.repeat(np.repeat(drawn, 2, 0), 2, 1), 2, 2).astype(np.int16)
    fine_affine = np.diag([1.0, 1.0, 1.0, 1.0])
    fine_affine[:3, 3] = truth.affine[:3, 3] - 0.5
    nib.save(nib.Nifti1Image(fine, fine_affine), folder / "atlas_labels.nii.gz")
    (folder / "atlas_regions.json").write_text(json.dumps({str(k): v for k, v in TRACTS.items()}))
    return {
        "IMAGING_ATLAS_TEMPLATE": str(folder / "template_fa.nii.gz"),
        "IMAGING_ATLAS_LABELS": str(folder / "atlas_labels.nii.gz"),
        "IMAGING_ATLAS_REGIONS": str(folder / "atlas_regions.json"),
        "true_fa": {label: truth.true_fa[label] for label in TRACTS},
    }


@pytest.fixture(scope="module")
def child_scan(tmp_path_factory):
    """A child's scan: the phantom with other noise, the head turned 4 degrees and shifted (2, -1, 1) mm."""
    scan = make_phantom(SHAPE, n_b0=2, n_dirs=20, snr=30, seed=1)
    c, s = np.cos(np.radians(4.0)), np.sin(np.radians(4.0))
    motion = np.array([[c, -s, 0, 2.0], [s, c, 0, -1.0], [0, 0, 1, 1.0], [0, 0, 0, 1]])
    to_source = np.linalg.inv(scan.affine) @ np.linalg.inv(motion) @ scan.affine
    moved = np.stack(
        [
            ndimage.affine_transform(scan.data[..., v], to_source[:3, :3], to_source[:3, 3], order=0)
            for v in range(scan.data.shape[-1])
        ],
        axis=-1,
    )
    return dataclasses.replace(scan, data=moved).save(tmp_path_factory.mktemp("child"))


@pytest.fixture
def eager(monkeypatch, django_capture_on_commit_callbacks):
    monkeypatch.setattr("imaging.services.dispatch", lambda scan_id, first=False: None)
    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield django_capture_on_commit_callbacks
    app.conf.task_always_eager = was


def process(files, visit, user, capture):
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


@pytest.mark.postgres
def test_a_processed_scan_is_measured_in_the_site_s_atlas_regions(
    api_as, build, eager, settings, site_atlas, child_scan
):
    for name in atlas.SETTINGS:
        setattr(settings, name, site_atlas[name])
    client = api_as(RADIOLOGY)
    visit = build.visit(date=dt.date(2024, 1, 10), kind="baseline")

    scan = process(child_scan, visit, client.user, eager)

    rois = {roi.region.code: roi for roi in RoiMeasurement.objects.filter(scan=scan, source="atlas")}
    assert set(rois) == set(TRACTS.values())
    seconds = scan.current_result.provenance["atlas"]["registration"]["seconds"]
    print(f"\natlas: registration to the template {seconds:.2f} s per scan")
    for label, code in TRACTS.items():
        print(f"{code}: FA {rois[code].fa:.4f} vs true {site_atlas['true_fa'][label]:.4f}")
    for label, code in TRACTS.items():
        assert rois[code].fa == pytest.approx(site_atlas["true_fa"][label], abs=0.03), code
        assert rois[code].voxels > 20 and rois[code].source_scan is None
    provenance = scan.current_result.provenance["atlas"]
    assert provenance["template"] == "template_fa.nii.gz" and len(provenance["template_sha256"]) == 64
    assert len(provenance["registration"]["affine"]) == 4 and provenance["registration"]["similarity"] > 0.8
    answer = client.get(f"/api/v1/scans/{scan.pk}/").json()
    assert {(roi["region"], roi["source"]) for roi in answer["rois"]} == {(code, "atlas") for code in TRACTS.values()}
    measures = {m.name: m.value for m in visit_imaging([visit.pk])[visit.pk].measures}
    assert measures["FA cst-l"] == rois["cst-l"].fa


@pytest.mark.postgres
def test_without_an_atlas_no_atlas_region_is_measured(api_as, build, eager, settings, child_scan):
    client = api_as(RADIOLOGY)
    scan = process(child_scan, build.visit(), client.user, eager)

    assert not RoiMeasurement.objects.filter(scan=scan, source="atlas").exists()
    assert atlas.check_atlas_settings() == []


def test_the_start_up_check_names_a_missing_atlas_file(settings, site_atlas, tmp_path, reference_data):
    for name in atlas.SETTINGS:
        setattr(settings, name, site_atlas[name])
    assert atlas.check_atlas_settings() == []
    settings.IMAGING_ATLAS_LABELS = str(tmp_path / "not-there.nii.gz")

    [error] = atlas.check_atlas_settings()

    assert error.id == "imaging.E001" and error.obj == "IMAGING_ATLAS_LABELS"
    assert "not a file this server can read" in error.msg
    with pytest.raises(SystemCheckError, match="IMAGING_ATLAS_LABELS"):
        call_command("check")


@pytest.mark.parametrize(
    "regions, problem",
    [
        ('{"99": "cst-l"}', "names label 99, which the atlas labels do not contain"),
        ('{"one": "cst-l"}', "label names must map label values to region codes"),
        ("not json", "the label names are not valid JSON"),
        ('{"0": "cst-l"}', "names label 0, which the atlas labels do not contain"),
    ],
)
def test_the_start_up_check_names_a_region_file_that_does_not_fit_the_atlas(
    settings, site_atlas, tmp_path, regions, problem
):
    for name in atlas.SETTINGS:
        setattr(settings, name, site_atlas[name])
    (tmp_path / "regions.json").write_text(regions)
    settings.IMAGING_ATLAS_REGIONS = str(tmp_path / "regions.json")

    [error] = atlas.check_atlas_settings()

    assert error.obj == "IMAGING_ATLAS_REGIONS" and problem in error.msg


def test_an_atlas_needs_all_three_settings(settings, site_atlas):
    settings.IMAGING_ATLAS_TEMPLATE = site_atlas["IMAGING_ATLAS_TEMPLATE"]

    [error] = atlas.check_atlas_settings()

    assert error.obj == "IMAGING_ATLAS_LABELS" and "is not set" in error.msg


@pytest.mark.django_db
def test_the_start_up_check_names_region_codes_not_in_the_vocabulary(settings, site_atlas, tmp_path, reference_data):
    for name in atlas.SETTINGS:
        setattr(settings, name, site_atlas[name])
    (tmp_path / "regions.json").write_text('{"5": "cst-l", "11": "arcuate-l"}')
    settings.IMAGING_ATLAS_REGIONS = str(tmp_path / "regions.json")

    [error] = atlas.check_atlas_settings()

    assert error.id == "imaging.E002" and "arcuate-l" in error.msg and "cst-l" not in error.msg
