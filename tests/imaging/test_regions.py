"""Regions come from a vocabulary: label images and typed measurements name a region by its code,
the API gives the code and the name in the reader's language, and text typed before the
vocabulary is mapped to a code where it names a known region."""

from importlib import import_module

import pytest
from django.apps import apps

from imaging.models import Region, RoiMeasurement, Scan
from registry.roles import RADIOLOGY

BUILTIN = [
    "cc-body",
    "cc-genu",
    "cc-splenium",
    "cp-l",
    "cp-r",
    "cr-l",
    "cr-r",
    "cst-l",
    "cst-r",
    "plic-l",
    "plic-r",
    "wm",
]


def test_the_vocabulary_is_seeded_with_the_tracts_of_cp_follow_up(reference_data):
    assert sorted(Region.objects.filter(builtin=True).values_list("code", flat=True)) == BUILTIN
    assert Region.objects.get(code="plic-l").name_en == "Posterior limb of the internal capsule, left"


def test_label_names_are_region_codes(api_as, processed_scan, scan_files):
    response = api_as(RADIOLOGY).post(
        f"/api/v1/scans/{processed_scan.pk}/labels/",
        {"labels": open(scan_files["labels"], "rb"), "names": '{"3": "cst-l", "4": "cst-r"}'},
        format="multipart",
        HTTP_ACCEPT_LANGUAGE="es",
    )

    assert response.status_code == 201, response.content
    named = {roi["label"]: (roi["region"], roi["region_name"]) for roi in response.json() if roi["region"]}
    assert named == {3: ("cst-l", "Tracto corticoespinal izquierdo"), 4: ("cst-r", "Tracto corticoespinal derecho")}
    assert RoiMeasurement.objects.get(scan=processed_scan, label=3).region.code == "cst-l"
    assert Scan.objects.get(pk=processed_scan.pk).label_names == {"3": "cst-l", "4": "cst-r"}


def test_an_unknown_region_code_is_refused_by_name_with_the_valid_codes(api_as, processed_scan, scan_files):
    response = api_as(RADIOLOGY).post(
        f"/api/v1/scans/{processed_scan.pk}/labels/",
        {"labels": open(scan_files["labels"], "rb"), "names": '{"3": "cst-l", "4": "CST right Garcia"}'},
        format="multipart",
    )

    assert response.status_code == 400
    [message] = response.json()["names"]
    assert '"CST right Garcia"' in message and "Label 4" in message and "cst-r" in message
    assert not RoiMeasurement.objects.filter(scan=processed_scan).exists()
    assert Scan.objects.get(pk=processed_scan.pk).label_names == {}


def test_label_names_naming_a_server_file_are_read_as_text_never_opened(api_as, processed_scan, scan_files, tmp_path):
    on_server = tmp_path / "names.json"
    on_server.write_text('{"3": "cst-l"}')  # a valid names file the person could only have guessed the path of

    response = api_as(RADIOLOGY).post(
        f"/api/v1/scans/{processed_scan.pk}/labels/",
        {"labels": open(scan_files["labels"], "rb"), "names": str(on_server)},
        format="multipart",
    )

    assert response.status_code == 400 and "not valid JSON" in response.json()["names"][0]
    assert str(tmp_path) not in response.json()["names"][0]
    assert not RoiMeasurement.objects.filter(scan=processed_scan).exists()


def test_a_typed_measurement_names_a_region_code(api_as, processed_scan):
    client = api_as(RADIOLOGY)

    refused = client.post(
        "/api/v1/roi-measurements/", {"scan": processed_scan.pk, "region": "PLIC left", "fa": 0.6}, format="json"
    )
    accepted = client.post(
        "/api/v1/roi-measurements/", {"scan": processed_scan.pk, "region": "plic-l", "fa": 0.6}, format="json"
    )

    assert refused.status_code == 400 and '"PLIC left"' in refused.json()["region"][0]
    assert "plic-l" in refused.json()["region"][0]
    assert accepted.status_code == 201, accepted.content
    assert (accepted.json()["region"], accepted.json()["region_name"]) == (
        "plic-l",
        Region.objects.get(code="plic-l").name_en,
    )
    assert RoiMeasurement.objects.get(pk=accepted.json()["id"]).region.code == "plic-l"


def test_rois_are_listed_by_region_code(api_as, processed_scan):
    RoiMeasurement.objects.create(scan=processed_scan, region=Region.objects.get(code="wm"), fa=0.4)
    RoiMeasurement.objects.create(scan=processed_scan, region=Region.objects.get(code="cst-r"), fa=0.5)

    response = api_as(RADIOLOGY).get("/api/v1/roi-measurements/?region=cst-r")

    assert [roi["region"] for roi in response.json()["results"]] == ["cst-r"]


def test_the_label_form_offers_every_region_of_the_vocabulary_on_each_row(client, make_user, processed_scan):
    client.force_login(make_user(RADIOLOGY))

    page = client.get(f"/imaging/scans/{processed_scan.pk}/").content.decode()

    option = '<option value="cc-splenium">cc-splenium: Splenium of the corpus callosum</option>'
    assert page.count(option) == 12  # one per label row


@pytest.mark.parametrize(
    "typed,code",
    [("CST left", "cst-l"), ("left CST", "cst-l"), ("PLIC-R", "plic-r"), ("genu of the corpus callosum", "cc-genu")],
)
def test_the_migration_maps_typed_regions_to_codes(processed_scan, typed, code):
    roi = RoiMeasurement.objects.create(scan=processed_scan, region_text=typed, fa=0.5)
    Scan.objects.filter(pk=processed_scan.pk).update(label_names={"3": typed})

    import_module("imaging.migrations.0003_region_vocabulary").map_typed_regions(apps, None)

    roi.refresh_from_db()
    assert (roi.region.code, roi.region_text) == (code, "")
    assert Scan.objects.get(pk=processed_scan.pk).label_names == {"3": code}


def test_the_migration_keeps_text_that_names_no_region_for_clinical_roles(processed_scan):
    roi = RoiMeasurement.objects.create(scan=processed_scan, region_text="Garcia MRN123 left CST", fa=0.5)

    import_module("imaging.migrations.0003_region_vocabulary").map_typed_regions(apps, None)

    roi.refresh_from_db()
    assert (roi.region, roi.region_text) == (None, "Garcia MRN123 left CST")
