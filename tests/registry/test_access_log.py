"""The access audit: every read of identified data is logged with who, when, what and from where;
research bulk reads through the API lists are logged too; registry-admins read the log, nobody edits it."""

from types import SimpleNamespace

import pytest
from django.contrib import admin
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from registry import audit
from registry.models import AccessedPatient, AccessLog, Patient


def only_entry():
    entry = AccessLog.objects.get()
    return entry, sorted(entry.patients.values_list("study_id", flat=True))


# ---- pages ------------------------------------------------------------------------------


def test_the_patient_page_is_logged(client, make_user, build):
    user = make_user("hematology", "dr-lopez")
    client.force_login(user)
    patient = build.patient(study_id="CP-101")

    response = client.get(f"/patients/{patient.pk}/", HTTP_USER_AGENT="Firefox/128", REMOTE_ADDR="10.1.2.3")

    assert response.status_code == 200
    entry, patients = only_entry()
    assert (entry.user, entry.username, entry.kind) == (user, "dr-lopez", "patient-page")
    assert (entry.record_type, entry.object_id, entry.path) == ("patient", str(patient.pk), f"/patients/{patient.pk}/")
    assert (entry.ip, entry.user_agent) == ("10.1.2.3", "Firefox/128")
    assert patients == ["CP-101"]
    assert entry.patients.get().patient_id == patient.pk


def test_the_patient_list_names_the_patients_of_the_page(client, make_user, build):
    client.force_login(make_user("hematology"))
    build.patient(study_id="CP-101", family_name="Rojas")
    build.patient(study_id="CP-102", family_name="Rojas")
    build.patient(study_id="CP-103", family_name="Vega")

    assert client.get("/patients/?q=Rojas").status_code == 200

    entry, patients = only_entry()
    assert entry.kind == "patient-list" and entry.path == "/patients/?q=Rojas"
    assert patients == ["CP-101", "CP-102"]


def test_history_pages_are_logged(client, make_user, build):
    client.force_login(make_user("hematology"))
    visit = build.visit(patient=build.patient(study_id="CP-101"))

    assert client.get(f"/records/visits/{visit.pk}/history/").status_code == 200

    entry, patients = only_entry()
    assert (entry.kind, entry.record_type, entry.object_id) == ("record-history", "visit", str(visit.pk))
    assert patients == ["CP-101"]


def test_edit_forms_are_logged_when_opened_not_when_saved(client, make_user, build):
    client.force_login(make_user("hematology"))
    procedure = build.procedure(product=build.product(harvest=build.harvest(patient=build.patient(study_id="CP-101"))))

    assert client.get(f"/records/procedures/{procedure.pk}/edit/").status_code == 200
    entry, patients = only_entry()
    assert (entry.kind, entry.object_id) == ("record-form", str(procedure.pk))
    assert entry.record_type == "intrathecalprocedure"
    assert patients == ["CP-101"]

    client.post(f"/records/procedures/{procedure.pk}/edit/", {"version": 1})
    assert AccessLog.objects.count() == 1


def test_refused_and_missing_reads_are_not_logged(client, make_user, build):
    patient = build.patient()
    client.force_login(make_user("research"))
    assert client.get(f"/patients/{patient.pk}/").status_code == 403
    client.force_login(make_user("hematology"))
    assert client.get("/patients/999999/").status_code == 404
    assert AccessLog.objects.count() == 0


# ---- the API ----------------------------------------------------------------------------


def test_an_identified_api_record_is_logged(api_as, build):
    client = api_as("hematology")
    visit = build.visit(patient=build.patient(study_id="CP-101"))

    response = client.get(f"/api/v1/visits/{visit.pk}/", REMOTE_ADDR="10.0.0.7")

    assert response.status_code == 200
    entry, patients = only_entry()
    assert (entry.user, entry.kind, entry.record_type, entry.object_id) == (
        client.user,
        "api-record",
        "visit",
        str(visit.pk),
    )
    assert entry.ip == "10.0.0.7" and patients == ["CP-101"]


def test_an_identified_api_list_is_one_entry_naming_the_patients_of_the_page(api_as, build):
    client = api_as("radiology")
    for study_id in ("CP-101", "CP-102", "CP-103"):
        build.visit(patient=build.patient(study_id=study_id))

    response = client.get("/api/v1/visits/?page_size=2")

    assert response.status_code == 200 and response.json()["count"] == 3
    shown = Patient.objects.filter(pk__in=[row["patient"] for row in response.json()["results"]])
    entry, patients = only_entry()
    assert entry.kind == "api-list" and entry.path == "/api/v1/visits/?page_size=2"
    assert len(patients) == 2 and patients == sorted(shown.values_list("study_id", flat=True))


def test_a_filtered_api_list_names_the_filtered_patient(api_as, build):
    client = api_as("hematology")
    patient = build.patient(study_id="CP-101")
    build.harvest(patient=patient)
    build.harvest(patient=build.patient(study_id="CP-102"))

    assert client.get(f"/api/v1/harvests/?patient={patient.pk}").status_code == 200

    entry, patients = only_entry()
    assert entry.record_type == "bonemarrowharvest" and patients == ["CP-101"]
    assert entry.path == f"/api/v1/harvests/?patient={patient.pk}"


def test_research_list_reads_are_logged_as_research_bulk_reads(api_as, build):
    client = api_as("research")
    build.patient(study_id="CP-101", gmfcs_level=3)
    build.patient(study_id="CP-102", gmfcs_level=4)

    response = client.get("/api/v1/patients/?gmfcs_level=3")

    assert response.status_code == 200 and response.json()["count"] == 1
    entry, patients = only_entry()
    assert (entry.user, entry.kind, entry.record_type) == (client.user, "research-list", "patient")
    assert entry.path == "/api/v1/patients/?gmfcs_level=3"
    assert patients == ["CP-101"]


def test_research_reads_of_one_de_identified_record_are_not_logged(api_as, build):
    patient = build.patient()
    assert api_as("research").get(f"/api/v1/patients/{patient.pk}/").status_code == 200
    assert AccessLog.objects.count() == 0


def test_instruments_name_no_patient_and_are_not_logged(api_as, reference_data):
    assert api_as("hematology").get("/api/v1/instruments/").status_code == 200
    assert AccessLog.objects.count() == 0


def listing_queries(client):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/patients/?page_size=100")
    assert response.status_code == 200
    writes = [q["sql"] for q in queries.captured_queries if "INSERT INTO" in q["sql"]]
    return len(queries.captured_queries), writes, response.json()["count"]


def test_listing_50_patients_writes_the_log_in_as_many_queries_as_listing_5(api_as, build):
    client = api_as("hematology")
    for _ in range(5):
        build.patient()
    few, few_writes, count = listing_queries(client)
    assert count == 5
    for _ in range(45):
        build.patient()

    many, many_writes, count = listing_queries(client)

    assert count == 50
    assert many == few
    # The entry and its 50 patients: one statement on PostgreSQL, two (one insert of all patients) elsewhere.
    assert len(many_writes) == len(few_writes) == (1 if connection.vendor == "postgresql" else 2)
    assert AccessLog.objects.first().patients.count() == 50


@pytest.mark.django_db(transaction=True)
def test_an_entry_is_written_whole_or_not_at_all(make_user, build, rf):
    """The entry and the patients it names are written together (one commit per read): when naming a
    patient fails, no entry without its patients is left behind."""
    request = rf.get("/patients/")
    request.user = make_user("hematology")
    named = build.patient(study_id="CP-101")
    refused = SimpleNamespace(pk=-1, study_id="CP-000")  # a patient id below zero breaks the column's check

    with pytest.raises(IntegrityError):
        audit.record_access(request, audit.Kind.PATIENT_LIST, patients=[named, refused])

    assert not AccessLog.objects.exists() and not AccessedPatient.objects.exists()
    audit.record_access(request, audit.Kind.PATIENT_LIST, patients=[named])
    assert only_entry()[1] == ["CP-101"]


# ---- reading the log --------------------------------------------------------------------


@pytest.fixture
def logged_reads(client, make_user, build):
    """dr-lopez opened CP-101 and CP-102, dr-vega opened CP-101."""
    lopez, vega = make_user("hematology", "dr-lopez"), make_user("radiology", "dr-vega")
    first, second = build.patient(study_id="CP-101"), build.patient(study_id="CP-102")
    for user, patient in ((lopez, first), (lopez, second), (vega, first)):
        client.force_login(user)
        assert client.get(f"/patients/{patient.pk}/").status_code == 200
    client.logout()
    return first


def test_registry_admins_read_the_log_through_the_api_newest_first(api_as, logged_reads):
    response = api_as("registry-admin").get("/api/v1/access-log/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3 and set(body) == {"count", "next", "previous", "results"}
    assert [(row["user"], [p["study_id"] for p in row["patients"]]) for row in body["results"]] == [
        ("dr-vega", ["CP-101"]),
        ("dr-lopez", ["CP-102"]),
        ("dr-lopez", ["CP-101"]),
    ]
    assert body["results"][0]["kind"] == "patient-page" and body["results"][0]["ip"] == "127.0.0.1"


def test_the_api_filters_by_patient_id_or_study_id_and_by_user(api_as, logged_reads):
    client = api_as("registry-admin")

    def users(query):
        response = client.get(f"/api/v1/access-log/?{query}")
        assert response.status_code == 200
        return [row["user"] for row in response.json()["results"]]

    assert users(f"patient={logged_reads.pk}") == ["dr-vega", "dr-lopez"]
    assert users("patient=cp-101") == ["dr-vega", "dr-lopez"]
    assert users("user=dr-lopez") == ["dr-lopez", "dr-lopez"]
    assert users("patient=CP-101&user=dr-lopez") == ["dr-lopez"]
    assert users("patient=CP-999") == []


def test_the_api_log_is_paginated(api_as, logged_reads):
    body = api_as("registry-admin").get("/api/v1/access-log/?page_size=2").json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]


def test_the_page_filters_by_study_id_and_user_name(client, make_user, logged_reads):
    client.force_login(make_user("registry-admin", "boss"))

    page = client.get("/access-log/?patient=CP-102&user=")
    assert page.status_code == 200
    rows = page.content.decode().split("<tbody>")[1]
    assert "CP-102" in rows and "CP-101" not in rows and "dr-lopez" in rows and "dr-vega" not in rows

    rows = client.get("/access-log/?user=dr-vega").content.decode().split("<tbody>")[1]
    assert "dr-vega" in rows and "dr-lopez" not in rows


def test_the_page_is_paginated_newest_first(client, make_user, build):
    admin_user = make_user("registry-admin", "boss")
    client.force_login(make_user("hematology", "dr-lopez"))
    patients = [build.patient(study_id=f"CP-{n:03d}") for n in range(1, 53)]
    for patient in patients:
        client.get(f"/patients/{patient.pk}/")
    client.force_login(admin_user)

    first = client.get("/access-log/?user=dr-lopez").content.decode()
    second = client.get("/access-log/?user=dr-lopez&page=2").content.decode()

    assert "1 / 2" in first and "CP-052" in first and "CP-001" not in first
    assert "CP-001" in second and "CP-052" not in second


def test_the_top_bar_links_the_page_for_registry_admins_only(client, make_user):
    client.force_login(make_user("registry-admin"))
    assert 'href="/access-log/"' in client.get("/patients/").content.decode()
    client.force_login(make_user("hematology"))
    assert 'href="/access-log/"' not in client.get("/patients/").content.decode()


# ---- nobody edits it, only registry-admins read it ---------------------------------------


@pytest.mark.parametrize("role", ["hematology", "radiology", "research"])
def test_other_roles_cannot_read_the_log(api_as, client, make_user, logged_reads, role):
    assert api_as(role).get("/api/v1/access-log/").status_code == 403
    client.force_login(make_user(role, f"page-{role}"))
    assert client.get("/access-log/").status_code == 403
    assert client.get("/admin/registry/accesslog/").status_code in (302, 403)


def test_anonymous_cannot_read_the_log(client, logged_reads):
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/access-log/").status_code == 401
    assert client.get("/access-log/").status_code == 302


def test_the_api_refuses_every_write(api_as, logged_reads):
    client = api_as("registry-admin")
    entry = AccessLog.objects.first()
    before = list(AccessLog.objects.values_list("pk", "username", "path"))

    assert client.post("/api/v1/access-log/", {"username": "x"}, format="json").status_code == 405
    assert client.put(f"/api/v1/access-log/{entry.pk}/", {"username": "x"}, format="json").status_code == 405
    assert client.patch(f"/api/v1/access-log/{entry.pk}/", {"username": "x"}, format="json").status_code == 405
    assert client.delete(f"/api/v1/access-log/{entry.pk}/").status_code == 405
    assert list(AccessLog.objects.values_list("pk", "username", "path")) == before


def test_the_admin_shows_the_log_and_offers_no_add_change_or_delete(client, make_user, logged_reads):
    user = make_user("registry-admin")
    client.force_login(user)
    entry = AccessLog.objects.first()
    model_admin = admin.site._registry[AccessLog]

    assert client.get("/admin/registry/accesslog/").status_code == 200
    assert client.get(f"/admin/registry/accesslog/{entry.pk}/change/").status_code == 200
    assert client.get("/admin/registry/accesslog/add/").status_code == 403
    assert client.post(f"/admin/registry/accesslog/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"/admin/registry/accesslog/{entry.pk}/change/", {"username": "x"}).status_code == 403
    request = type("Request", (), {"user": user})()
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, entry)
    assert not model_admin.has_delete_permission(request, entry)
    assert AccessLog.objects.count() == 3 and AccessLog.objects.get(pk=entry.pk).username == entry.username


def test_no_role_holds_a_permission_to_change_the_log(make_user):
    from django.contrib.auth.models import Permission

    codenames = set(Permission.objects.filter(content_type__app_label="registry").values_list("codename", flat=True))
    assert "view_accesslog" in codenames
    assert not {"add_accesslog", "change_accesslog", "delete_accesslog"} & codenames
    assert not {name for name in codenames if name.endswith("accessedpatient")}
    assert make_user("registry-admin").has_perm("registry.view_accesslog")


def test_a_stored_entry_cannot_be_saved_over_or_deleted(logged_reads):
    from django.core.exceptions import ValidationError

    entry = AccessLog.objects.first()
    entry.username = "someone-else"
    with pytest.raises(ValidationError):
        entry.save()
    with pytest.raises(ValidationError):
        entry.delete()
    assert AccessLog.objects.filter(username="someone-else").count() == 0
    assert AccessedPatient.objects.count() == 3


def test_the_page_speaks_spanish(client, make_user, logged_reads):
    client.force_login(make_user("registry-admin"))
    page = client.get("/access-log/", HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Registro de accesos" in page and "Página del paciente" in page and "Nombre de usuario" in page


@pytest.mark.parametrize("query", ["patient=99999999999999999999999", "patient=%00", "user=a%00b", "patient=%D9%A1"])
def test_odd_filters_match_nothing_rather_than_fail(api_as, logged_reads, query):
    response = api_as("registry-admin").get(f"/api/v1/access-log/?{query}")
    assert response.status_code == 200 and response.json()["count"] == 0
