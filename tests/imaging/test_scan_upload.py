"""Uploading a diffusion scan: each bad input is refused before anything is queued (400 with
the field at fault) and leaves nothing stored; a good one is queued (202) once."""

import hashlib
import zipfile

import numpy as np
import pytest

from imaging.models import Scan, ScanStatusEvent


@pytest.fixture
def radiology_api(api_as):
    return api_as("radiology")


@pytest.fixture
def visit(build):
    return build.visit()


def post(client, payload):
    return client.post("/api/v1/scans/", payload, format="multipart")


def refused(response, field, words, disk):
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body, body
    assert any(words.lower() in message.lower() for message in body[field]), body
    assert Scan.objects.count() == 0
    assert disk.stored() == []


def test_a_good_series_is_queued(radiology_api, series, visit, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    monkeypatch.setattr("imaging.services.dispatch", lambda scan_id, first=False: queued.append(scan_id))
    with django_capture_on_commit_callbacks(execute=True):
        response = post(radiology_api, series.payload(visit))
    assert response.status_code == 202, response.content
    body = response.json()
    scan = Scan.objects.get()
    assert body["status"] == "queued" and body["id"] == scan.pk and queued == [scan.pk]
    assert body["shape"] == [32, 32, 20, 22]
    for field in ("dwi", "bval", "bvec"):
        with open(series.files[field], "rb") as handle:
            assert body[f"{field}_sha256"] == hashlib.sha256(handle.read()).hexdigest(), field
    assert body["visit"] == visit.pk
    assert [event.status for event in ScanStatusEvent.objects.all()] == ["queued"]
    assert scan.dwi.storage.exists(scan.dwi.name) and scan.bvec.storage.exists(scan.bvec.name)


def test_the_same_series_twice_is_one_scan(
    radiology_api, series, visit, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr("imaging.services.dispatch", lambda scan_id, first=False: queued.append(scan_id))
    with django_capture_on_commit_callbacks(execute=True):
        first = post(radiology_api, series.payload(visit))
        second = post(radiology_api, series.payload(visit))
    assert first.status_code == 202 and second.status_code == 200
    assert second.json()["id"] == first.json()["id"] and second.json()["duplicate"] is True
    assert Scan.objects.count() == 1 and len(queued) == 1


def test_bvecs_in_columns_are_accepted(radiology_api, series, phantom, visit):
    columns = series.write("columns.bvec", "\n".join(" ".join(f"{v:.6f}" for v in row) for row in phantom.bvecs))
    assert post(radiology_api, series.payload(visit, bvec=columns)).status_code == 202


def test_missing_files_are_named(radiology_api, series, visit, disk):
    refused(post(radiology_api, series.payload(visit, bvec=None)), "bvec", "required", disk)


def test_not_nifti(radiology_api, series, visit, disk):
    text = series.write("notes.nii", "this is a report, not an image\n")
    refused(post(radiology_api, series.payload(visit, dwi=text)), "dwi", "nifti", disk)


def test_a_refusal_names_the_file_the_person_sent_and_no_folder(radiology_api, series, visit, disk):
    text = series.write("report.txt", "this is a report, not an image\n")
    response = post(radiology_api, series.payload(visit, dwi=text))
    message = response.json()["dwi"][0]
    assert "'report.txt'" in message and "dwi.nii" not in message and "/" not in message
    assert Scan.objects.count() == 0 and disk.stored() == []


def test_corrupt_gzip(radiology_api, series, scan_files, visit, tmp_path, disk):
    broken = disk.truncated_gzip(scan_files["dwi"], tmp_path / "broken.nii.gz")
    response = post(radiology_api, series.payload(visit, dwi=broken))
    assert response.status_code == 400 and "dwi" in response.json(), response.content
    assert Scan.objects.count() == 0 and disk.stored() == []


def test_gzip_that_is_not_nifti(radiology_api, series, visit, tmp_path, disk):
    fake = disk.gzip_bytes(tmp_path / "fake.nii.gz", b"hello" * 1000)
    response = post(radiology_api, series.payload(visit, dwi=fake))
    assert response.status_code == 400 and "dwi" in response.json()
    assert disk.stored() == []


def test_not_4d(radiology_api, series, visit, tmp_path, disk):
    flat = disk.nifti(tmp_path / "t1.nii.gz", np.ones((16, 16, 10), dtype=np.int16))
    refused(post(radiology_api, series.payload(visit, dwi=flat)), "dwi", "4D", disk)


def test_counts_disagree(radiology_api, series, phantom, visit, disk):
    short = series.write("short.bval", " ".join("1000" for _ in range(len(phantom.bvals) - 1)))
    response = post(radiology_api, series.payload(visit, bval=short))
    assert response.status_code == 400 and Scan.objects.count() == 0 and disk.stored() == []
    assert "bval" in response.json() or "bvec" in response.json(), response.json()


def test_no_b0(radiology_api, series, phantom, visit, disk):
    all_weighted = series.write("nob0.bval", " ".join("1000" for _ in phantom.bvals))
    refused(post(radiology_api, series.payload(visit, bval=all_weighted)), "bval", "b0", disk)


def test_fewer_than_six_directions(radiology_api, series, phantom, visit, tmp_path, disk):
    n = 6  # 1 b0 + 5 directions
    disk.nifti(tmp_path / "five.nii.gz", np.abs(phantom.data[..., :n]).astype(np.float32), phantom.affine)
    bval = series.write("five.bval", " ".join(f"{b:g}" for b in [0, 1000, 1000, 1000, 1000, 1000]))
    vectors = np.vstack([[0, 0, 0], np.eye(3), [[0.7071, 0.7071, 0], [0, 0.7071, 0.7071]]])
    bvec = series.write("five.bvec", "\n".join(" ".join(f"{v:.4f}" for v in row) for row in vectors.T))
    refused(
        post(radiology_api, series.payload(visit, dwi=tmp_path / "five.nii.gz", bval=bval, bvec=bvec)),
        "bvec",
        "direction",
        disk,
    )


def test_bvecs_not_unit_length(radiology_api, series, phantom, visit, disk):
    doubled = series.write("long.bvec", "\n".join(" ".join(f"{2 * v:.6f}" for v in row) for row in phantom.bvecs.T))
    refused(post(radiology_api, series.payload(visit, bvec=doubled)), "bvec", "unit", disk)


def test_nan_in_the_data(radiology_api, series, phantom, visit, tmp_path, disk):
    data = phantom.data.astype(np.float32).copy()
    data[10, 10, 10, 3] = np.nan
    nan_file = disk.nifti(tmp_path / "nan.nii.gz", data, phantom.affine)
    refused(post(radiology_api, series.payload(visit, dwi=nan_file)), "dwi", "nan", disk)


def test_dimensions_beyond_the_limit(radiology_api, series, visit, settings, disk):
    settings.IMAGING_MAX_SPATIAL_DIM = 24
    refused(post(radiology_api, series.payload(visit)), "dwi", "24", disk)


def test_b_values_no_scanner_uses_are_refused(radiology_api, series, phantom, visit, disk):
    bvals = [f"{b:g}" for b in phantom.bvals]
    bvals[4] = "1e308"
    absurd = series.write("absurd.bval", " ".join(bvals))
    response = post(radiology_api, series.payload(visit, bval=absurd))
    refused(response, "bval", "10,000 s/mm", disk)
    assert "'absurd.bval'" in response.json()["bval"][0] and "volume 4" in response.json()["bval"][0]


def test_a_voxel_size_of_zero_is_refused(radiology_api, series, scan_files, visit, tmp_path, disk):
    flat = disk.patched_header(scan_files["dwi"], tmp_path / "flat.nii.gz", 80, "<f", 0.0)  # pixdim[1]
    response = post(radiology_api, series.payload(visit, dwi=flat))
    refused(response, "dwi", "'flat.nii.gz' has a damaged NIfTI header", disk)


def test_a_voxel_larger_than_a_scanner_makes_is_refused(radiology_api, series, scan_files, visit, tmp_path, disk):
    huge = disk.patched_header(scan_files["dwi"], tmp_path / "huge.nii.gz", 84, "<f", 45.0)  # pixdim[2]
    refused(post(radiology_api, series.payload(visit, dwi=huge)), "dwi", "'huge.nii.gz' gives voxel sizes", disk)


def test_a_wrong_header_size_is_refused(radiology_api, series, scan_files, visit, tmp_path, disk):
    odd = disk.patched_header(scan_files["dwi"], tmp_path / "odd.nii.gz", 0, "<i", 999)  # sizeof_hdr
    response = post(radiology_api, series.payload(visit, dwi=odd))
    refused(response, "dwi", "sizeof_hdr should be 348", disk)
    assert "'odd.nii.gz'" in response.json()["dwi"][0]


def test_file_larger_than_the_limit(radiology_api, series, visit, settings, disk):
    settings.IMAGING_MAX_UPLOAD_BYTES = 10_000
    response = post(radiology_api, series.payload(visit))
    assert response.status_code == 400 and "dwi" in response.json()
    assert Scan.objects.count() == 0 and disk.stored() == []


def test_zip_with_paths_escaping_its_folder(radiology_api, visit, tmp_path, disk):
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("../../etc/cron.d/evil.dcm", b"x" * 200)
    refused(post(radiology_api, {"visit": visit.pk, "dicom_zip": open(evil, "rb")}), "dicom_zip", "folder", disk)


def test_zip_without_dicom(radiology_api, visit, tmp_path, disk):
    notes = tmp_path / "notes.zip"
    with zipfile.ZipFile(notes, "w") as archive:
        archive.writestr("readme.txt", "no images here")
    refused(post(radiology_api, {"visit": visit.pk, "dicom_zip": open(notes, "rb")}), "dicom_zip", "dicom", disk)


def test_dicom_without_diffusion_information(radiology_api, phantom, visit, tmp_path, dicom_synth, disk):
    dicom_synth.write_dwi_series(
        tmp_path / "plain",
        phantom.data[..., :3],
        phantom.bvals[:3],
        phantom.bvecs[:3],
        voxel_size=(2.0, 2.0, 2.0),
        diffusion=False,
    )
    archive = dicom_synth.zip_folder(tmp_path / "plain", tmp_path / "plain.zip")
    refused(post(radiology_api, {"visit": visit.pk, "dicom_zip": open(archive, "rb")}), "dicom_zip", "diffusion", disk)


def test_a_dicom_series_is_converted_and_queued(radiology_api, phantom, visit, tmp_path, dicom_synth):
    dicom_synth.write_dwi_series(
        tmp_path / "dwi", phantom.data, phantom.bvals, phantom.bvecs, voxel_size=(2.0, 2.0, 2.0)
    )
    archive = dicom_synth.zip_folder(tmp_path / "dwi", tmp_path / "dwi.zip")
    response = post(radiology_api, {"visit": visit.pk, "dicom_zip": open(archive, "rb")})
    assert response.status_code == 202, response.content
    scan = Scan.objects.get()
    assert scan.shape == [32, 32, 20, 22] and scan.dicom_zip.name.endswith(".zip")
    with open(archive, "rb") as handle:
        assert scan.dicom_sha256 == hashlib.sha256(handle.read()).hexdigest()
    for field in ("dwi", "bval", "bvec"):  # the converted files, as stored
        with getattr(scan, field).open("rb") as handle:
            assert getattr(scan, f"{field}_sha256") == hashlib.sha256(handle.read()).hexdigest(), field


def test_both_kinds_at_once_are_refused(radiology_api, series, visit, tmp_path, disk):
    payload = series.payload(visit)
    payload["dicom_zip"] = open(series.files["bval"], "rb")
    refused(post(radiology_api, payload), "dicom_zip", "either", disk)


def test_hematology_and_research_cannot_upload(api_as, series, visit, disk):
    for role in ("hematology", "research"):
        response = post(api_as(role), series.payload(visit))
        assert response.status_code == 403
    assert Scan.objects.count() == 0 and disk.stored() == []


def test_the_upload_page_shows_the_message_and_keeps_nothing(client, make_user, series, visit, phantom, disk):
    client.force_login(make_user("radiology"))
    all_weighted = series.write("nob0.bval", " ".join("1000" for _ in phantom.bvals))
    data = series.payload(visit, bval=all_weighted)
    data.pop("visit")
    response = client.post(f"/imaging/visits/{visit.pk}/upload/", data)
    assert response.status_code == 400
    assert "b0" in response.content.decode()
    assert Scan.objects.count() == 0 and disk.stored() == []
