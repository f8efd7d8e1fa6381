"""Scans of several centres: staff see and work on only their own sites' scans, on the worklist, the
scan pages, the API and the file downloads; another site's scan is a 404. Research sees every site's
scans with the site; registry-admins see all."""

import datetime as dt

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from knox.models import AuthToken
from rest_framework.test import APIClient

from imaging.models import Region, RoiMeasurement, Scan
from registry.models import Site
from tests.conftest import Build
from tests.imaging.conftest import stored_scan

SCAN_PAGES = ["/imaging/scans/{pk}/", "/imaging/scans/{pk}/status/"]
SCAN_ACTIONS = ["review", "labels", "carried-regions", "rois", "reprocess"]


def scan_at(site, study_id):
    build = Build()
    visit = build.visit(patient=build.patient(site=site, study_id=study_id, mrn=f"MRN-{study_id}"))
    scan = stored_scan(visit)
    # An input file in storage, as an upload leaves it.
    default_storage.save(f"scans/{scan.pk}/input/dwi.bval", ContentFile(b"0 1000 1000\n"))
    roi = RoiMeasurement.objects.create(
        scan=scan, region=Region.objects.get(code="cst-l"), fa=0.5, source=RoiMeasurement.Source.MANUAL
    )
    return {
        "scan": scan,
        "visit": visit,
        "roi": roi,
        "bare_visit": build.visit(patient=visit.patient, date=dt.date(2024, 9, 2)),
    }


@pytest.fixture
def scans(reference_data):
    first, second = Site.default(), Site.objects.create(code="NORTE", name="Hospital del Norte")
    return {"A": scan_at(first, "CP-100"), "B": scan_at(second, "CP-200"), "sites": {"A": first, "B": second}}


@pytest.fixture
def api_at(make_user, scans):
    def client_for(role, site="A"):
        user = make_user(role, f"api-{role}-{site}", sites=[scans["sites"][site]] if site else [])
        client = APIClient()
        _token, key = AuthToken.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        return client

    return client_for


@pytest.fixture
def page_at(client, make_user, scans):
    def sign_in(role, site="A"):
        client.force_login(make_user(role, f"{role}-{site}", sites=[scans["sites"][site]] if site else []))
        return client

    return sign_in


def ids(response):
    assert response.status_code == 200, response.content[:300]
    return {row["id"] for row in response.json()["results"]}


@pytest.mark.parametrize("role", ["hematology", "radiology"])
@pytest.mark.parametrize("site,other", [("A", "B"), ("B", "A")])
def test_staff_api_shows_only_their_sites_scans_and_rois(api_at, scans, role, site, other):
    client = api_at(role, site)
    assert ids(client.get("/api/v1/scans/")) == {scans[site]["scan"].pk}
    assert ids(client.get("/api/v1/roi-measurements/")) == {scans[site]["roi"].pk}
    assert client.get(f"/api/v1/scans/{scans[site]['scan'].pk}/").status_code == 200
    assert client.get(f"/api/v1/scans/{scans[other]['scan'].pk}/").status_code == 404
    assert client.get(f"/api/v1/roi-measurements/{scans[other]['roi'].pk}/").status_code == 404


@pytest.mark.parametrize("role", ["research", "registry-admin"])
def test_research_and_admins_see_every_sites_scans_with_the_site(api_at, scans, role):
    client = api_at(role, None)
    rows = client.get("/api/v1/scans/").json()["results"]
    assert {row["id"]: row["site"] for row in rows} == {scans["A"]["scan"].pk: "MAIN", scans["B"]["scan"].pk: "NORTE"}
    assert ids(client.get("/api/v1/roi-measurements/")) == {scans["A"]["roi"].pk, scans["B"]["roi"].pk}


@pytest.mark.parametrize("action", ["review", "reprocess", "labels", "carried-regions"])
def test_a_radiologist_cannot_act_on_another_sites_scan_through_the_api(api_at, scans, action):
    scan = scans["B"]["scan"]
    response = api_at("radiology", "A").post(f"/api/v1/scans/{scan.pk}/{action}/", {"version": 1}, format="json")
    assert response.status_code == 404
    scan.refresh_from_db()
    assert scan.usable is None and scan.version == 1


def test_a_scan_cannot_be_uploaded_to_another_sites_visit(api_at, scans, series, monkeypatch):
    monkeypatch.setattr("imaging.services.dispatch", lambda scan_id, first=False: None)
    client = api_at("radiology", "A")
    response = client.post("/api/v1/scans/", series.payload(scans["B"]["bare_visit"]), format="multipart")
    assert response.status_code == 400 and "visit" in response.json()
    assert Scan.objects.count() == 2
    response = client.post("/api/v1/scans/", series.payload(scans["A"]["bare_visit"]), format="multipart")
    assert response.status_code == 202 and Scan.objects.count() == 3


def test_a_measurement_cannot_be_added_to_another_sites_scan(api_at, scans):
    client = api_at("radiology", "A")
    payload = {"region": "cst-r", "fa": 0.4, "md": 0.0008}
    response = client.post("/api/v1/roi-measurements/", {**payload, "scan": scans["B"]["scan"].pk}, format="json")
    assert response.status_code == 400 and "scan" in response.json()
    assert not RoiMeasurement.objects.filter(region__code="cst-r").exists()
    response = client.post("/api/v1/roi-measurements/", {**payload, "scan": scans["A"]["scan"].pk}, format="json")
    assert response.status_code == 201


@pytest.mark.parametrize("role", ["hematology", "radiology"])
def test_the_worklist_shows_only_own_sites_scans_and_visits(page_at, scans, role):
    page = page_at(role, "A").get("/imaging/").content.decode()
    assert "CP-100" in page and "CP-200" not in page


def test_registry_admins_see_every_sites_scans_on_the_worklist(page_at, scans):
    page = page_at("registry-admin", None).get("/imaging/").content.decode()
    assert "CP-100" in page and "CP-200" in page


@pytest.mark.parametrize("url", SCAN_PAGES)
@pytest.mark.parametrize("role", ["hematology", "radiology"])
def test_another_sites_scan_pages_are_404(page_at, scans, role, url):
    client = page_at(role, "A")
    assert client.get(url.format(pk=scans["A"]["scan"].pk)).status_code == 200
    assert client.get(url.format(pk=scans["B"]["scan"].pk)).status_code == 404


@pytest.mark.parametrize("action", SCAN_ACTIONS)
def test_a_radiologist_cannot_act_on_another_sites_scan_on_the_pages(page_at, scans, action):
    scan = scans["B"]["scan"]
    response = page_at("radiology", "A").post(f"/imaging/scans/{scan.pk}/{action}/", {"usable": "no", "version": 1})
    assert response.status_code == 404
    scan.refresh_from_db()
    assert scan.version == 1 and scan.rois.count() == 1


def test_uploads_go_only_to_own_sites_visits(page_at, scans):
    client = page_at("radiology", "A")
    assert client.get(f"/imaging/visits/{scans['A']['bare_visit'].pk}/upload/").status_code == 200
    assert client.get(f"/imaging/visits/{scans['B']['bare_visit'].pk}/upload/").status_code == 404
    assert client.post(f"/imaging/visits/{scans['B']['bare_visit'].pk}/upload/", {}).status_code == 404


@pytest.mark.parametrize("role", ["hematology", "radiology"])
def test_another_sites_files_are_404_on_the_page_and_with_a_token(page_at, api_at, scans, role):
    own, theirs = (f"/media/scans/{scans[site]['scan'].pk}/input/dwi.bval" for site in "AB")
    client = page_at(role, "A")
    assert client.get(own).status_code == 200
    assert client.get(theirs).status_code == 404
    api = api_at(role, "A")
    assert api.get(own).status_code == 200
    assert api.get(theirs).status_code == 404


def test_registry_admins_download_every_sites_files(page_at, scans):
    client = page_at("registry-admin", None)
    for site in "AB":
        response = client.get(f"/media/scans/{scans[site]['scan'].pk}/input/dwi.bval")
        assert response.status_code == 200 and b"".join(response.streaming_content) == b"0 1000 1000\n"
