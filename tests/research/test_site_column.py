"""Research sees the patients of every site, de-identified, with the site's code as a column of its
tables, exports and BIDS participants."""

import datetime as dt

import pytest

from registry.deidentify import rules
from registry.models import Site
from research.cohort import CohortForm
from research.derivatives import bids_entries


@pytest.fixture
def two_sites(cohort):
    first, second = Site.default(), Site.objects.create(code="NORTE", name="Hospital del Norte")
    cohort.simple("CP-601", site=first)
    cohort.simple("CP-602", site=second, follow_date=dt.date(2024, 8, 20))
    return first, second


@pytest.mark.parametrize("table", ["long", "wide"])
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_exports_carry_the_site_of_every_row(two_sites, researcher, exports, table, fmt):
    response = researcher.get(exports.cohort, {"format": fmt, "table": table})
    assert response.status_code == 200
    rows = exports.read(response, fmt)
    assert {row["study_id"]: row["site"] for row in rows} == {"CP-601": "MAIN", "CP-602": "NORTE"}
    assert all(row["site"] for row in rows)


def test_the_dictionary_describes_the_site_column(two_sites, researcher, exports):
    response = researcher.get(exports.dictionary, {"format": "json"})
    columns = {(row["table"], row["name"]): row["source"] for row in exports.read(response, "json")}
    assert columns[("long", "site")] == columns[("wide", "site")] == "Site.code"


def test_the_research_pages_show_the_site_of_each_patient(two_sites, client, make_user):
    client.force_login(make_user("research"))
    cohort_page = client.get("/research/").content.decode()
    assert "CP-601" in cohort_page and "CP-602" in cohort_page and "NORTE" in cohort_page
    linking = client.get("/research/linking/").content.decode()
    assert "<td>CP-602</td><td>NORTE</td>" in linking and "<td>CP-601</td><td>MAIN</td>" in linking


def test_bids_participants_name_their_site(two_sites):
    form = CohortForm({})
    assert form.is_valid()
    _entries, participants = bids_entries(form.cohort_filter(), rules())
    assert {row["participant_id"]: row["site"] for row in participants} == {"sub-CP601": "MAIN", "sub-CP602": "NORTE"}


def test_research_sees_the_site_name_nowhere_only_its_code(two_sites, researcher):
    body = researcher.get("/api/v1/patients/").content.decode()
    assert "NORTE" in body and "Hospital del Norte" not in body
