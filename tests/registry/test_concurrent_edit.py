"""Two people editing one record: the second save is refused, never a silent overwrite."""

import threading

import pytest
from django.db import connection

from registry import services
from registry.models import Patient


def test_api_refuses_a_stale_version_in_the_body_with_409(build, hematology_api, api_as):
    patient = build.patient(gmfcs_level=3)
    other = api_as("registry-admin")
    assert (
        hematology_api.patch(
            f"/api/v1/patients/{patient.pk}/", {"gmfcs_level": 4, "version": 1}, format="json"
        ).status_code
        == 200
    )
    response = other.patch(f"/api/v1/patients/{patient.pk}/", {"gmfcs_level": 2, "version": 1}, format="json")
    assert response.status_code == 409
    assert "changed by" in response.json()["detail"] and response.json()["current_version"] == 2
    assert Patient.objects.get(pk=patient.pk).gmfcs_level == 4


def test_api_refuses_a_stale_if_match_with_412(build, hematology_api):
    patient = build.patient()
    etag = hematology_api.get(f"/api/v1/patients/{patient.pk}/")["ETag"]
    assert etag == '"1"'
    first = hematology_api.patch(
        f"/api/v1/patients/{patient.pk}/", {"gmfcs_level": 4}, format="json", HTTP_IF_MATCH=etag
    )
    assert first.status_code == 200 and first.json()["version"] == 2
    second = hematology_api.patch(
        f"/api/v1/patients/{patient.pk}/", {"gmfcs_level": 1}, format="json", HTTP_IF_MATCH=etag
    )
    assert second.status_code == 412
    assert Patient.objects.get(pk=patient.pk).gmfcs_level == 4


def test_api_asks_for_the_version_when_none_is_sent(build, hematology_api):
    patient = build.patient(gmfcs_level=3)
    response = hematology_api.patch(f"/api/v1/patients/{patient.pk}/", {"gmfcs_level": 4}, format="json")
    assert response.status_code == 428
    assert "version" in response.json()["detail"]
    response = hematology_api.patch(
        f"/api/v1/patients/{patient.pk}/", {"gmfcs_level": 4, "version": "two"}, format="json"
    )
    assert response.status_code == 400
    assert Patient.objects.get(pk=patient.pk).gmfcs_level == 3


def test_stale_delete_is_refused(build, hematology_api):
    patient = build.patient()
    services.record_update(patient, None, 1, gmfcs_level=2)
    assert hematology_api.delete(f"/api/v1/patients/{patient.pk}/?version=1").status_code == 409
    assert Patient.objects.filter(pk=patient.pk).exists()


def test_page_refuses_the_second_save_and_keeps_the_first(build, client, make_user):
    patient = build.patient(gmfcs_level=3)
    first, second = make_user("hematology", "first"), make_user("registry-admin", "second")
    form = {
        field: getattr(patient, field)
        for field in ["study_id", "given_name", "family_name", "mrn", "sex", "cp_subtype", "etiology"]
    }
    form.update(date_of_birth=patient.date_of_birth.isoformat(), version=1)

    client.force_login(first)
    assert client.post(f"/records/patients/{patient.pk}/edit/", {**form, "gmfcs_level": 4}).status_code == 302
    client.force_login(second)
    response = client.post(f"/records/patients/{patient.pk}/edit/", {**form, "gmfcs_level": 2})
    assert response.status_code == 200
    assert "changed by first after you opened it" in response.content.decode()
    assert Patient.objects.get(pk=patient.pk).gmfcs_level == 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_simultaneous_saves_of_one_version_let_exactly_one_through(build):
    """Two transactions racing on version 1: the row lock lets one win, the other gets a conflict."""
    patient = build.patient(gmfcs_level=3)
    barrier = threading.Barrier(2)
    outcomes = []

    def save(level):
        try:
            barrier.wait()
            services.record_update(Patient.objects.get(pk=patient.pk), None, 1, gmfcs_level=level)
            outcomes.append("saved")
        except services.EditConflict:
            outcomes.append("conflict")
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(level,)) for level in (1, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "saved"]
    assert Patient.objects.get(pk=patient.pk).version == 2
