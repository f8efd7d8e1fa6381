"""The imaging worklist and the scan and region lists of the API take as many queries for 10 rows as for 2,
for every role that reads them; a list's count evaluates no subquery per row."""

import pytest

from registry import synthetic
from registry.roles import HEMATOLOGY, RADIOLOGY, REGISTRY_ADMIN, RESEARCH

API_LISTS = ["/api/v1/scans/", "/api/v1/roi-measurements/"]


@pytest.mark.parametrize("role", [HEMATOLOGY, RADIOLOGY, REGISTRY_ADMIN])
def test_the_worklist_takes_as_many_queries_for_ten_scans_as_for_two(signed_in_client, captured_queries, role):
    client = signed_in_client(role)
    synthetic.load(2, visits=1)
    client.get("/imaging/")
    two = captured_queries(client, "/imaging/")
    synthetic.load(8, visits=1)
    ten = captured_queries(client, "/imaging/")
    assert client.get("/imaging/").content.decode().count('href="/imaging/scans/') == 10
    assert len(ten) == len(two), "\n".join(ten)


@pytest.mark.parametrize("url", API_LISTS)
@pytest.mark.parametrize("role", [HEMATOLOGY, RADIOLOGY, RESEARCH, REGISTRY_ADMIN])
def test_each_imaging_list_takes_as_many_queries_for_ten_scans_as_for_two(api_as, captured_queries, role, url):
    client = api_as(role)
    synthetic.load(2, visits=1)
    client.get(url)
    two = captured_queries(client, url)
    assert len(client.get(url).json()["results"]) >= 2
    synthetic.load(8, visits=1)
    ten = captured_queries(client, url)
    assert len(client.get(url).json()["results"]) >= 10
    assert len(ten) == len(two), "\n".join(ten)


@pytest.mark.parametrize("url", API_LISTS)
def test_a_list_s_count_evaluates_no_subquery_per_row(api_as, captured_queries, url):
    client = api_as(RADIOLOGY)
    synthetic.load(2, visits=1)
    counts = [sql for sql in captured_queries(client, url) if sql.startswith("SELECT COUNT(")]
    assert len(counts) == 1, counts
    assert "SELECT" not in counts[0][len("SELECT") :], counts[0]
