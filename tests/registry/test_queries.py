"""The query life cycle: a person or a rule opens a query on a record, the assigned role answers, the
opener (or a registry-admin) closes or re-opens it; every step says who and when; wrong steps answer
409, bad input 400; the queries page and the patient page list the open ones."""

import pytest
from knox.models import AuthToken
from rest_framework.test import APIClient

from registry import quality
from registry.models import Query, QueryEvent


@pytest.fixture
def colleague(make_user):
    """Another hematology account, with its own token."""
    user = make_user("hematology", "dr-colleague")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {AuthToken.objects.create(user=user)[1]}")
    client.user = user
    return client


@pytest.fixture
def opened(build, hematology_api):
    visit = build.visit()
    response = hematology_api.post(
        "/api/v1/queries/",
        {"record_kind": "visits", "record_id": visit.pk, "field": "date", "text": "Is the date right?"},
        format="json",
    )
    assert response.status_code == 201, response.content
    return visit, Query.objects.get(pk=response.json()["id"])


def test_a_query_goes_open_answered_closed_and_reopened_with_who_and_when(opened, hematology_api, colleague):
    visit, query = opened
    assert (query.patient, query.record_id, query.field, query.status) == (visit.patient, visit.pk, "date", "open")
    assert query.opened_by == hematology_api.user and query.assigned_role == "hematology" and query.rule == ""

    response = colleague.post(f"/api/v1/queries/{query.pk}/answer/", {"text": "Checked: it is."}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "answered"

    response = hematology_api.post(f"/api/v1/queries/{query.pk}/close/", {"text": "Thanks"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "closed"
    response = hematology_api.post(f"/api/v1/queries/{query.pk}/reopen/", {"text": "Source says 3rd"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "open"

    query.refresh_from_db()
    assert query.status == "open"
    steps = [(e.action, e.user.username, e.note) for e in query.events.all()]
    assert steps == [
        ("opened", "api-hematology", "Is the date right?"),
        ("answered", "dr-colleague", "Checked: it is."),
        ("closed", "api-hematology", "Thanks"),
        ("reopened", "api-hematology", "Source says 3rd"),
    ]
    assert all(event.at is not None for event in query.events.all())
    assert query.history.count() == 4


def test_steps_that_do_not_follow_from_the_status_answer_409(opened, hematology_api):
    _visit, query = opened
    assert hematology_api.post(f"/api/v1/queries/{query.pk}/reopen/", {"text": "x"}, format="json").status_code == 409
    assert hematology_api.post(f"/api/v1/queries/{query.pk}/close/", {}, format="json").status_code == 200
    response = hematology_api.post(f"/api/v1/queries/{query.pk}/answer/", {"text": "late"}, format="json")
    assert response.status_code == 409 and "closed" in response.json()["detail"]
    query.refresh_from_db()
    assert query.status == "closed" and query.events.count() == 2


def test_who_may_answer_and_close(opened, api_as, colleague):
    _visit, query = opened
    radiology = api_as("radiology")
    assert radiology.post(f"/api/v1/queries/{query.pk}/answer/", {"text": "x"}, format="json").status_code == 403
    response = colleague.post(f"/api/v1/queries/{query.pk}/close/", {}, format="json")
    assert response.status_code == 403 and "opened this query" in response.json()["detail"]
    admin = api_as("registry-admin")
    assert admin.post(f"/api/v1/queries/{query.pk}/close/", {"text": "Accepted"}, format="json").status_code == 200
    query.refresh_from_db()
    assert query.status == "closed"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"record_kind": "spaceships", "record_id": 1, "text": "?"}, "record_kind"),
        ({"record_kind": "visits", "record_id": 999999, "text": "?"}, "record_id"),
        ({"record_kind": "visits", "record_id": "VISIT", "text": "?"}, "record_id"),
        ({"record_kind": "visits", "text": " "}, "text"),
        ({"record_kind": "visits", "field": "colour", "text": "?"}, "field"),
        ({"record_kind": "visits", "text": "?", "assigned_role": "janitor"}, "assigned_role"),
    ],
)
def test_bad_input_when_opening_answers_400_naming_the_field(build, hematology_api, body, field):
    visit = build.visit()
    body = {"record_id": visit.pk, **body}
    response = hematology_api.post("/api/v1/queries/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not Query.objects.exists()


def test_answering_without_text_answers_400(opened, hematology_api):
    _visit, query = opened
    response = hematology_api.post(f"/api/v1/queries/{query.pk}/answer/", {"text": ""}, format="json")
    assert response.status_code == 400 and "text" in response.json()
    query.refresh_from_db()
    assert query.status == "open"


def test_research_sees_no_query(opened, api_as):
    research = api_as("research")
    assert research.get("/api/v1/queries/").status_code == 403
    assert research.post("/api/v1/queries/", {"record_kind": "visits", "record_id": 1, "text": "?"}).status_code == 403


def test_the_list_filters_by_status_role_and_patient(opened, build, hematology_api):
    visit, query = opened
    quality.check_patients([build.procedure().patient.pk])  # a rule's query on another patient
    assert hematology_api.get("/api/v1/queries/").json()["count"] == 2
    only = hematology_api.get(f"/api/v1/queries/?patient={visit.patient_id}&status=open&assigned_role=hematology")
    assert [row["id"] for row in only.json()["results"]] == [query.pk]
    assert only.json()["results"][0]["record_kind"] == "visits"
    assert hematology_api.get("/api/v1/queries/?status=pending-ish").status_code == 400


def test_the_queries_page_lists_open_queries_by_status_and_role(opened, client, make_user):
    _visit, query = opened
    client.force_login(make_user("hematology"))
    page = client.get("/queries/")
    assert page.status_code == 200 and "Is the date right?" in page.content.decode()
    assert "Is the date right?" not in client.get("/queries/?status=closed").content.decode()
    assert "Is the date right?" not in client.get("/queries/?role=radiology").content.decode()


def test_the_patient_page_shows_open_queries_beside_the_record(opened, client, make_user):
    visit, _query = opened
    client.force_login(make_user("hematology"))
    page = client.get(f"/patients/{visit.patient_id}/").content.decode()
    assert "1 open query" in page and "Is the date right?" in page
    assert f"/records/visits/{visit.pk}/query/" in page


def test_staff_open_and_answer_a_query_from_the_pages(build, client, make_user):
    procedure = build.procedure()
    client.force_login(make_user("hematology"))
    response = client.post(
        f"/records/procedures/{procedure.pk}/query/", {"field": "weight_kg", "text": "", "assigned_role": "hematology"}
    )
    assert response.status_code == 400 and not Query.objects.exists()
    response = client.post(
        f"/records/procedures/{procedure.pk}/query/",
        {"field": "weight_kg", "text": "Weight in lb?", "assigned_role": "hematology"},
    )
    assert response.status_code == 302
    query = Query.objects.get()
    assert (query.record_id, query.field, query.text) == (procedure.pk, "weight_kg", "Weight in lb?")
    response = client.post(f"/queries/{query.pk}/answer/", {"text": "No, kg."})
    assert response.status_code == 302
    response = client.post(f"/queries/{query.pk}/answer/", {"text": "Again"})
    assert response.status_code == 409
    assert client.post(f"/queries/{query.pk}/explode/", {}).status_code == 404
    query.refresh_from_db()
    assert query.status == "answered"
    assert [e.action for e in query.events.all()] == [QueryEvent.Action.OPENED, QueryEvent.Action.ANSWERED]
