"""Several centres share one registry: each role against each site's records, on every page and API
endpoint of the registry. Staff see and edit only their own sites' patients (another site's record is
a 404, as if it did not exist); research sees every site, de-identified, with the site; registry-admins
see all."""

import pytest
from django.db import IntegrityError, transaction
from knox.models import AuthToken
from rest_framework.test import APIClient

from registry import selectors
from registry.models import BoneMarrowHarvest, Patient, Site, SiteMembership, Visit
from tests.conftest import Build

RESOURCES = ["patients", "harvests", "products", "procedures", "adverse-events", "visits", "scores"]
# Page kinds (records/<kind>/<pk>/...) with the record of each kind in a course.
KINDS = {
    "patients": "patient",
    "harvests": "harvest",
    "products": "product",
    "procedures": "procedure",
    "adverse-events": "adverse_event",
    "visits": "visit",
    "scores": "score",
}


class Course(dict):
    """One record of every kind for one patient: {"patient": ..., "harvest": ..., ...}."""


def course_at(site, study_id, mrn):
    build = Build()
    patient = build.patient(site=site, study_id=study_id, mrn=mrn)
    harvest = build.harvest(patient=patient)
    product = build.product(harvest=harvest)
    procedure = build.procedure(product=product)
    visit = build.visit(patient=patient)
    return Course(
        patient=patient,
        harvest=harvest,
        product=product,
        procedure=procedure,
        adverse_event=build.adverse_event(procedure=procedure),
        visit=visit,
        score=build.score(visit=visit),
    )


@pytest.fixture
def sites(reference_data):
    """Two centres, each with one patient and one record of every kind: {"A": Course, "B": Course}."""
    first, second = Site.default(), Site.objects.create(code="NORTE", name="Hospital del Norte")
    return {
        "A": course_at(first, "CP-100", "MRN-A"),
        "B": course_at(second, "CP-200", "MRN-B"),
        "sites": {"A": first, "B": second},
    }


@pytest.fixture
def api_at(make_user, sites):
    """`api_at(role, site)`: an API client (token) of a fresh account of `role` in site "A" or "B"
    (None: no site)."""

    def client_for(role, site="A"):
        user = make_user(role, f"api-{role}-{site}", sites=[sites["sites"][site]] if site else [])
        client = APIClient()
        _token, key = AuthToken.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
        client.user = user
        return client

    return client_for


@pytest.fixture
def page_at(client, make_user, sites):
    """`page_at(role, site)`: the test client signed in as a fresh account of `role` in site "A" or "B"."""

    def sign_in(role, site="A"):
        client.force_login(make_user(role, f"{role}-{site}", sites=[sites["sites"][site]] if site else []))
        return client

    return sign_in


def ids(response):
    assert response.status_code == 200, response.content[:500]
    return {row["id"] for row in response.json()["results"]}


# ---- who sees what ----------------------------------------------------------------------------


def test_visible_patients_decides_per_account(sites, make_user):
    a, b = sites["A"]["patient"], sites["B"]["patient"]
    assert list(selectors.visible_patients(make_user("hematology", "h-a", sites=[sites["sites"]["A"]]))) == [a]
    assert list(selectors.visible_patients(make_user("radiology", "r-b", sites=[sites["sites"]["B"]]))) == [b]
    both = make_user("hematology", "h-ab", sites=list(sites["sites"].values()))
    assert set(selectors.visible_patients(both)) == {a, b}
    assert list(selectors.visible_patients(make_user("hematology", "h-none", sites=[]))) == []
    assert set(selectors.visible_patients(make_user("research", "res"))) == {a, b}
    assert set(selectors.visible_patients(make_user("registry-admin", "adm"))) == {a, b}


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("role", ["hematology", "radiology"])
@pytest.mark.parametrize("site,other", [("A", "B"), ("B", "A")])
def test_staff_api_lists_hold_only_their_sites_records(api_at, sites, role, site, other, resource):
    kind = KINDS[resource]
    client = api_at(role, site)
    assert ids(client.get(f"/api/v1/{resource}/")) == {sites[site][kind].pk}
    other_patient = sites[other]["patient"].pk
    assert ids(client.get(f"/api/v1/{resource}/?patient={other_patient}")) == set()


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("role", ["hematology", "radiology"])
def test_staff_api_reads_of_another_sites_record_are_404(api_at, sites, role, resource):
    kind = KINDS[resource]
    client = api_at(role, "A")
    assert client.get(f"/api/v1/{resource}/{sites['A'][kind].pk}/").status_code == 200
    assert client.get(f"/api/v1/{resource}/{sites['B'][kind].pk}/").status_code == 404


def test_an_account_in_no_site_sees_no_patient(api_at, page_at, sites):
    client = api_at("hematology", None)
    for resource in RESOURCES:
        assert ids(client.get(f"/api/v1/{resource}/")) == set()
    page = page_at("hematology", None).get("/patients/")
    assert page.status_code == 200 and "CP-100" not in page.content.decode() and "CP-200" not in page.content.decode()


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("role", ["research", "registry-admin"])
def test_research_and_registry_admins_see_every_site(api_at, sites, role, resource):
    kind = KINDS[resource]
    client = api_at(role, None)
    assert ids(client.get(f"/api/v1/{resource}/")) == {sites["A"][kind].pk, sites["B"][kind].pk}
    assert client.get(f"/api/v1/{resource}/{sites['B'][kind].pk}/").status_code == 200


def test_research_sees_the_site_code_of_each_patient_and_no_identifier(api_at, sites):
    rows = api_at("research", None).get("/api/v1/patients/").json()["results"]
    assert {row["study_id"]: row["site"] for row in rows} == {"CP-100": "MAIN", "CP-200": "NORTE"}
    assert not {"given_name", "family_name", "mrn", "date_of_birth"} & set(rows[0])


def test_staff_see_the_site_of_their_patients(api_at, sites):
    body = api_at("hematology", "B").get(f"/api/v1/patients/{sites['B']['patient'].pk}/").json()
    assert body["site"] == "NORTE" and body["mrn"] == "MRN-B"


# ---- writes through the API ---------------------------------------------------------------------


@pytest.mark.parametrize("resource", RESOURCES)
def test_staff_cannot_change_or_delete_another_sites_record(api_at, sites, resource):
    kind = KINDS[resource]
    record = sites["B"][kind]
    client = api_at("hematology", "A")
    assert client.patch(f"/api/v1/{resource}/{record.pk}/", {"version": 1}, format="json").status_code == 404
    assert client.delete(f"/api/v1/{resource}/{record.pk}/", HTTP_IF_MATCH='"1"').status_code == 404
    record.refresh_from_db()
    assert record.version == 1


@pytest.mark.parametrize(
    "resource,field,payload",
    [
        ("harvests", "patient", lambda b: {"patient": b["patient"].pk, "date": "2024-02-01", "volume_ml": "100"}),
        (
            "products",
            "harvest",
            lambda b: {"harvest": b["harvest"].pk, "tnc_count": 10**9, "viability_percent": "90"},
        ),
        (
            "procedures",
            "patient",
            lambda b: {
                "patient": b["patient"].pk,
                "product": b["product"].pk,
                "date": "2024-02-02",
                "weight_kg": "15",
                "volume_ml": "5",
            },
        ),
        (
            "adverse-events",
            "procedure",
            lambda b: {"procedure": b["procedure"].pk, "onset_date": "2024-02-03", "term": "Headache", "grade": 1},
        ),
        ("visits", "patient", lambda b: {"patient": b["patient"].pk, "date": "2024-09-01", "kind": "follow-up"}),
        ("scores", "visit", lambda b: {"visit": b["visit"].pk, "instrument": "GMFCS", "value": 3}),
    ],
)
def test_a_record_posted_for_another_sites_patient_is_refused_naming_the_field(api_at, sites, resource, field, payload):
    client = api_at("hematology", "A")
    model_counts = {kind: type(record).objects.count() for kind, record in sites["B"].items()}
    response = client.post(f"/api/v1/{resource}/", payload(sites["B"]), format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert {kind: type(record).objects.count() for kind, record in sites["B"].items()} == model_counts
    # The same record for the account's own patient is stored.
    assert client.post(f"/api/v1/{resource}/", payload(sites["A"]), format="json").status_code == 201


def test_a_visit_cannot_be_moved_to_another_sites_patient(api_at, sites):
    visit = sites["A"]["visit"]
    response = api_at("hematology", "A").patch(
        f"/api/v1/visits/{visit.pk}/", {"patient": sites["B"]["patient"].pk, "version": 1}, format="json"
    )
    assert response.status_code == 400 and "patient" in response.json()
    visit.refresh_from_db()
    assert visit.patient == sites["A"]["patient"] and visit.version == 1


PATIENT = {
    "study_id": "CP-300",
    "given_name": "Lucía",
    "family_name": "Ortega",
    "mrn": "MRN-300",
    "date_of_birth": "2019-05-01",
    "sex": "F",
    "cp_subtype": "spastic-diplegia",
    "etiology": "hie",
    "gmfcs_level": 2,
}


def test_a_staff_account_of_one_site_creates_patients_in_it(api_at, sites):
    response = api_at("hematology", "B").post("/api/v1/patients/", PATIENT, format="json")
    assert response.status_code == 201 and response.json()["site"] == "NORTE"
    assert Patient.objects.get(study_id="CP-300").site == sites["sites"]["B"]


def test_a_staff_account_cannot_create_a_patient_in_another_site(api_at, sites):
    response = api_at("hematology", "A").post("/api/v1/patients/", {**PATIENT, "site": "NORTE"}, format="json")
    assert response.status_code == 400 and "NORTE" in response.json()["site"][0]
    assert not Patient.objects.filter(study_id="CP-300").exists()


def test_a_staff_account_cannot_move_its_patient_to_another_site(api_at, sites):
    patient = sites["A"]["patient"]
    response = api_at("hematology", "A").patch(
        f"/api/v1/patients/{patient.pk}/", {"site": "NORTE", "version": 1}, format="json"
    )
    assert response.status_code == 400 and "site" in response.json()
    patient.refresh_from_db()
    assert patient.site.code == "MAIN"


def test_an_account_of_two_sites_says_which(api_at, make_user, sites):
    user = make_user("hematology", "two-sites", sites=list(sites["sites"].values()))
    client = APIClient()
    client.force_authenticate(user)
    response = client.post("/api/v1/patients/", PATIENT, format="json")
    assert response.status_code == 400 and "site" in response.json()
    response = client.post("/api/v1/patients/", {**PATIENT, "site": "NORTE"}, format="json")
    assert response.status_code == 201 and Patient.objects.get(study_id="CP-300").site.code == "NORTE"


def test_registry_admins_create_patients_in_any_site(api_at, sites):
    client = api_at("registry-admin", None)
    assert client.post("/api/v1/patients/", PATIENT, format="json").status_code == 400  # two sites: say which
    response = client.post("/api/v1/patients/", {**PATIENT, "site": "NORTE"}, format="json")
    assert response.status_code == 201 and Patient.objects.get(study_id="CP-300").site.code == "NORTE"


def test_study_ids_are_unique_across_sites(api_at, sites):
    response = api_at("hematology", "B").post("/api/v1/patients/", {**PATIENT, "study_id": "CP-100"}, format="json")
    assert response.status_code == 400 and "study_id" in response.json()
    assert Patient.objects.filter(study_id="CP-100").count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.create(site=sites["sites"]["B"], **{**PATIENT, "study_id": "CP-100"})


# ---- pages ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["hematology", "radiology"])
@pytest.mark.parametrize("site,other", [("A", "B"), ("B", "A")])
def test_the_patient_list_and_search_show_only_own_sites(page_at, sites, role, site, other):
    client = page_at(role, site)
    own, theirs = sites[site]["patient"], sites[other]["patient"]
    page = client.get("/patients/").content.decode()
    assert f"/patients/{own.pk}/" in page and f"/patients/{theirs.pk}/" not in page
    for query in (theirs.study_id, theirs.mrn, theirs.family_name):
        found = client.get("/patients/", {"q": query})
        assert found.status_code == 200 and f"/patients/{theirs.pk}/" not in found.content.decode()
    assert f"/patients/{own.pk}/" in client.get("/patients/", {"q": own.mrn}).content.decode()


@pytest.mark.parametrize("role", ["registry-admin"])
def test_registry_admins_list_every_site_with_its_code(page_at, sites, role):
    page = page_at(role, None).get("/patients/").content.decode()
    assert "CP-100" in page and "CP-200" in page and "NORTE" in page and "MAIN" in page


@pytest.mark.parametrize("role", ["hematology", "radiology"])
def test_another_sites_patient_page_and_history_are_404(page_at, sites, role):
    client = page_at(role, "A")
    assert client.get(f"/patients/{sites['A']['patient'].pk}/").status_code == 200
    assert client.get(f"/patients/{sites['B']['patient'].pk}/").status_code == 404
    for kind, key in KINDS.items():
        assert client.get(f"/records/{kind}/{sites['A'][key].pk}/history/").status_code == 200
        assert client.get(f"/records/{kind}/{sites['B'][key].pk}/history/").status_code == 404


@pytest.mark.parametrize("kind", list(KINDS))
def test_another_sites_record_cannot_be_edited_or_deleted_on_the_pages(page_at, sites, kind):
    client = page_at("hematology", "A")
    own, theirs = sites["A"][KINDS[kind]], sites["B"][KINDS[kind]]
    assert client.get(f"/records/{kind}/{own.pk}/edit/").status_code == 200
    assert client.get(f"/records/{kind}/{theirs.pk}/edit/").status_code == 404
    assert client.post(f"/records/{kind}/{theirs.pk}/edit/", {"version": 1}).status_code == 404
    assert client.get(f"/records/{kind}/{theirs.pk}/delete/").status_code == 404
    assert client.post(f"/records/{kind}/{theirs.pk}/delete/", {"version": 1}).status_code == 404
    assert type(theirs).objects.filter(pk=theirs.pk, version=1).exists()


@pytest.mark.parametrize("kind", ["harvests", "procedures", "visits", "products", "adverse-events", "scores"])
def test_records_cannot_be_added_to_another_sites_patient_on_the_pages(page_at, sites, kind):
    client = page_at("hematology", "A")
    assert client.get(f"/patients/{sites['A']['patient'].pk}/{kind}/new/").status_code == 200
    assert client.get(f"/patients/{sites['B']['patient'].pk}/{kind}/new/").status_code == 404
    before = Visit.objects.count(), BoneMarrowHarvest.objects.count()
    response = client.post(
        f"/patients/{sites['B']['patient'].pk}/{kind}/new/", {"date": "2024-09-01", "kind": "follow-up"}
    )
    assert response.status_code == 404
    assert (Visit.objects.count(), BoneMarrowHarvest.objects.count()) == before


PAGE_PATIENT = {**PATIENT, "date_of_birth": "2019-05-01"}


def test_the_patient_form_of_a_one_site_account_puts_the_patient_in_its_site(page_at, sites):
    client = page_at("hematology", "B")
    form = client.get("/patients/new/").content.decode()
    assert 'name="site"' in form and "disabled" in form.split('name="site"')[1].split(">")[0]
    response = client.post("/patients/new/", {**PAGE_PATIENT, "site": sites["sites"]["A"].pk})
    assert response.status_code == 302
    assert Patient.objects.get(study_id="CP-300").site == sites["sites"]["B"]


def test_the_patient_form_offers_only_the_accounts_sites(client, make_user, sites):
    third = Site.objects.create(code="SUR", name="Hospital del Sur")
    user = make_user("hematology", "two-sites", sites=[sites["sites"]["B"], third])
    client.force_login(user)
    form = client.get("/patients/new/").content.decode()
    assert "NORTE" in form and "SUR" in form and "MAIN" not in form
    response = client.post("/patients/new/", {**PAGE_PATIENT, "site": sites["sites"]["A"].pk})
    assert response.status_code == 200 and "Choose one of your own sites" in response.content.decode()
    assert not Patient.objects.filter(study_id="CP-300").exists()
    assert client.post("/patients/new/", {**PAGE_PATIENT, "site": third.pk}).status_code == 302
    assert Patient.objects.get(study_id="CP-300").site == third


# ---- sites keep history, and memberships ------------------------------------------------------


def test_sites_and_memberships_keep_history(sites, make_user):
    site = sites["sites"]["B"]
    site.name = "Hospital Universitario del Norte"
    site.save()
    assert [entry.name for entry in site.history.order_by("history_date")] == [
        "Hospital del Norte",
        "Hospital Universitario del Norte",
    ]
    user = make_user("hematology", "member", sites=[site])
    SiteMembership.objects.get(user=user).delete()
    assert [entry.history_type for entry in SiteMembership.history.filter(user_id=user.pk)] == ["-", "+"]


def test_a_site_with_patients_cannot_be_deleted(sites):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        sites["sites"]["B"].delete()
    assert Site.objects.filter(code="NORTE").exists()


def test_registry_admins_manage_sites_in_the_admin(page_at, sites, make_user):
    client = page_at("registry-admin", None)
    assert client.get("/admin/registry/site/").status_code == 200
    member = make_user("hematology", "new-member", sites=[])
    response = client.post(
        "/admin/registry/site/add/",
        {
            "code": "SUR",
            "name": "Hospital del Sur",
            "memberships-TOTAL_FORMS": 1,
            "memberships-INITIAL_FORMS": 0,
            "memberships-0-user": member.pk,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(Site.objects.get(code="SUR").memberships.values_list("user__username", flat=True)) == ["new-member"]
    bad = client.post("/admin/registry/site/add/", {"code": "no good", "name": "x", "memberships-TOTAL_FORMS": 0})
    assert bad.status_code == 200 and not Site.objects.filter(name="x").exists()


def test_hematology_cannot_manage_sites_in_the_admin(page_at, sites):
    refused = page_at("hematology", "A").get("/admin/registry/site/")
    assert refused.status_code == 302 and refused.url.startswith("/admin/login/")


def test_the_default_site_is_the_one_existing_patients_were_given(sites, settings):
    assert Site.default().code == settings.DEFAULT_SITE_CODE == "MAIN"
    assert sites["A"]["patient"].site.name == settings.DEFAULT_SITE_NAME


def test_a_filter_by_another_sites_record_answers_as_for_a_missing_one(api_at, sites):
    client = api_at("hematology", "A")
    theirs = client.get(f"/api/v1/products/?harvest={sites['B']['harvest'].pk}")
    missing = client.get("/api/v1/products/?harvest=999999")
    assert theirs.status_code == missing.status_code == 400 and "harvest" in theirs.json()
    assert ids(client.get(f"/api/v1/products/?harvest={sites['A']['harvest'].pk}")) == {sites["A"]["product"].pk}
