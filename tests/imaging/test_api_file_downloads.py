"""API clients download the files the API links to (a scan's maps) with their token; a role that
may not see a file, or a missing, revoked or expired token, is answered in JSON, never with the
sign-in page; browsers without a session are still sent to sign in."""

import datetime as dt
import gzip

import nibabel as nib
import pytest
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient


def fa_link(client, scan):
    return client.get(f"/api/v1/scans/{scan.pk}/").json()["maps"]["fa"]


def test_a_radiologist_downloads_the_fa_map_with_the_token(api_as, processed_scan):
    radiology = api_as("radiology")

    response = radiology.get(fa_link(radiology, processed_scan))

    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert body[:2] == b"\x1f\x8b"  # gzip
    image = nib.Nifti1Image.from_bytes(gzip.decompress(body))
    assert list(image.shape) == list(processed_scan.shape[:3])


@pytest.mark.parametrize("role", ["hematology", "registry-admin"])
def test_every_role_that_sees_scans_with_identifiers_downloads_maps(api_as, processed_scan, role):
    client = api_as(role)

    assert client.get(fa_link(client, processed_scan)).status_code == 200


def test_a_research_token_is_refused_the_map(api_as, processed_scan):
    link = fa_link(api_as("radiology"), processed_scan)

    response = api_as("research").get(link)

    assert response.status_code == 403
    assert response.json() == {"detail": "Your role does not allow this."}


def test_a_revoked_token_is_answered_401_not_redirected(api_as, processed_scan):
    radiology = api_as("radiology")
    link = fa_link(radiology, processed_scan)
    assert radiology.post("/api/v1/auth/logout/").status_code == 204

    response = radiology.get(link)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token" and "Authorization: Token KEY" in response.json()["detail"]


def test_an_expired_token_is_answered_401(api_as, processed_scan):
    radiology = api_as("radiology")
    link = fa_link(radiology, processed_scan)
    AuthToken.objects.filter(user=radiology.user).update(expiry=timezone.now() - dt.timedelta(minutes=1))

    assert radiology.get(link).status_code == 401


def test_a_json_client_without_credentials_is_answered_401(api_as, processed_scan):
    link = fa_link(api_as("radiology"), processed_scan)

    response = APIClient().get(link, HTTP_ACCEPT="application/json")

    assert response.status_code == 401 and response["Content-Type"] == "application/json"


def test_a_browser_without_a_session_is_sent_to_sign_in(client, api_as, processed_scan):
    link = fa_link(api_as("radiology"), processed_scan)

    response = client.get(link, HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")

    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_missing_file_is_answered_404_in_json(api_as, processed_scan):
    radiology = api_as("radiology")

    response = radiology.get(f"/media/scans/{processed_scan.pk}/nothing-here.nii.gz")

    assert response.status_code == 404 and response.json() == {"detail": "No such file."}
