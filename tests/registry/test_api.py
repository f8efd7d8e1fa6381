"""The REST API's contract: derived values, pagination, filters, schema and docs served locally."""

import datetime as dt
import re
from decimal import Decimal

import pytest


def test_procedure_doses_are_computed_per_kg(build, hematology_api):
    product = build.product(tnc_count=3_200_000_000, cd34_count=24_000_000)
    procedure = build.procedure(product=product, weight_kg=Decimal("16"))
    body = hematology_api.get(f"/api/v1/procedures/{procedure.pk}/").json()
    assert body["tnc_per_kg"] == pytest.approx(2.0e8)
    assert body["cd34_per_kg"] == pytest.approx(1.5e6)


def test_doses_cannot_be_typed(build, hematology_api):
    procedure = build.procedure()
    response = hematology_api.patch(
        f"/api/v1/procedures/{procedure.pk}/", {"tnc_per_kg": 1, "version": 1}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["tnc_per_kg"] == pytest.approx(3.2e9 / 16)


def test_visits_show_months_since_the_first_procedure_and_their_scores(build, hematology_api):
    patient = build.patient(date_of_birth=dt.date(2018, 1, 10))
    build.procedure(product=build.product(harvest=build.harvest(patient=patient)), date=dt.date(2024, 2, 2))
    visit = build.visit(patient=patient, date=dt.date(2024, 8, 2))  # 182 days later
    build.score(visit=visit, instrument="MAS", value=Decimal("1.5"))
    body = hematology_api.get(f"/api/v1/visits/{visit.pk}/").json()
    assert body["months_since_procedure"] == pytest.approx(round(182 / 30.4375, 1))
    assert body["scores"] == [
        {
            "id": visit.scores.get().pk,
            "instrument": "MAS",
            "muscle": None,
            "side": "",
            "value": "1+",  # Modified Ashworth is written as its labels; stored as 1.5
            "missing": "",
            "display_value": "1+",
        }
    ]
    assert body["imaging"] == []
    assert hematology_api.get(f"/api/v1/procedures/?patient={patient.pk}").json()["results"][0]["age_months"] == 72


def test_lists_are_paginated(build, hematology_api):
    for _ in range(3):
        build.patient()
    body = hematology_api.get("/api/v1/patients/?page_size=2").json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"] and body["previous"] is None
    assert len(hematology_api.get(body["next"]).json()["results"]) == 1


def test_lists_filter_by_patient_visit_and_dates(build, hematology_api):
    first, second = build.patient(), build.patient()
    early = build.visit(patient=first, date=dt.date(2024, 1, 5), kind="baseline")
    build.visit(patient=first, date=dt.date(2024, 7, 5))
    build.visit(patient=second, date=dt.date(2024, 3, 5))
    build.score(visit=early)

    def ids(url):
        return [row["id"] for row in hematology_api.get(url).json()["results"]]

    assert len(ids(f"/api/v1/visits/?patient={first.pk}")) == 2
    assert ids(f"/api/v1/visits/?patient={first.pk}&date_before=2024-02-01") == [early.pk]
    assert len(ids("/api/v1/visits/?date_after=2024-03-01")) == 2
    assert len(ids(f"/api/v1/scores/?visit={early.pk}")) == 1
    assert len(ids(f"/api/v1/scores/?patient={second.pk}")) == 0
    response = hematology_api.get("/api/v1/visits/?date_after=yesterday")
    assert response.status_code == 400 and "date_after" in response.json()


def test_patients_can_be_searched_by_study_id_and_name(build, hematology_api):
    build.patient(study_id="CP-777", family_name="Villarreal")
    build.patient(study_id="CP-778", family_name="Zapata")
    assert [p["study_id"] for p in hematology_api.get("/api/v1/patients/?search=villarreal").json()["results"]] == [
        "CP-777"
    ]
    assert [p["study_id"] for p in hematology_api.get("/api/v1/patients/?search=778").json()["results"]] == ["CP-778"]


def test_scores_name_their_instrument_by_code(build, hematology_api):
    visit = build.visit()
    response = hematology_api.post(
        "/api/v1/scores/", {"visit": visit.pk, "instrument": "NOPE", "value": 1}, format="json"
    )
    assert response.status_code == 400 and "instrument" in response.json()


def test_missing_records_are_404(hematology_api):
    assert hematology_api.get("/api/v1/patients/999999/").status_code == 404


def test_the_schema_describes_every_resource(hematology_api):
    response = hematology_api.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for resource in [
        "patients",
        "harvests",
        "products",
        "procedures",
        "adverse-events",
        "visits",
        "instruments",
        "scores",
    ]:
        assert f"/api/v1/{resource}/" in paths and f"/api/v1/{resource}/{{id}}/" in paths
    assert "/api/v1/auth/token/" in paths


def test_the_docs_load_nothing_from_the_internet(client, hematology_api):
    page = client.get("/api/docs/").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources, page
    assert all(source.startswith("/") for source in sources), sources
    for source in sources:
        if source.startswith("/static/"):
            assert client.get(source).status_code == 200, source
