"""A refused upload speaks of the files the person sent: each message names their own file
('notes.txt', 'short.bval', 'series.zip'), never the name the registry staged it under ('dwi.nii'),
never a server folder or a Python exception; the same through the API (POST /api/v1/scans/,
POST /api/v1/scans/{id}/labels/) and the pages, and nothing is stored."""

import html
import re
import zipfile

import pytest

from imaging.models import RoiMeasurement, Scan

STAGED_NAMES = ("dwi.nii", "dwi.bval", "dwi.bvec", "labels.nii", "series.zip")
EXCEPTION_WORDS = ("Traceback", "Error:", "Exception", "errno", "nibabel", 'File "')


@pytest.fixture
def radiology_api(api_as):
    return api_as("radiology")


@pytest.fixture
def visit(build):
    return build.visit()


def speaks_of(message, sent, settings):
    """The message names the person's file and nothing of the server's."""
    assert f"'{sent}'" in message, message
    for staged in STAGED_NAMES:
        if staged != sent:
            assert f"'{staged}" not in message, message
    assert str(settings.IMAGING_STAGING_DIR) not in message and str(settings.MEDIA_ROOT) not in message, message
    assert not re.search(r"(^|\s)/\w", message), message  # no absolute path
    assert "upload-" not in message, message  # the staging folder's prefix
    assert not any(word in message for word in EXCEPTION_WORDS), message


def refused(response, field, disk):
    assert response.status_code == 400, response.content
    body = response.json()
    assert list(body) == [field], body
    assert Scan.objects.count() == 0 and disk.stored() == []
    return body[field][0]


def post(client, payload):
    return client.post("/api/v1/scans/", payload, format="multipart")


# ---- the API ------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["dwi", "bval", "bvec"])
def test_a_text_file_is_named_as_sent(radiology_api, series, visit, disk, settings, field):
    notes = series.write("notes.txt", "Report of the MRI, not an image\n")
    message = refused(post(radiology_api, series.payload(visit, **{field: notes})), field, disk)
    speaks_of(message, "notes.txt", settings)


@pytest.mark.parametrize("field, name", [("dwi", "empty.nii.gz"), ("bval", "empty.bval"), ("bvec", "empty.bvec")])
def test_an_empty_file_is_named(radiology_api, series, visit, disk, settings, field, name):
    empty = series.write(name, "")
    message = refused(post(radiology_api, series.payload(visit, **{field: empty})), field, disk)
    speaks_of(message, name, settings)
    assert "empty" in message


def test_a_bval_of_another_series_is_named_with_the_counts(radiology_api, series, visit, disk, settings):
    short = series.write("short.bval", "0 1000 1000\n")
    message = refused(post(radiology_api, series.payload(visit, bval=short)), "bval", disk)
    speaks_of(message, "short.bval", settings)
    assert "3 b-values" in message


def test_words_in_a_bval_are_named(radiology_api, series, visit, disk, settings):
    words = series.write("protocol.bval", "zero thousand\n")
    message = refused(post(radiology_api, series.payload(visit, bval=words)), "bval", disk)
    speaks_of(message, "protocol.bval", settings)
    assert "not a number" in message


def test_a_text_file_sent_as_a_dicom_zip_is_named(radiology_api, series, visit, disk, settings):
    notes = series.write("notes.txt", "not a zip\n")
    message = refused(post(radiology_api, {"visit": visit.pk, "dicom_zip": open(notes, "rb")}), "dicom_zip", disk)
    speaks_of(message, "notes.txt", settings)
    assert "zip" in message


def test_an_empty_dicom_zip_is_named(radiology_api, series, visit, disk, settings):
    empty = series.write("series-0.zip", "")
    message = refused(post(radiology_api, {"visit": visit.pk, "dicom_zip": open(empty, "rb")}), "dicom_zip", disk)
    speaks_of(message, "series-0.zip", settings)


def test_a_zip_without_dicom_is_named(radiology_api, visit, tmp_path, disk, settings):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as writer:
        writer.writestr("readme.txt", "no images here")
    message = refused(post(radiology_api, {"visit": visit.pk, "dicom_zip": open(archive, "rb")}), "dicom_zip", disk)
    speaks_of(message, "export.zip", settings)
    assert "DICOM" in message


def test_a_dicom_series_with_too_few_directions_names_the_zip(
    radiology_api, phantom, visit, tmp_path, dicom_synth, disk, settings
):
    """A zip that converts, into a series the checks refuse: the message speaks of the zip, not of
    the file the conversion made."""
    few = slice(0, 6)  # the phantom's 2 b0 and its first 4 directions
    dicom_synth.write_dwi_series(
        tmp_path / "dicom",
        phantom.data[..., few],
        phantom.bvals[few],
        dicom_synth.voxel_to_patient_bvecs(phantom.bvecs[few]),
        voxel_size=(2.0, 2.0, 2.0),
    )
    archive = dicom_synth.zip_folder(tmp_path / "dicom", tmp_path / "dti-4dirs.zip")
    message = refused(post(radiology_api, {"visit": visit.pk, "dicom_zip": open(archive, "rb")}), "dicom_zip", disk)
    speaks_of(message, "dti-4dirs.zip", settings)
    assert "direction" in message


def test_a_text_file_as_label_image_is_named(radiology_api, processed_scan, series, settings):
    notes = series.write("regions.txt", "left CST, right CST\n")
    response = radiology_api.post(
        f"/api/v1/scans/{processed_scan.pk}/labels/", {"labels": open(notes, "rb")}, format="multipart"
    )
    assert response.status_code == 400, response.content
    speaks_of(response.json()["labels"][0], "regions.txt", settings)
    assert not RoiMeasurement.objects.filter(scan=processed_scan).exists()


def test_an_empty_label_image_is_named(radiology_api, processed_scan, series, settings):
    empty = series.write("labels-empty.nii.gz", "")
    response = radiology_api.post(
        f"/api/v1/scans/{processed_scan.pk}/labels/", {"labels": open(empty, "rb")}, format="multipart"
    )
    assert response.status_code == 400, response.content
    speaks_of(response.json()["labels"][0], "labels-empty.nii.gz", settings)


# ---- the upload page ----------------------------------------------------------------------


def field_errors(content):
    """{field name: [its messages]} as the upload page shows them, beside each field."""
    errors = {}
    for block in re.findall(r'<div class="field invalid">(.*?)</div>', content, re.S):
        name = re.search(r'name="(\w+)"', block).group(1)
        errors[name] = [html.unescape(m) for m in re.findall(r'<p class="error">(.*?)</p>', block, re.S)]
    return errors


@pytest.mark.parametrize(
    "field, name, content",
    [
        ("dwi", "notes.txt", "Report of the MRI\n"),
        ("bval", "empty.bval", ""),
        ("bval", "short.bval", "0 1000\n"),
        ("bvec", "notes.txt", "Report of the MRI\n"),
    ],
)
def test_the_upload_page_shows_the_message_beside_the_field(
    client, make_user, series, visit, disk, settings, field, name, content
):
    client.force_login(make_user("radiology"))
    data = series.payload(visit, **{field: series.write(name, content)})
    data.pop("visit")
    response = client.post(f"/imaging/visits/{visit.pk}/upload/", data)
    assert response.status_code == 400
    errors = field_errors(response.content.decode())
    assert list(errors) == [field], errors
    speaks_of(errors[field][0], name, settings)
    assert Scan.objects.count() == 0 and disk.stored() == []


def test_the_upload_page_names_a_text_file_sent_as_dicom_zip(client, make_user, series, visit, disk, settings):
    client.force_login(make_user("radiology"))
    notes = series.write("notes.txt", "not a zip\n")
    response = client.post(f"/imaging/visits/{visit.pk}/upload/", {"dicom_zip": open(notes, "rb")})
    assert response.status_code == 400
    errors = field_errors(response.content.decode())
    assert list(errors) == ["dicom_zip"], errors
    speaks_of(errors["dicom_zip"][0], "notes.txt", settings)
    assert Scan.objects.count() == 0 and disk.stored() == []
