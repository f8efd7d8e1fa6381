"""Requests about files that are not there answer 4xx with a message, never 500."""

import pytest
from django.core.files.storage import default_storage

from registry.roles import RADIOLOGY

pytestmark = pytest.mark.django_db


def test_a_media_folder_is_not_a_file(client, make_user, processed_scan):
    client.force_login(make_user(RADIOLOGY))
    folder = processed_scan.current_result.files["fa"].rsplit("/", 1)[0]

    assert client.get(f"/media/{folder}/").status_code == 404
    assert client.get(f"/media/{folder}").status_code == 404


def test_labels_over_maps_missing_from_storage_ask_for_reprocessing(api_as, processed_scan, scan_files):
    default_storage.delete(processed_scan.current_result.files["fa"])

    response = api_as(RADIOLOGY).post(
        f"/api/v1/scans/{processed_scan.pk}/labels/",
        {"labels": open(scan_files["labels"], "rb"), "names": '{"3": "cst-l"}'},
        format="multipart",
    )

    assert response.status_code == 400
    [message] = response.json()["labels"]
    assert "reprocess" in message and "/" not in message


def test_a_map_missing_from_storage_answers_404_with_the_reason(client, make_user, processed_scan):
    client.force_login(make_user(RADIOLOGY))
    fa = processed_scan.current_result.files["fa"]
    default_storage.delete(fa)

    response = client.get(f"/media/{fa}")

    assert response.status_code == 404
    detail = response.json()["detail"]
    assert f"FA map of scan {processed_scan.pk} is missing" in detail and "/" not in detail
