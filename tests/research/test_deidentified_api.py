"""Research accounts see the registry de-identified, wherever they look.

A course is planted with a unique marker in every identifier (names, record number, the
assessor of its scores) and with exact dates whose ISO strings appear nowhere else. No
response to a research account may contain any of them, byte for byte; the same requests
by hematology do contain them, so the check is shown to be able to fail. What research
gets instead is checked by hand: study ID, ages in months, days since the first procedure.
"""

import datetime as dt
import uuid
from decimal import Decimal
from types import SimpleNamespace

import pytest

from registry.models import Instrument
from registry.roles import HEMATOLOGY, RESEARCH

DATES = {
    "date_of_birth": dt.date(2017, 2, 13),
    "consent_date": dt.date(2017, 9, 21),
    "baseline_date": dt.date(2023, 1, 19),
    "harvest_date": dt.date(2023, 3, 7),
    "procedure_date": dt.date(2023, 3, 9),  # the first (and only) procedure: day 0
    "onset_date": dt.date(2023, 3, 11),
    "visit_date": dt.date(2023, 9, 14),
}
STUDY_ID = "CP-DEID-01"
RESOURCES = ["patients", "harvests", "products", "procedures", "adverse-events", "visits", "instruments", "scores"]
# What each resource shows clinical staff that research must never see.
REVEALS = {
    "patients": ["given_name", "family_name", "mrn", "date_of_birth", "consent_date"],
    "harvests": ["harvest_date"],
    "products": [],
    "procedures": ["procedure_date"],
    "adverse-events": ["onset_date"],
    "visits": ["visit_date"],
    "instruments": [],
    "scores": ["assessor"],
}

# Every API read; {patients}, {harvests}, ... are the planted records' ids, {given_name}... their secrets.
API_READS = [
    (template, resource)
    for resource in RESOURCES
    for template in (
        f"/api/v1/{resource}/",
        f"/api/v1/{resource}/?patient={{patients}}",
        f"/api/v1/{resource}/{{{resource}}}/",
    )
    if resource != "instruments" or "patient=" not in template  # instruments belong to no patient
]
# The same reads asking for the browsable API; research is served JSON only (its forms would name
# related records by their dates), so these must answer without the HTML page.
BROWSABLE_READS = [
    (template + ("&" if "?" in template else "?") + "format=api", resource) for template, resource in API_READS
]
SEARCHES = [
    (f"/api/v1/patients/?search={{{secret}}}", "patients") for secret in ("given_name", "family_name", "mrn", "mark")
]
PAGES = [
    ("/research/", None),
    ("/research/linking/", None),
    ("/api/v1/", None),
    ("/api/schema/", None),
    ("/api/docs/", None),
]


def params(reads):
    return [pytest.param(template, resource, id=template) for template, resource in reads]


def revealed(body, secrets):
    """The names of the secrets found anywhere in a response body."""
    return sorted(name for name, value in secrets.items() if value.encode() in body)


@pytest.fixture
def planted(build):
    mark = f"ZQXMARK{uuid.uuid4().hex[:12].upper()}"
    secrets = {
        "mark": mark,
        "given_name": f"{mark}GIVEN",
        "family_name": f"{mark}FAMILY",
        "mrn": f"{mark}MRN",
        "assessor": f"{mark}ASSESSOR",
        **{name: day.isoformat() for name, day in DATES.items()},
    }
    patient = build.patient(
        study_id=STUDY_ID,
        given_name=secrets["given_name"],
        family_name=secrets["family_name"],
        mrn=secrets["mrn"],
        date_of_birth=DATES["date_of_birth"],
        consent_date=DATES["consent_date"],
    )
    harvest = build.harvest(patient=patient, date=DATES["harvest_date"])
    product = build.product(harvest=harvest, tnc_count=3_200_000_000)
    procedure = build.procedure(product=product, date=DATES["procedure_date"], weight_kg=Decimal("16"))
    baseline = build.visit(patient=patient, date=DATES["baseline_date"], kind="baseline")
    follow_up = build.visit(patient=patient, date=DATES["visit_date"], kind="follow-up")
    build.score(visit=baseline, value=Decimal("38"), assessor=secrets["assessor"])
    records = {
        "patients": patient,
        "harvests": harvest,
        "products": product,
        "procedures": procedure,
        "adverse-events": build.adverse_event(procedure=procedure, onset_date=DATES["onset_date"]),
        "visits": follow_up,
        "baseline": baseline,
        "instruments": Instrument.objects.get(code="GMFM-88"),
        "scores": build.score(visit=follow_up, value=Decimal("44"), assessor=secrets["assessor"]),
    }

    def url(template):
        return template.format_map({**secrets, **{name: record.pk for name, record in records.items()}})

    return SimpleNamespace(secrets=secrets, records=records, url=url)


def signed_in(api_as, role):
    """An API client with a token for the API, and a session for the pages."""
    client = api_as(role)
    client.force_login(client.user)
    return client


@pytest.fixture
def research(api_as):
    return signed_in(api_as, RESEARCH)


@pytest.fixture
def hematology(api_as):
    return signed_in(api_as, HEMATOLOGY)


@pytest.mark.parametrize("template,resource", params(API_READS + SEARCHES + PAGES))
def test_research_responses_carry_no_identifier_nor_exact_date(planted, research, template, resource):
    response = research.get(planted.url(template))

    assert response.status_code == 200
    assert revealed(response.content, planted.secrets) == []


@pytest.mark.parametrize("template,resource", params(BROWSABLE_READS))
def test_research_gets_no_browsable_api_pages(planted, research, template, resource):
    response = research.get(planted.url(template))

    assert response.status_code == 400  # a format this account is not served, refused by name
    assert list(response.json()) == ["format"]
    assert b"<html" not in response.content.lower()
    assert revealed(response.content, planted.secrets) == []


@pytest.mark.parametrize(
    "template,resource", params(read for read in API_READS + BROWSABLE_READS + SEARCHES if REVEALS[read[1]])
)
def test_hematology_responses_carry_them_so_the_research_check_can_fail(planted, hematology, template, resource):
    response = hematology.get(planted.url(template))

    assert response.status_code == 200
    assert set(REVEALS[resource]) <= set(revealed(response.content, planted.secrets))


@pytest.mark.parametrize(
    "resource,record,expected",
    [
        # Born 2017-02-13, first procedure 2023-03-09: 6 years and 0 whole months (the 9th is before the 13th).
        ("patients", "patients", {"study_id": STUDY_ID, "age_at_first_procedure_months": 72}),
        ("harvests", "harvests", {"day": -2}),
        # 3.2e9 nucleated cells for a child of 16 kg.
        ("procedures", "procedures", {"day": 0, "tnc_per_kg": 2.0e8, "age_months": 72}),
        ("adverse-events", "adverse-events", {"onset_day": 2}),
        # 2023-03-09 to 2023-09-14: 22 + 30 + 31 + 30 + 31 + 31 + 14 days; 189 / 30.4375 = 6.2 months.
        ("visits", "visits", {"day": 189, "months_since_procedure": 6.2}),
        # 2023-01-19 to 2023-03-09: 12 + 28 + 9 days before; -49 / 30.4375 = -1.6 months.
        ("visits", "baseline", {"day": -49, "months_since_procedure": -1.6}),
    ],
    ids=["patient", "harvest", "procedure", "adverse-event", "follow-up-visit", "baseline-visit"],
)
def test_research_representations_carry_the_deidentified_fields(planted, research, resource, record, expected):
    response = research.get(f"/api/v1/{resource}/{planted.records[record].pk}/")

    assert response.status_code == 200
    assert {name: response.json().get(name) for name in expected} == expected


@pytest.mark.parametrize("parameter", ["date_after", "date_before"])
@pytest.mark.parametrize("resource", ["harvests", "procedures", "adverse-events", "visits"])
def test_research_may_not_filter_by_exact_date(planted, research, hematology, resource, parameter):
    url = f"/api/v1/{resource}/?{parameter}={DATES['procedure_date'].isoformat()}"

    assert research.get(url).status_code == 403
    assert hematology.get(url).status_code == 200


@pytest.mark.parametrize("secret", ["given_name", "family_name", "mrn"])
def test_search_by_identifier_finds_nothing_for_research_but_the_patient_for_hematology(
    planted, research, hematology, secret
):
    url = f"/api/v1/patients/?search={planted.secrets[secret]}"

    assert research.get(url).json()["results"] == []
    assert [row["id"] for row in hematology.get(url).json()["results"]] == [planted.records["patients"].pk]


def test_research_finds_a_patient_by_study_id(planted, research):
    response = research.get(f"/api/v1/patients/?search={STUDY_ID}")

    assert [row["study_id"] for row in response.json()["results"]] == [STUDY_ID]
