"""Strict input: a malformed request answers 4xx with a message naming the input, never 500; the
version a client edited is an integer; names and identifiers refuse invisible text-direction controls."""

import pytest

from registry.models import Patient
from registry.roles import HEMATOLOGY, REGISTRY_ADMIN

pytestmark = pytest.mark.django_db


def patch(client, url, body):
    return client.generic("PATCH", url, body, content_type="application/json")


@pytest.mark.parametrize(
    "version",
    ["1e400", "true", "1.0", '"\u0661"', '"1.0"', '"-1"', "[1]"],
    ids=["huge-float", "boolean", "float", "arabic-indic-digit", "decimal-string", "negative", "list"],
)
def test_the_version_must_be_an_integer(hematology_api, build, version):
    patient = build.patient()

    response = patch(hematology_api, f"/api/v1/patients/{patient.pk}/", f'{{"version": {version}, "gmfcs_level": 2}}')

    assert response.status_code == 400, response.content
    assert "whole number" in response.json()["version"][0]
    patient.refresh_from_db()
    assert (patient.gmfcs_level, patient.version) == (3, 1)


def test_the_version_as_digits_is_accepted(hematology_api, build):
    patient = build.patient()

    response = patch(hematology_api, f"/api/v1/patients/{patient.pk}/", '{"version": "1", "gmfcs_level": 2}')

    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2


def test_json_nested_too_deeply_is_a_bad_request(hematology_api, build):
    patient = build.patient()

    response = patch(hematology_api, f"/api/v1/patients/{patient.pk}/", "[" * 5000 + "]" * 5000)

    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


def test_a_page_delete_with_a_malformed_version_is_refused(client, make_user, build):
    patient = build.patient()
    client.force_login(make_user(REGISTRY_ADMIN))

    response = client.post(f"/records/patients/{patient.pk}/delete/", {"version": "abc"})

    assert response.status_code == 400
    assert "whole number" in response.content.decode()
    assert Patient.objects.filter(pk=patient.pk).exists()


def test_a_page_edit_with_a_float_version_is_refused(client, make_user, build):
    patient = build.patient()
    client.force_login(make_user(HEMATOLOGY))
    fields = {
        "study_id": patient.study_id,
        "given_name": "Ana",
        "family_name": "Prueba",
        "mrn": patient.mrn,
        "date_of_birth": "2018-01-10",
        "sex": "F",
        "cp_subtype": "spastic-diplegia",
        "etiology": "hie",
        "gmfcs_level": 2,
    }

    response = client.post(f"/records/patients/{patient.pk}/edit/", {**fields, "version": "1.0"})

    assert response.status_code == 200
    assert "whole number" in response.context["form"].errors["version"][0]
    patient.refresh_from_db()
    assert patient.gmfcs_level == 3


@pytest.mark.parametrize("field", ["given_name", "family_name", "mrn", "study_id"])
@pytest.mark.parametrize("control", ["\u202e", "\u2066", "\u200f", "\u061c"])
def test_names_and_identifiers_refuse_bidi_controls(hematology_api, field, control):
    body = {
        "study_id": "CP-777",
        "given_name": "Ana",
        "family_name": "Prueba",
        "mrn": "MRN-777",
        "date_of_birth": "2018-01-10",
        "sex": "F",
        "cp_subtype": "spastic-diplegia",
        "etiology": "hie",
        "gmfcs_level": 3,
    }
    body[field] = body[field][:2] + control + body[field][2:]

    response = hematology_api.post("/api/v1/patients/", body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Patient.objects.exists()


def test_the_admin_refuses_bidi_controls_in_a_name(client, make_user, build):
    patient = build.patient()
    client.force_login(make_user(REGISTRY_ADMIN))
    from django.forms.models import modelform_factory

    form = modelform_factory(Patient, fields=["given_name", "family_name"])(
        {"given_name": "Ana\u202eonuG", "family_name": "Prueba"}, instance=patient
    )

    assert not form.is_valid()
    assert "U+202E" in form.errors["given_name"][0]


@pytest.mark.parametrize(
    "query, parameter",
    [
        ("page_size=null", "page_size"),
        ("page_size=0", "page_size"),
        ("page_size=501", "page_size"),
        ("page=abc", "page"),
        ("gmfcs_level=477", "gmfcs_level"),
        ("patient=abc", "patient"),
        ("colour=red", "colour"),
        ("format=AAA", "format"),
    ],
)
def test_malformed_or_unknown_list_parameters_are_refused_by_name(hematology_api, query, parameter):
    response = hematology_api.get(f"/api/v1/patients/?{query}")

    assert response.status_code == 400
    assert list(response.json()) == [parameter]


def test_documented_list_parameters_are_accepted(hematology_api, build):
    build.patient(gmfcs_level=2)

    response = hematology_api.get("/api/v1/patients/?gmfcs_level=2&search=CP&page=1&page_size=10&format=json")

    assert response.status_code == 200
    assert response.json()["count"] == 1
