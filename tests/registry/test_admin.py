"""The Django admin lists every model of the registry for registry-admins."""

import pytest
from django.apps import apps
from django.contrib import admin


def test_every_model_is_in_the_admin():
    for app_label in ("registry", "imaging", "research"):
        for model in apps.get_app_config(app_label).get_models():
            if model.__name__.startswith("Historical") or model.__name__ in ("ScanStatusEvent", "AccessedPatient"):
                continue
            assert admin.site.is_registered(model), model


@pytest.mark.parametrize("app_label", ["registry", "imaging", "research"])
def test_registry_admins_open_every_changelist(client, make_user, app_label):
    client.force_login(make_user("registry-admin"))
    for model in apps.get_app_config(app_label).get_models():
        if admin.site.is_registered(model):
            url = f"/admin/{app_label}/{model._meta.model_name}/"
            assert client.get(url).status_code == 200, url
            assert client.get(url + "add/").status_code in (200, 403), url


def test_an_admin_save_over_someone_elses_change_is_refused(client, make_user, build):
    from registry import services
    from registry.models import Patient

    patient = build.patient(gmfcs_level=3)
    client.force_login(make_user("registry-admin"))
    form = client.get(f"/admin/registry/patient/{patient.pk}/change/")
    assert form.status_code == 200 and 'name="opened_version"' in form.content.decode()
    services.record_update(patient, None, 1, gmfcs_level=4)  # someone else saves meanwhile
    data = {
        "site": patient.site_id,
        "study_id": patient.study_id,
        "given_name": "Ana",
        "family_name": "Prueba",
        "mrn": patient.mrn,
        "date_of_birth": "2018-01-10",
        "sex": "F",
        "cp_subtype": "spastic-diplegia",
        "etiology": "hie",
        "gmfcs_level": 2,
        "opened_version": 1,
    }
    response = client.post(f"/admin/registry/patient/{patient.pk}/change/", data)
    assert response.status_code == 200 and "after you opened it" in response.content.decode()
    assert Patient.objects.get(pk=patient.pk).gmfcs_level == 4
    data["opened_version"] = 2
    assert client.post(f"/admin/registry/patient/{patient.pk}/change/", data).status_code == 302
    assert Patient.objects.get(pk=patient.pk).gmfcs_level == 2
