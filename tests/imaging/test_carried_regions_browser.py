"""In Chromium: a radiologist names the labels of a label image on a child's baseline scan from the
region vocabulary, sees the regions carried to the follow-up over its FA in the viewer (a layer of
its own, with a legend and the registration's similarity beside it) and accepts them; in Spanish the
QC table, with its protocol check, and the previews are Spanish.

The carry task runs in the server's process once the labels are saved (Celery eager), as a worker
would run it; the scans are small phantoms processed in the test's own process.
"""

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

pytestmark = [pytest.mark.browser]
SHAPE = (40, 40, 24)
NAMED = {5: "cst-l", 11: "cst-r"}


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """A phantom child's baseline and a follow-up with the head turned 3 degrees and shifted 2 mm, and
    the baseline's label image (two tracts)."""
    folder = tmp_path_factory.mktemp("browser-pair")
    baseline = make_phantom(SHAPE, n_b0=2, n_dirs=20, snr=30, seed=0)
    follow = make_phantom(SHAPE, n_b0=2, n_dirs=20, snr=30, seed=1, fa_boost=0.05)
    c, s = np.cos(np.radians(3.0)), np.sin(np.radians(3.0))
    motion = np.array([[c, -s, 0, 2.0], [s, c, 0, 0.0], [0, 0, 1, 0], [0, 0, 0, 1]])
    to_source = np.linalg.inv(baseline.affine) @ np.linalg.inv(motion) @ baseline.affine
    moved = np.stack(
        [
            ndimage.affine_transform(follow.data[..., v], to_source[:3, :3], to_source[:3, 3], order=1)
            for v in range(follow.data.shape[-1])
        ],
        axis=-1,
    )
    files = {
        "baseline": baseline.save(folder / "baseline"),
        "follow": dataclasses.replace(follow, data=moved).save(folder / "follow"),
        "labels": str(folder / "regions.nii.gz"),
    }
    drawn = np.where(np.isin(baseline.labels, list(NAMED)), baseline.labels, 0).astype(np.int16)
    nib.save(nib.Nifti1Image(drawn, baseline.affine), files["labels"])
    return files


@pytest.fixture
def eager_carry(monkeypatch):
    """Processing is run by the test; the carry task runs where it is queued (the server's thread)."""
    monkeypatch.setattr("imaging.services.dispatch", lambda scan_id, first=False: None)
    was = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = was


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


@pytest.mark.postgres
def test_a_radiologist_names_regions_sees_them_carried_in_the_viewer_and_accepts_them(
    watched_browser, build, make_user, series, eager_carry, chromium, sign_in, live_server
):
    patient = build.patient()
    uploader = make_user("radiology", "uploader")
    baseline = processed(
        series["baseline"], build.visit(patient=patient, date=dt.date(2024, 1, 10), kind="baseline"), uploader
    )
    follow = processed(
        series["follow"], build.visit(patient=patient, date=dt.date(2024, 8, 2), kind="follow-up"), uploader
    )
    browser = watched_browser("radiology", "dr-navarro")
    page = browser.visit(f"/imaging/scans/{baseline.pk}/", ready="#regions")

    page.set_input_files("#regions input[name=labels]", series["labels"])
    for row, (value, code) in enumerate(NAMED.items(), start=1):
        page.fill(f"input[name=label_{row}]", str(value))
        page.select_option(f"select[name=region_{row}]", code)
    with page.expect_navigation():
        page.click("#regions button:has-text('Compute regions')")

    assert Scan.objects.get(pk=baseline.pk).label_names == {"5": "cst-l", "11": "cst-r"}
    carry = RegionCarry.objects.get(scan=follow)
    assert carry.source_scan_id == baseline.pk
    result = follow.current_result
    result.refresh_from_db()
    assert result.checksums["carried_regions"] and result.files["carried_regions"].startswith(result.folder)

    page = browser.visit(
        f"/imaging/scans/{follow.pk}/",
        ready="() => ['ready', 'error'].includes(document.querySelector('.dwi-viewer')?.dataset.state)",
    )
    viewer = page.locator(".dwi-viewer")
    assert viewer.get_attribute("data-state") == "ready", viewer.inner_text()
    assert viewer.get_attribute("data-regions-shown") == "true"
    assert viewer.get_attribute("data-region-labels") == "5 11"
    assert page.evaluate("() => window.dwiViewers[0].volumes.length") == 4  # b0, FA, colour FA, regions
    legend = page.inner_text("[data-field=regions-legend]")
    assert legend.splitlines() == ["Corticospinal tract, left", "Corticospinal tract, right"]
    beside = page.inner_text("#carried-regions")
    assert f"Regions carried from scan {baseline.pk}" in beside and "registration similarity 0." in beside
    page.uncheck(".dwi-viewer input[data-control=regions]")
    assert viewer.get_attribute("data-regions-shown") == "false"

    with page.expect_navigation():
        page.click("#carried-regions button[value=accepted]")

    carry.refresh_from_db()
    assert carry.decision == "accepted" and carry.decided_by.username == "dr-navarro"
    assert "Accepted" in page.inner_text("#carried-regions")
    assert RoiMeasurement.objects.filter(scan=follow, source="carried", region__code="cst-l").exists()
    assert not browser.problems, browser.problems

    spanish = chromium.new_context(viewport={"width": 1200, "height": 900}, locale="es-ES")
    reader = spanish.new_page()
    sign_in(reader, "radiology", "dra-ibarra")
    reader.goto(f"{live_server.url}/imaging/scans/{follow.pk}/")
    qc = reader.inner_text("table.qc")
    assert "Verificación" in qc and "Protocolo de adquisición" in qc
    assert f"Adquirido como el estudio basal {baseline.pk}" in qc
    assert "2 × 2 × 2 mm" in qc
    previews = [reader.get_attribute(f"[data-preview={kind}] img", "src") for kind in ("fa", "color_fa")]
    assert all(src and src.endswith(".es.png") for src in previews), previews
    assert "Regiones trasladadas desde el estudio" in reader.inner_text("#carried-regions")
    spanish.close()
