"""Sign-off and locking: an investigator signs a visit or a patient's data with their password; every
write to what is signed is refused (pages, API, admin) with who signed and when, until a
registry-admin unlocks with a reason, which voids the signature; history keeps every step."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from knox.models import AuthToken
from rest_framework.test import APIClient

from registry import services
from registry.models import BoneMarrowHarvest, Instrument, Score, Signature, Visit
from tests.conftest import PASSWORD


@pytest.fixture
def lead_api(make_user):
    user = make_user("hematology-lead", "dr-lead")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=user)[1]}")
    client.user = user
    return client


@pytest.fixture
def signed_visit(build, lead_api):
    visit = build.visit()
    score = build.score(visit=visit)
    response = lead_api.post(
        f"/api/v1/visits/{visit.pk}/sign/", {"password": PASSWORD, "meaning_acknowledged": True}, format="json"
    )
    assert response.status_code == 201, response.content
    return visit, score


def test_the_sign_permission_goes_to_registry_admins_and_hematology_leads(reference_data):
    def holds(role):
        return Group.objects.get(name=role).permissions.filter(codename="sign_records").exists()

    assert holds("registry-admin") and holds("hematology-lead")
    assert not holds("hematology") and not holds("radiology") and not holds("research")


def test_an_investigator_signs_a_visit_and_the_signature_stores_who_when_and_its_meaning(build, lead_api):
    visit = build.visit()
    response = lead_api.post(
        f"/api/v1/visits/{visit.pk}/sign/", {"password": PASSWORD, "meaning_acknowledged": True}, format="json"
    )
    assert response.status_code == 201, response.content
    signature = Signature.objects.get(visit=visit)
    assert signature.signed_by == lead_api.user and signature.signer_name == "dr-lead"
    assert signature.meaning.startswith("I confirm that the data of this visit")
    assert signature.voided_at is None
    assert response.json()["meaning"] == signature.meaning
    assert signature.history.get().history_user == lead_api.user


def test_a_wrong_password_signs_nothing(build, lead_api):
    visit = build.visit()
    response = lead_api.post(
        f"/api/v1/visits/{visit.pk}/sign/", {"password": "not-it", "meaning_acknowledged": True}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["password"] == ["The password is not correct; nothing was signed."]
    assert not Signature.objects.exists()


def test_signing_without_acknowledging_the_meaning_is_refused(build, lead_api):
    visit = build.visit()
    response = lead_api.post(
        f"/api/v1/visits/{visit.pk}/sign/", {"password": PASSWORD, "meaning_acknowledged": False}, format="json"
    )
    assert response.status_code == 400 and "meaning_acknowledged" in response.json()
    assert not Signature.objects.exists()


def test_hematology_staff_without_the_permission_cannot_sign(build, hematology_api):
    visit = build.visit()
    response = hematology_api.post(
        f"/api/v1/visits/{visit.pk}/sign/", {"password": PASSWORD, "meaning_acknowledged": True}, format="json"
    )
    assert response.status_code == 403
    assert not Signature.objects.exists()


def test_every_api_write_to_a_signed_visit_and_its_scores_is_refused_with_423(signed_visit, hematology_api):
    visit, score = signed_visit
    attempts = [
        hematology_api.patch(f"/api/v1/visits/{visit.pk}/", {"kind": "unscheduled", "version": 1}, format="json"),
        hematology_api.delete(f"/api/v1/visits/{visit.pk}/?version=1"),
        hematology_api.patch(f"/api/v1/scores/{score.pk}/", {"value": "50", "version": 1}, format="json"),
        hematology_api.delete(f"/api/v1/scores/{score.pk}/?version=1"),
        hematology_api.post(
            "/api/v1/scores/", {"visit": visit.pk, "instrument": "GMFM-66", "value": "40"}, format="json"
        ),
    ]
    for response in attempts:
        assert response.status_code == 423, response.content
        body = response.json()
        assert "signed by dr-lead" in body["detail"] and body["signed_by"] == "dr-lead"
    visit.refresh_from_db()
    score.refresh_from_db()
    assert (visit.kind, visit.version, score.value) == ("follow-up", 1, Decimal("40"))
    assert Score.objects.filter(visit=visit).count() == 1


def test_records_the_visit_signature_does_not_cover_stay_editable(signed_visit, hematology_api):
    visit, _score = signed_visit
    response = hematology_api.patch(
        f"/api/v1/patients/{visit.patient_id}/", {"gmfcs_level": 4, "version": 1}, format="json"
    )
    assert response.status_code == 200, response.content


def test_page_edits_and_deletes_of_a_signed_record_answer_423_saying_who_signed(signed_visit, client, make_user):
    visit, score = signed_visit
    client.force_login(make_user("hematology"))
    form = client.get(f"/records/visits/{visit.pk}/edit/")
    assert form.status_code == 200
    assert "signed by dr-lead" in form.content.decode() and 'type="submit">Save' not in form.content.decode()
    response = client.post(
        f"/records/visits/{visit.pk}/edit/", {"date": "2024-08-03", "kind": "follow-up", "version": 1}
    )
    assert response.status_code == 423 and "dr-lead" in response.content.decode()
    response = client.post(f"/records/scores/{score.pk}/delete/", {"version": 1})
    assert response.status_code == 423
    other = Instrument.objects.get(code="GMFM-66")
    response = client.post(
        f"/patients/{visit.patient_id}/scores/new/", {"visit": visit.pk, "instrument": other.pk, "value": "1"}
    )
    assert response.status_code == 423
    visit.refresh_from_db()
    assert visit.date == dt.date(2024, 8, 2) and Score.objects.filter(pk=score.pk).exists()


def test_admin_saves_and_deletes_of_a_signed_record_are_refused(signed_visit, client, make_user):
    visit, score = signed_visit
    client.force_login(make_user("registry-admin"))
    data = {"patient": visit.patient_id, "date": "2024-08-03", "kind": "follow-up", "opened_version": 1}
    response = client.post(f"/admin/registry/visit/{visit.pk}/change/", data)
    assert response.status_code == 423
    response = client.post(f"/admin/registry/score/{score.pk}/delete/", {"post": "yes"})
    assert response.status_code == 423
    response = client.post(
        "/admin/registry/score/", {"action": "delete_selected", "_selected_action": [score.pk], "post": "yes"}
    )
    assert response.status_code == 423
    visit.refresh_from_db()
    assert visit.date == dt.date(2024, 8, 2) and Score.objects.filter(pk=score.pk).exists()


def test_only_a_registry_admin_unlocks_and_a_reason_is_required(signed_visit, hematology_api, api_as):
    visit, score = signed_visit
    assert (
        hematology_api.post(f"/api/v1/visits/{visit.pk}/unlock/", {"reason": "typo"}, format="json").status_code == 403
    )
    admin = api_as("registry-admin")
    response = admin.post(f"/api/v1/visits/{visit.pk}/unlock/", {"reason": ""}, format="json")
    assert response.status_code == 400 and "reason" in response.json()
    assert Signature.objects.get(visit=visit).voided_at is None

    response = admin.post(f"/api/v1/visits/{visit.pk}/unlock/", {"reason": "GMFM-88 was mistyped"}, format="json")
    assert response.status_code == 200, response.content
    signature = Signature.objects.get(visit=visit)
    assert signature.voided_by == admin.user and signature.void_reason == "GMFM-88 was mistyped"
    assert [h.history_type for h in signature.history.order_by("history_date")] == ["+", "~"]
    assert admin.post(f"/api/v1/visits/{visit.pk}/unlock/", {"reason": "again"}, format="json").status_code == 409

    response = hematology_api.patch(f"/api/v1/scores/{score.pk}/", {"value": "50", "version": 1}, format="json")
    assert response.status_code == 200
    score.refresh_from_db()
    assert score.value == Decimal("50")


def test_signing_a_patient_locks_all_their_records(build, lead_api, hematology_api):
    harvest = build.harvest()
    patient = harvest.patient
    response = lead_api.post(
        f"/api/v1/patients/{patient.pk}/sign/", {"password": PASSWORD, "meaning_acknowledged": True}, format="json"
    )
    assert response.status_code == 201, response.content
    response = hematology_api.patch(f"/api/v1/harvests/{harvest.pk}/", {"volume_ml": "99", "version": 1}, format="json")
    assert response.status_code == 423
    response = hematology_api.post(
        "/api/v1/visits/", {"patient": patient.pk, "date": "2024-03-01", "kind": "follow-up"}, format="json"
    )
    assert response.status_code == 423
    assert BoneMarrowHarvest.objects.get(pk=harvest.pk).volume_ml == Decimal("150")
    assert not Visit.objects.filter(patient=patient).exists()


def test_the_sign_page_shows_the_meaning_and_refuses_a_wrong_password(build, client, make_user):
    visit = build.visit()
    client.force_login(make_user("hematology-lead", "dr-lead"))
    page = client.get(f"/visits/{visit.pk}/sign/")
    assert page.status_code == 200 and "I confirm that the data of this visit" in page.content.decode()
    response = client.post(f"/visits/{visit.pk}/sign/", {"password": "wrong", "acknowledge": "on"})
    assert response.status_code == 400 and "nothing was signed" in response.content.decode()
    assert not Signature.objects.exists()
    response = client.post(f"/visits/{visit.pk}/sign/", {"password": PASSWORD, "acknowledge": "on"})
    assert response.status_code == 302
    assert Signature.objects.get(visit=visit).signer_name == "dr-lead"
    patient_page = client.get(f"/patients/{visit.patient_id}/").content.decode()
    assert "signed by dr-lead" in patient_page


def test_wrong_passwords_count_towards_the_sign_in_lockout(build, client, make_user, settings):
    settings.AXES_FAILURE_LIMIT = 2
    visit = build.visit()
    client.force_login(make_user("hematology-lead", "dr-lead"))
    assert client.post(f"/visits/{visit.pk}/sign/", {"password": "wrong", "acknowledge": "on"}).status_code == 400
    assert client.post(f"/visits/{visit.pk}/sign/", {"password": "wrong", "acknowledge": "on"}).status_code == 429
    assert client.post(f"/visits/{visit.pk}/sign/", {"password": PASSWORD, "acknowledge": "on"}).status_code == 429
    assert not Signature.objects.exists()


def test_the_unlock_page_needs_a_reason_and_voids_the_signature(signed_visit, client, make_user):
    visit, _score = signed_visit
    signature = Signature.objects.get(visit=visit)
    client.force_login(make_user("hematology"))
    assert client.get(f"/signatures/{signature.pk}/unlock/").status_code == 403
    client.force_login(make_user("registry-admin"))
    response = client.post(f"/signatures/{signature.pk}/unlock/", {"reason": "  "})
    assert response.status_code == 400 and "Say why" in response.content.decode()
    response = client.post(f"/signatures/{signature.pk}/unlock/", {"reason": "Visit date corrected"})
    assert response.status_code == 302
    signature.refresh_from_db()
    assert signature.void_reason == "Visit date corrected" and signature.voided_at is not None
    services.record_update(visit, None, 1, date=dt.date(2024, 8, 3))
