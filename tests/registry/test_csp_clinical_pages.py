"""Under the Content-Security-Policy (config/csp.py) every page of the clinical work, the admin and
the API's own pages work in Chromium with no CSP violation, no console error and no request that
leaves the server: the sign-in page, the patient list and page, record forms, history, the language
switcher, the admin index, the Swagger UI docs (its operation list drawn) and the browsable API.
The viewer and the research pages: tests/imaging/test_csp_viewer.py, tests/research/test_csp_research_pages.py.
"""

import datetime as dt

import pytest

from registry.roles import HEMATOLOGY, REGISTRY_ADMIN

pytestmark = [pytest.mark.browser]


@pytest.fixture
def course(build):
    """A patient with a harvest, product, procedure, adverse event, and a baseline and follow-up visit with scores."""
    procedure = build.procedure()
    build.adverse_event(procedure)
    patient = procedure.patient
    build.score(build.visit(patient, date=dt.date(2024, 1, 20), kind="baseline"), value=30)
    visit = build.visit(patient)
    build.score(visit, value=36)
    return patient, visit


def test_the_sign_in_page_works_under_the_policy(watched_browser):
    watched = watched_browser(None)
    watched.visit("/login/", ready="main form input[name=username]")
    assert watched.problems == []


def test_a_hematologist_works_through_the_patient_pages_under_the_policy(watched_browser, course):
    patient, visit = course
    watched = watched_browser(HEMATOLOGY, "dr-hemato")
    watched.visit("/patients/", ready=f"text={patient.study_id}")
    watched.visit(f"/patients/{patient.pk}/", ready="text=GMFM-88")
    watched.visit("/patients/new/", ready="main form button[type=submit]")
    watched.visit(f"/patients/{patient.pk}/visits/new/", ready="main form button[type=submit]")
    watched.visit(f"/records/visits/{visit.pk}/edit/", ready="main form button[type=submit]")
    watched.visit(f"/records/patients/{patient.pk}/history/", ready="main table")
    watched.visit(f"/records/visits/{visit.pk}/delete/", ready="main form button[type=submit]")

    # The language switcher submits on change from a script file (it was an onchange attribute).
    page = watched.visit("/patients/", ready="select[name=language]")
    page.select_option("select[name=language]", "es")
    page.wait_for_function("() => document.documentElement.lang === 'es'")
    watched.collect_violations()
    assert watched.problems == []


def test_the_api_docs_and_the_browsable_api_work_under_the_policy(watched_browser, course):
    watched = watched_browser(HEMATOLOGY, "dr-api")
    page = watched.visit("/api/docs/", ready="#swagger-ui .opblock-tag")
    assert page.locator("#swagger-ui .opblock").count() > 10, "Swagger UI listed no operations"
    page.locator("#swagger-ui .opblock-tag").first.click()  # a section folds and unfolds: the UI runs
    watched.collect_violations()

    page = watched.visit("/api/v1/patients/", ready=".response-info")
    assert course[0].study_id in page.inner_text(".response-info")
    page.click("text=Filters")  # Bootstrap's modal, from DRF's static scripts
    page.wait_for_selector("#filtersModal", state="visible")
    watched.collect_violations()
    assert watched.problems == []


def test_a_registry_admin_uses_the_admin_and_the_export_log_under_the_policy(watched_browser, course):
    watched = watched_browser(REGISTRY_ADMIN, "admin-browser")
    watched.visit("/admin/", ready="#content-main")
    watched.visit("/admin/registry/patient/", ready="#result_list")
    watched.visit(f"/admin/registry/patient/{course[0].pk}/change/", ready="#content-main form")
    watched.visit("/research/exports/", ready="main")
    assert watched.problems == []
