"""Every validation rule, through the API and through the pages: a clear message, nothing stored."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from registry.models import (
    AdverseEvent,
    BoneMarrowHarvest,
    CellProduct,
    Instrument,
    IntrathecalProcedure,
    Patient,
    Score,
    Visit,
)

TOMORROW = (timezone.localdate() + dt.timedelta(days=1)).isoformat()


@pytest.fixture
def course(build):
    """A patient with a harvest, a product, a procedure and a baseline visit with a GMFM-88 score."""
    patient = build.patient(date_of_birth=dt.date(2018, 1, 10))
    harvest = build.harvest(patient=patient, date=dt.date(2024, 2, 1))
    product = build.product(harvest=harvest)
    procedure = build.procedure(product=product, date=dt.date(2024, 2, 2))
    visit = build.visit(patient=patient, date=dt.date(2024, 1, 25), kind="baseline")
    build.score(visit=visit, instrument="GMFM-88", value=Decimal("40"))
    other_patient = build.patient()
    other_harvest = build.harvest(patient=other_patient)
    return dict(
        patient=patient,
        harvest=harvest,
        product=product,
        procedure=procedure,
        visit=visit,
        other_product=build.product(harvest=other_harvest),
    )


def patient_payload(**override):
    data = dict(
        study_id="CP-555",
        given_name="Lucía",
        family_name="Prueba",
        mrn="MRN-555",
        date_of_birth="2019-05-01",
        sex="F",
        cp_subtype="spastic-diplegia",
        etiology="hie",
        gmfcs_level=2,
    )
    data.update(override)
    return data


# (case id, API resource, payload from the course, field with the error, words of the message)
CASES = [
    (
        "weight-too-low",
        "procedures",
        lambda c: dict(
            patient=c["patient"].pk, product=c["product"].pk, date="2024-02-03", weight_kg="0.5", volume_ml="10"
        ),
        "weight_kg",
        "between 1 and 150 kg",
    ),
    (
        "weight-too-high",
        "procedures",
        lambda c: dict(
            patient=c["patient"].pk, product=c["product"].pk, date="2024-02-03", weight_kg="151", volume_ml="10"
        ),
        "weight_kg",
        "between 1 and 150 kg",
    ),
    (
        "harvest-before-birth",
        "harvests",
        lambda c: dict(patient=c["patient"].pk, date="2017-12-31", gcsf_mobilized=False, volume_ml="100"),
        "date",
        "before the patient's birth",
    ),
    (
        "visit-in-future",
        "visits",
        lambda c: dict(patient=c["patient"].pk, date=TOMORROW, kind="follow-up"),
        "date",
        "in the future",
    ),
    (
        "birth-in-future",
        "patients",
        lambda c: patient_payload(date_of_birth=TOMORROW),
        "date_of_birth",
        "in the future",
    ),
    (
        "procedure-before-harvest",
        "procedures",
        lambda c: dict(
            patient=c["patient"].pk, product=c["product"].pk, date="2024-01-31", weight_kg="16", volume_ml="10"
        ),
        "date",
        "before the harvest",
    ),
    (
        "product-of-another-patient",
        "procedures",
        lambda c: dict(
            patient=c["patient"].pk, product=c["other_product"].pk, date="2024-02-03", weight_kg="16", volume_ml="10"
        ),
        "product",
        "another patient's harvest",
    ),
    (
        "viability-over-100",
        "products",
        lambda c: dict(harvest=c["harvest"].pk, tnc_count=10**9, viability_percent="100.5"),
        "viability_percent",
        "between 0 and 100",
    ),
    (
        "viability-negative",
        "products",
        lambda c: dict(harvest=c["harvest"].pk, tnc_count=10**9, viability_percent="-1"),
        "viability_percent",
        "between 0 and 100",
    ),
    (
        "cd34-over-tnc",
        "products",
        lambda c: dict(harvest=c["harvest"].pk, tnc_count=10**6, cd34_count=10**7, viability_percent="90"),
        "non_field_errors",
        "cannot outnumber",
    ),
    ("gmfcs-zero", "patients", lambda c: patient_payload(gmfcs_level=0), "gmfcs_level", "between I and V"),
    ("gmfcs-six", "patients", lambda c: patient_payload(gmfcs_level=6), "gmfcs_level", "between I and V"),
    (
        "duplicate-study-id",
        "patients",
        lambda c: patient_payload(study_id=c["patient"].study_id),
        "study_id",
        "already has this study ID",
    ),
    (
        "score-above-range",
        "scores",
        lambda c: dict(visit=c["visit"].pk, instrument="GMFM-66", value="100.5"),
        "value",
        "range from 0 to 100",
    ),
    (
        "gmfcs-score-fraction",
        "scores",
        lambda c: dict(visit=c["visit"].pk, instrument="GMFCS", value="2.5"),
        "value",
        "allows only I, II, III, IV, V",
    ),
    (
        "ashworth-not-allowed",
        "scores",
        lambda c: dict(visit=c["visit"].pk, instrument="MAS", value="1.3"),
        "value",
        "allows only 0, 1, 1+, 2, 3, 4",
    ),
    (
        "two-scores-one-instrument",
        "scores",
        lambda c: dict(visit=c["visit"].pk, instrument="GMFM-88", value="41"),
        "non_field_errors",
        "already has a score for this instrument",
    ),
    (
        "second-baseline",
        "visits",
        lambda c: dict(patient=c["patient"].pk, date="2024-01-26", kind="baseline"),
        "non_field_errors",
        "already has a baseline",
    ),
    (
        "event-before-procedure",
        "adverse-events",
        lambda c: dict(procedure=c["procedure"].pk, onset_date="2024-02-01", term="Headache", grade=1),
        "onset_date",
        "before the procedure",
    ),
    (
        "grade-six",
        "adverse-events",
        lambda c: dict(procedure=c["procedure"].pk, onset_date="2024-02-02", term="Headache", grade=6),
        "grade",
        "between 1 and 5",
    ),
    (
        "grade-five-not-fatal",
        "adverse-events",
        lambda c: dict(
            procedure=c["procedure"].pk, onset_date="2024-02-02", term="Seizure", grade=5, outcome="recovered"
        ),
        "outcome",
        "fatal by definition",
    ),
    (
        "term-not-on-the-ctcae-list",
        "adverse-events",
        lambda c: dict(procedure=c["procedure"].pk, onset_date="2024-02-02", term="Headake after LP", grade=1),
        "term",
        "Headake after LP",
    ),
    (
        "other-term-not-named",
        "adverse-events",
        lambda c: dict(procedure=c["procedure"].pk, onset_date="2024-02-02", term="Other, specify", grade=1),
        "term_other",
        "Name the adverse event",
    ),
    (
        "other-term-with-a-listed-term",
        "adverse-events",
        lambda c: dict(
            procedure=c["procedure"].pk, onset_date="2024-02-02", term="Fever", term_other="high fever", grade=1
        ),
        "term_other",
        "unless the term is",
    ),
]
MODELS = {
    "patients": Patient,
    "harvests": BoneMarrowHarvest,
    "products": CellProduct,
    "procedures": IntrathecalProcedure,
    "adverse-events": AdverseEvent,
    "visits": Visit,
    "scores": Score,
}


def counts():
    return {name: model.objects.count() for name, model in MODELS.items()}


@pytest.mark.parametrize("case,resource,payload,field,words", CASES, ids=[case[0] for case in CASES])
def test_api_refuses_with_a_message_and_stores_nothing(course, hematology_api, case, resource, payload, field, words):
    before = counts()
    response = hematology_api.post(f"/api/v1/{resource}/", payload(course), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert any(words in message for message in response.json()[field]), response.json()
    assert counts() == before


# Pages offer only the patient's own products: another patient's is not even a choice.
PAGE_WORDS = {"product-of-another-patient": "Select a valid choice"}


@pytest.mark.parametrize("case,resource,payload,field,words", CASES, ids=[case[0] for case in CASES])
def test_page_form_refuses_with_a_message_and_stores_nothing(
    course, client, make_user, case, resource, payload, field, words
):
    client.force_login(make_user("hematology"))
    data = payload(course)
    if resource == "patients":
        url = "/patients/new/"
    else:
        url = f"/patients/{course['patient'].pk}/{resource}/new/"
        data.pop("patient", None)
    if "instrument" in data:
        data["instrument"] = Instrument.objects.get(code=data["instrument"]).pk
    words = PAGE_WORDS.get(case, words)
    before = counts()
    response = client.post(url, {key: value for key, value in data.items() if value is not None})
    assert response.status_code == 200  # the form again, with the message
    assert words in response.content.decode().replace("&#x27;", "'"), response.content.decode()[:3000]
    assert counts() == before


def test_a_valid_record_passes_both_ways(course, hematology_api, client, make_user):
    response = hematology_api.post(
        "/api/v1/scores/", dict(visit=course["visit"].pk, instrument="MAS", value="1.5"), format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["display_value"] == "1+"
    client.force_login(make_user("hematology"))
    response = client.post(
        f"/patients/{course['patient'].pk}/procedures/new/",
        dict(
            product=course["product"].pk,
            date="2024-02-03",
            weight_kg="16",
            volume_ml="10",
            puncture_level="L4-L5",
            sedation="sedation",
        ),
    )
    assert response.status_code == 302
    assert IntrathecalProcedure.objects.filter(date=dt.date(2024, 2, 3)).exists()


def test_an_invalid_update_leaves_the_record_as_it_was(course, hematology_api):
    procedure = course["procedure"]
    response = hematology_api.patch(
        f"/api/v1/procedures/{procedure.pk}/", {"weight_kg": "500", "version": 1}, format="json"
    )
    assert response.status_code == 400
    procedure.refresh_from_db()
    assert procedure.weight_kg == Decimal("16") and procedure.version == 1


@pytest.mark.parametrize(
    "model,change",
    [
        (IntrathecalProcedure, {"weight_kg": Decimal("151")}),
        (IntrathecalProcedure, {"weight_kg": Decimal("0.5")}),
        (CellProduct, {"viability_percent": Decimal("101")}),
        (CellProduct, {"cd34_count": 10**12}),
        (Patient, {"gmfcs_level": 6}),
        (AdverseEvent, {"grade": 0}),
    ],
)
def test_the_database_enforces_ranges_even_past_the_services(build, model, change):
    records = {
        IntrathecalProcedure: build.procedure,
        CellProduct: build.product,
        Patient: build.patient,
        AdverseEvent: build.adverse_event,
    }
    record = records[model]()
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.filter(pk=record.pk).update(**change)


def test_the_database_refuses_two_scores_of_one_instrument_at_a_visit(build):
    score = build.score()
    with pytest.raises(IntegrityError), transaction.atomic():
        Score.objects.bulk_create([Score(visit=score.visit, instrument=score.instrument, value=1)])


def test_the_database_refuses_a_duplicate_study_id(build):
    patient = build.patient()
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.bulk_create(
            [
                Patient(
                    site=patient.site,
                    study_id=patient.study_id,
                    given_name="B",
                    family_name="C",
                    mrn="OTHER",
                    date_of_birth=dt.date(2019, 1, 1),
                    sex="M",
                    cp_subtype="ataxic",
                    etiology="hie",
                    gmfcs_level=1,
                )
            ]
        )


def test_bad_json_is_a_400_not_a_500(hematology_api):
    response = hematology_api.post("/api/v1/patients/", "not json", content_type="application/json")
    assert response.status_code == 400
    assert Patient.objects.count() == 0
