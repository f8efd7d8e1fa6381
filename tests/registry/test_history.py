"""History: every create, update and delete records who, when, and the values before and after."""

from decimal import Decimal

from registry.models import IntrathecalProcedure, Patient


def test_api_writes_are_recorded_with_their_author(build, hematology_api):
    procedure = build.procedure(weight_kg=Decimal("16"))
    response = hematology_api.patch(
        f"/api/v1/procedures/{procedure.pk}/", {"weight_kg": "17.5", "version": 1}, format="json"
    )
    assert response.status_code == 200, response.content
    latest = procedure.history.latest()
    assert latest.history_type == "~"
    assert latest.history_user == hematology_api.user
    delta = latest.diff_against(latest.prev_record)
    assert [(c.field, c.old, c.new) for c in delta.changes if c.field == "weight_kg"] == [
        ("weight_kg", Decimal("16.00"), Decimal("17.50"))
    ]


def test_deletes_are_recorded(build, hematology_api):
    event = build.adverse_event()
    response = hematology_api.delete(f"/api/v1/adverse-events/{event.pk}/?version=1")
    assert response.status_code == 204
    assert event.history.model.objects.filter(id=event.pk, history_type="-").get().history_user == hematology_api.user


def test_page_edits_are_recorded_and_shown_on_the_history_page(build, client, make_user):
    user = make_user("hematology", "dr-lopez")
    client.force_login(user)
    patient = build.patient(gmfcs_level=3)
    data = {
        field: getattr(patient, field)
        for field in ["study_id", "given_name", "family_name", "mrn", "sex", "cp_subtype", "etiology"]
    }
    data.update(date_of_birth=patient.date_of_birth.isoformat(), gmfcs_level=4, version=1)
    response = client.post(f"/records/patients/{patient.pk}/edit/", data)
    assert response.status_code == 302
    assert Patient.objects.get(pk=patient.pk).gmfcs_level == 4

    page = client.get(f"/records/patients/{patient.pk}/history/").content.decode()
    assert "Changed" in page and "Created" in page
    assert "dr-lopez" in page
    changed_section = page.split("Changed", 1)[1].split("Created", 1)[0]
    assert "GMFCS level at enrolment" in changed_section
    assert ">3<" in changed_section and ">4<" in changed_section
    # Fields that did not change are not listed as changes.
    assert "Family name" not in changed_section


def test_history_names_related_records_and_choices(build, client, make_user):
    client.force_login(make_user("hematology"))
    procedure = build.procedure(sedation="general")
    page = client.get(f"/records/procedures/{procedure.pk}/history/").content.decode()
    assert procedure.patient.study_id in page
    assert "General anaesthesia" in page


def test_a_refused_write_leaves_no_history(build, hematology_api):
    procedure = build.procedure()
    before = IntrathecalProcedure.history.count()
    response = hematology_api.patch(
        f"/api/v1/procedures/{procedure.pk}/", {"weight_kg": "999", "version": 1}, format="json"
    )
    assert response.status_code == 400
    assert IntrathecalProcedure.history.count() == before
