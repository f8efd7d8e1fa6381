"""Several centres and the clinical workflow: the visits due, the one-form assessments, queries,
sign-off and unlocking show and act on the account's own sites only; another site's record is a 404
on every page and API endpoint, and nothing of it changes."""

import datetime as dt

import pytest

from registry import queries
from registry.models import Query, Score, Signature
from registry.roles import HEMATOLOGY, HEMATOLOGY_LEAD, REGISTRY_ADMIN
from tests.registry.test_sites import api_at, page_at, sites  # noqa: F401 (fixtures)

PASSWORD = "pw-of-the-test"


@pytest.fixture
def query_on_b(sites, make_user):  # noqa: F811
    """A person's query on the second site's procedure."""
    asker = make_user(HEMATOLOGY, "asker-b", sites=[sites["sites"]["B"]])
    return queries.query_open(actor=asker, record=sites["B"]["procedure"], field="volume_ml", text="Check the volume.")


def lead_at(make_user, site):
    lead = make_user(HEMATOLOGY_LEAD, f"lead-{site.code}", sites=[site])
    lead.set_password(PASSWORD)
    lead.save()
    return lead


def test_the_visits_due_list_only_the_own_sites_patients(page_at, sites):  # noqa: F811
    response = page_at(HEMATOLOGY, "A").get("/visits/due/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "CP-100" in html and "CP-200" not in html


def test_another_sites_visit_assessments_are_a_404_and_unchanged(page_at, sites):  # noqa: F811
    client = page_at(HEMATOLOGY, "A")
    visit_b, score_b = sites["B"]["visit"], sites["B"]["score"]
    assert client.get(f"/visits/{visit_b.pk}/assessments/").status_code == 404
    response = client.post(f"/visits/{visit_b.pk}/assessments/", {"assessor": "x", "GMFM-88-value": "10"})
    assert response.status_code == 404
    score_b.refresh_from_db()
    assert score_b.value == 40 and score_b.version == 1
    assert client.get(f"/visits/{sites['A']['visit'].pk}/assessments/").status_code == 200
    patient_b = sites["B"]["patient"]
    assert client.get(f"/patients/{patient_b.pk}/assessments/new/").status_code == 404
    before = Score.objects.count()
    response = client.post(f"/patients/{patient_b.pk}/assessments/new/", {"date": "2024-08-02", "kind": "follow-up"})
    assert response.status_code == 404 and Score.objects.count() == before


def test_queries_of_another_site_are_not_listed_shown_answered_or_opened(page_at, api_at, sites, query_on_b):  # noqa: F811
    client = page_at(HEMATOLOGY, "A")
    assert f"/queries/{query_on_b.pk}/" not in client.get("/queries/?status=").content.decode()
    assert client.get(f"/queries/{query_on_b.pk}/").status_code == 404
    assert client.post(f"/queries/{query_on_b.pk}/answer/", {"text": "done"}).status_code == 404
    procedure_b = sites["B"]["procedure"]
    assert client.get(f"/records/procedures/{procedure_b.pk}/query/").status_code == 404

    api = api_at(HEMATOLOGY, "A")
    listed = api.get("/api/v1/queries/")
    assert listed.status_code == 200
    assert query_on_b.pk not in {row["id"] for row in listed.json()["results"]}
    assert api.get(f"/api/v1/queries/{query_on_b.pk}/").status_code == 404
    assert api.post(f"/api/v1/queries/{query_on_b.pk}/answer/", {"text": "done"}, format="json").status_code == 404
    query_on_b.refresh_from_db()
    assert query_on_b.status == Query.Status.OPEN

    own_site = api_at(HEMATOLOGY, "B")
    assert query_on_b.pk in {row["id"] for row in own_site.get("/api/v1/queries/").json()["results"]}


def test_an_investigator_cannot_sign_another_sites_visit_or_patient(client, sites, make_user):  # noqa: F811
    lead = lead_at(make_user, sites["sites"]["A"])
    client.force_login(lead)
    visit_b, patient_b = sites["B"]["visit"], sites["B"]["patient"]
    given = {"password": PASSWORD, "acknowledge": "on"}
    assert client.get(f"/visits/{visit_b.pk}/sign/").status_code == 404
    assert client.post(f"/visits/{visit_b.pk}/sign/", given).status_code == 404
    assert client.post(f"/patients/{patient_b.pk}/sign/", given).status_code == 404
    assert not Signature.objects.exists()
    response = client.post(f"/visits/{sites['A']['visit'].pk}/sign/", given)
    assert response.status_code == 302 and Signature.objects.get().visit == sites["A"]["visit"]


def test_the_sign_api_answers_404_for_another_sites_visit(sites, make_user):  # noqa: F811
    from knox.models import AuthToken
    from rest_framework.test import APIClient

    lead = lead_at(make_user, sites["sites"]["A"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=lead)[1]}")
    body = {"password": PASSWORD, "meaning_acknowledged": True}
    response = api.post(f"/api/v1/visits/{sites['B']['visit'].pk}/sign/", body, format="json")
    assert response.status_code == 404 and not Signature.objects.exists()
    response = api.post(f"/api/v1/visits/{sites['A']['visit'].pk}/sign/", body, format="json")
    assert response.status_code == 201, response.content
    assert Signature.objects.get().visit == sites["A"]["visit"]


def test_unlocking_is_scoped_and_a_registry_admin_unlocks_any_site(client, sites, make_user):  # noqa: F811
    lead_b = lead_at(make_user, sites["sites"]["B"])
    visit_b = sites["B"]["visit"]
    signature = Signature.objects.create(
        patient=visit_b.patient, visit=visit_b, subject="visit", meaning="m", signed_by=lead_b, signer_name="lead"
    )
    admin = make_user(REGISTRY_ADMIN, "admin-all")
    client.force_login(admin)
    assert client.get(f"/signatures/{signature.pk}/unlock/").status_code == 200
    response = client.post(f"/signatures/{signature.pk}/unlock/", {"reason": "Entered on the wrong visit date."})
    assert response.status_code == 302
    signature.refresh_from_db()
    assert signature.voided_at is not None and signature.voided_at.date() <= dt.date.today()


def test_opening_a_query_on_another_sites_record_reads_as_a_record_that_does_not_exist(api_at, sites):  # noqa: F811
    api = api_at(HEMATOLOGY, "A")
    procedure_b = sites["B"]["procedure"]
    elsewhere = api.post(
        "/api/v1/queries/", {"record_kind": "procedures", "record_id": procedure_b.pk, "text": "?"}, format="json"
    )
    nowhere = api.post(
        "/api/v1/queries/", {"record_kind": "procedures", "record_id": 99999999, "text": "?"}, format="json"
    )
    assert elsewhere.status_code == nowhere.status_code == 400
    assert elsewhere.json()["record_id"] == [f"There is no procedures record #{procedure_b.pk}."]
    assert nowhere.json()["record_id"] == ["There is no procedures record #99999999."]
    assert not Query.objects.exists()


def test_a_patient_filter_that_is_not_an_ascii_number_is_a_400_not_a_500(api_at, sites):  # noqa: F811
    response = api_at(HEMATOLOGY, "A").get("/api/v1/queries/?patient=²")
    assert response.status_code == 400
    assert "²" in response.json()["patient"][0]


@pytest.mark.parametrize("path", ["/visits/{visit}/sign/", "/patients/{patient}/sign/"])
def test_the_sign_pages_send_a_signed_out_visitor_to_sign_in(client, sites, path):  # noqa: F811
    url = path.format(visit=sites["A"]["visit"].pk, patient=sites["A"]["patient"].pk)
    response = client.get(url)
    assert response.status_code == 302 and response.url.startswith("/login/")
