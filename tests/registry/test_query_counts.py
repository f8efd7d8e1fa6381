"""Pages and API lists that staff read every day take as many queries for 10 rows as for 2, for every role
that reads them (no query per row), and a list's count evaluates no subquery per row."""

import pytest

from registry import synthetic
from registry.models import Patient
from registry.roles import HEMATOLOGY, RADIOLOGY, REGISTRY_ADMIN, RESEARCH

CLINICAL = [HEMATOLOGY, RADIOLOGY, REGISTRY_ADMIN]
API_LISTS = [
    "/api/v1/patients/",
    "/api/v1/harvests/",
    "/api/v1/products/",
    "/api/v1/procedures/",
    "/api/v1/adverse-events/",
    "/api/v1/visits/",
    "/api/v1/scores/?page_size=100",
]


def rows_of(client, url):
    return len(client.get(url).json()["results"])


@pytest.mark.parametrize("role", CLINICAL)
def test_the_patient_list_takes_as_many_queries_for_ten_patients_as_for_two(signed_in_client, captured_queries, role):
    client = signed_in_client(role)
    synthetic.load(2, visits=2)
    client.get("/patients/")  # what the first request caches (content types) is not the page's
    two = captured_queries(client, "/patients/")
    synthetic.load(8, visits=2)
    ten = captured_queries(client, "/patients/")
    assert "LD-00010" in client.get("/patients/").content.decode()
    assert len(ten) == len(two), "\n".join(ten)


@pytest.mark.parametrize("role", CLINICAL)
def test_the_patient_page_takes_as_many_queries_for_ten_visits_as_for_two(signed_in_client, captured_queries, role):
    client = signed_in_client(role)
    synthetic.load(1, visits=2)
    synthetic.load(1, visits=10)
    few, many = Patient.objects.order_by("study_id")
    assert many.visits.count() == 10 and many.visits.filter(scans__isnull=False).count() == 4
    client.get(f"/patients/{few.pk}/")
    two = captured_queries(client, f"/patients/{few.pk}/")
    ten = captured_queries(client, f"/patients/{many.pk}/")
    assert len(ten) == len(two), "\n".join(ten)


@pytest.mark.parametrize("url", API_LISTS)
@pytest.mark.parametrize("role", CLINICAL + [RESEARCH])
def test_each_api_list_takes_as_many_queries_for_ten_patients_as_for_two(api_as, captured_queries, role, url):
    client = api_as(role)
    synthetic.load(2, visits=1)
    client.get(url)
    two = captured_queries(client, url)
    assert rows_of(client, url) >= 2
    synthetic.load(8, visits=1)
    ten = captured_queries(client, url)
    assert rows_of(client, url) >= 10
    assert len(ten) == len(two), "\n".join(ten)


@pytest.mark.parametrize("role", [HEMATOLOGY, RESEARCH])
def test_a_page_of_visits_costs_the_same_whatever_the_number_of_patients_on_it(api_as, captured_queries, role):
    client = api_as(role)
    synthetic.load(2, visits=10)
    client.get("/api/v1/visits/?page_size=20")
    two = captured_queries(client, "/api/v1/visits/?page_size=20")
    synthetic.load(18, visits=10)
    many = captured_queries(client, "/api/v1/visits/?page_size=200")
    assert rows_of(client, "/api/v1/visits/?page_size=200") == 200
    assert len(many) == len(two), "\n".join(many)


@pytest.mark.parametrize("url", API_LISTS)
def test_a_list_s_count_evaluates_no_subquery_per_row(api_as, captured_queries, url):
    client = api_as(HEMATOLOGY)
    synthetic.load(2, visits=1)
    counts = [sql for sql in captured_queries(client, url) if sql.startswith("SELECT COUNT(")]
    assert len(counts) == 1, counts
    assert "SELECT" not in counts[0][len("SELECT") :], counts[0]
