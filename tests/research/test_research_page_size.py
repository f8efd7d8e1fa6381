"""The research pages do not grow with the cohort: n and the statistics are of every patient, the
per-patient tables show one page of them; a page costs as many queries for 10 patients as for 2; a
bad page number is refused, naming the parameter."""

import re

import pytest

from registry import synthetic
from registry.roles import REGISTRY_ADMIN, RESEARCH
from research.views import PAGE_PATIENTS


def study_ids(content):
    return sorted(set(re.findall(r"<td>(LD-\d{5})</td>", content)))


def n_shown(content):
    return [int(n) for n in re.findall(r'<span class="n">n = (\d+)</span>', content)]


@pytest.fixture
def researcher(signed_in_client):
    return signed_in_client(RESEARCH)


def test_the_cohort_page_shows_every_patient_in_n_and_one_page_in_its_tables(researcher):
    synthetic.load(PAGE_PATIENTS * 2 + 3, visits=8)
    total = PAGE_PATIENTS * 2 + 3
    first = researcher.get("/research/").content.decode()
    assert n_shown(first)[:2] == [total, total]  # the cohort and its baseline characteristics
    assert study_ids(first) == [f"LD-{number:05d}" for number in range(1, PAGE_PATIENTS + 1)]
    assert f"Patients 1–{PAGE_PATIENTS} of {total}" in first
    assert "page=2" in first and "page=0" not in first
    last = researcher.get("/research/?page=3").content.decode()
    assert study_ids(last) == [f"LD-{number:05d}" for number in range(2 * PAGE_PATIENTS + 1, total + 1)]
    assert f"Patients {2 * PAGE_PATIENTS + 1}–{total} of {total}" in last


def test_the_cohort_page_keeps_its_filter_from_page_to_page(researcher):
    synthetic.load(40, visits=2)
    page = researcher.get("/research/?gmfcs=1&gmfcs=2").content.decode()
    n = n_shown(page)[0]
    assert PAGE_PATIENTS < n < 40
    assert "?gmfcs=1&amp;gmfcs=2&amp;page=2" in page
    second = researcher.get("/research/?gmfcs=1&gmfcs=2&page=2").content.decode()
    assert n_shown(second)[0] == n and study_ids(second) and not set(study_ids(second)) & set(study_ids(page))


def test_the_linking_page_has_statistics_of_every_pair_and_one_page_of_the_table(researcher):
    total = PAGE_PATIENTS + 4
    synthetic.load(total, visits=8)
    page = researcher.get("/research/linking/?instrument=GMFM-88").content.decode()
    assert n_shown(page)[:2] == [total, total]  # the cohort, and the pairs behind the statistics
    assert re.search(rf"ρ = [-−]?[\d.]+</span> · <span>n = {total}</span>", page)
    assert len(study_ids(page)) == PAGE_PATIENTS
    second = researcher.get("/research/linking/?instrument=GMFM-88&page=2").content.decode()
    assert len(study_ids(second)) == 4 and not set(study_ids(second)) & set(study_ids(page))
    # Choosing another instrument starts again from the first page.
    assert '<input type="hidden" name="page"' not in second


@pytest.mark.parametrize("url", ["/research/?page={}", "/research/linking/?page={}"])
@pytest.mark.parametrize("bad", ["0", "4", "abc", "1.5", "-1"])
def test_a_page_that_does_not_exist_is_refused_naming_the_parameter(researcher, url, bad):
    synthetic.load(PAGE_PATIENTS * 2 + 1, visits=8)
    response = researcher.get(url.format(bad))
    assert response.status_code == 400
    assert "page must be a whole number from 1 to 3." in response.content.decode()


@pytest.mark.parametrize("url", ["/research/", "/research/linking/?instrument=GMFM-88"])
@pytest.mark.parametrize("role", [RESEARCH, REGISTRY_ADMIN])
def test_a_research_page_takes_as_many_queries_for_ten_patients_as_for_two(
    signed_in_client, captured_queries, role, url
):
    client = signed_in_client(role)
    synthetic.load(2, visits=10)
    client.get(url)
    two = captured_queries(client, url)
    synthetic.load(8, visits=10)
    ten = captured_queries(client, url)
    assert n_shown(client.get(url).content.decode())[0] == 10
    assert len(ten) == len(two), "\n".join(ten)


def test_the_pager_and_its_refusal_in_spanish(researcher):
    synthetic.load(PAGE_PATIENTS + 2, visits=2)
    page = researcher.get("/research/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert f"Pacientes 1–{PAGE_PATIENTS} de {PAGE_PATIENTS + 2}" in page and 'aria-label="Página siguiente"' in page
    refused = researcher.get("/research/?page=9", HTTP_ACCEPT_LANGUAGE="es")
    assert refused.status_code == 400 and "page debe ser un número entero de 1 a 2." in refused.content.decode()
