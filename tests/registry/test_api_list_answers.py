"""API lists answer what DRF's own field machinery would, byte for byte; a list's `count` is the number
of records the account sees, whether or not other sites hold patients; a page of 50 rows takes as many
queries as a page of 2."""

import pytest
from rest_framework import serializers

from registry import synthetic
from registry.api.serializers import PlannedRepresentation
from registry.models import Patient, Score, Site, Visit
from registry.roles import HEMATOLOGY, RADIOLOGY, REGISTRY_ADMIN, RESEARCH

LISTS = [
    "/api/v1/patients/",
    "/api/v1/harvests/",
    "/api/v1/products/",
    "/api/v1/procedures/",
    "/api/v1/adverse-events/",
    "/api/v1/visits/",
    "/api/v1/scores/",
    "/api/v1/scans/",
    "/api/v1/roi-measurements/",
]


def drf_own_representation(self, instance):
    return serializers.Serializer.to_representation(self, instance)


@pytest.mark.parametrize("role", [HEMATOLOGY, RESEARCH])
def test_each_list_answers_byte_for_byte_what_drf_s_field_machinery_gives(api_as, monkeypatch, role):
    client = api_as(role)
    synthetic.load(3, visits=10)
    planned = {url: client.get(url + "?page_size=200").content for url in LISTS}
    monkeypatch.setattr(PlannedRepresentation, "to_representation", drf_own_representation)
    for url in LISTS:
        stock = client.get(url + "?page_size=200").content
        assert planned[url] == stock, url
        assert b'"results":[{' in stock, url


def test_a_record_answers_as_drf_s_field_machinery_gives(hematology_api, monkeypatch):
    synthetic.load(1, visits=10)
    visit = Visit.objects.filter(scans__isnull=False).first()
    urls = [
        f"/api/v1/visits/{visit.pk}/",
        f"/api/v1/patients/{visit.patient_id}/",
        f"/api/v1/scans/{visit.scans.get().pk}/",
    ]
    planned = [hematology_api.get(url).content for url in urls]
    monkeypatch.setattr(PlannedRepresentation, "to_representation", drf_own_representation)
    assert [hematology_api.get(url).content for url in urls] == planned


@pytest.fixture
def two_sites():
    """Four synthetic patients at the default site, and two moved to another site."""
    synthetic.load(6, visits=2)
    other = Site.objects.create(code="NORTH", name="North")
    moved = Patient.objects.order_by("pk")[:2]
    Patient.objects.filter(pk__in=[patient.pk for patient in moved]).update(site=other)
    return other


@pytest.mark.parametrize("role", [HEMATOLOGY, RADIOLOGY])
def test_a_list_s_count_is_what_the_account_sees_when_another_site_holds_patients(api_as, two_sites, role):
    client = api_as(role)
    own = Patient.objects.exclude(site=two_sites)
    expected = {
        "/api/v1/patients/": own.count(),
        "/api/v1/visits/": Visit.objects.filter(patient__in=own).count(),
        "/api/v1/scores/": Score.objects.filter(visit__patient__in=own).count(),
        "/api/v1/scans/": 4,
        "/api/v1/roi-measurements/": 8,
    }
    for url, count in expected.items():
        answer = client.get(url + "?page_size=500").json()
        assert (answer["count"], len(answer["results"])) == (count, count), url
    assert client.get(f"/api/v1/scores/?patient={two_sites.patients.first().pk}").json()["count"] == 0


def test_a_list_s_count_follows_a_patient_moved_to_another_site(hematology_api):
    synthetic.load(2, visits=2)
    assert hematology_api.get("/api/v1/scores/").json()["count"] == 16
    Patient.objects.filter(pk=Patient.objects.order_by("pk").first().pk).update(
        site=Site.objects.create(code="NORTH", name="North")
    )
    assert hematology_api.get("/api/v1/scores/").json()["count"] == 8
    assert hematology_api.get("/api/v1/scores/?page_size=2&page=4").json()["next"] is None


def test_a_list_s_count_keeps_its_filters(hematology_api):
    synthetic.load(2, visits=2)
    patient = Patient.objects.order_by("pk").first()
    assert hematology_api.get(f"/api/v1/scores/?patient={patient.pk}").json()["count"] == 8
    assert hematology_api.get("/api/v1/scores/?instrument=GMFM-66").json()["count"] == 4
    assert hematology_api.get("/api/v1/visits/?kind=baseline").json()["count"] == 2


@pytest.mark.parametrize("url", ["/api/v1/visits/", "/api/v1/scores/", "/api/v1/scans/", "/api/v1/roi-measurements/"])
@pytest.mark.parametrize("role", [HEMATOLOGY, RESEARCH, REGISTRY_ADMIN])
def test_while_every_patient_is_in_the_account_s_sites_a_count_joins_nothing(api_as, captured_queries, role, url):
    client = api_as(role)
    synthetic.load(2, visits=2)
    counts = [sql for sql in captured_queries(client, url) if sql.startswith("SELECT COUNT(")]
    assert len(counts) == 1 and "JOIN" not in counts[0], counts
    assert client.get(url).json()["count"] == {"visits": 4, "scores": 16, "scans": 2, "roi-measurements": 4}[url[8:-1]]


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("role", [HEMATOLOGY, RESEARCH, REGISTRY_ADMIN])
def test_a_page_of_fifty_rows_takes_as_many_queries_as_a_page_of_two(api_as, captured_queries, role, url):
    client = api_as(role)
    synthetic.load(6, visits=10)
    client.get(url + "?page_size=2")
    two = captured_queries(client, url + "?page_size=2")
    fifty = captured_queries(client, url + "?page_size=50")
    assert len(client.get(url + "?page_size=50").json()["results"]) >= 6
    assert len(fifty) == len(two), "\n".join(fifty)


def test_a_visit_s_scores_come_in_instrument_order_whether_read_with_a_page_or_alone(hematology_api):
    """records() reads a page's scores into plain lists; a visit read any other way (the answer to a
    change) reads its own: both in instrument order, the same scores."""
    from registry import selectors

    synthetic.load(2, visits=4)
    visits = selectors.records(Visit).filter(scores__isnull=False).distinct().order_by("pk")
    for visit in visits:
        alone = Visit.objects.get(pk=visit.pk)
        assert not hasattr(alone, selectors.VISIT_SCORES)
        with_page = [score.pk for score in selectors.visit_scores(visit)]
        assert with_page == [score.pk for score in selectors.visit_scores(alone)]
        codes = [score.instrument.code for score in selectors.visit_scores(alone)]
        assert codes == sorted(codes) and len(codes) >= 2
    answer = hematology_api.get(f"/api/v1/visits/?patient={visits[0].patient_id}&page_size=50").json()
    assert answer["results"]
    for row in answer["results"]:
        codes = [score["instrument"] for score in row["scores"]]
        assert codes == sorted(codes)
        assert [score["id"] for score in row["scores"]] == [
            score.pk for score in selectors.visit_scores(Visit.objects.get(pk=row["id"]))
        ]
