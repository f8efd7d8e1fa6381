"""In Chromium: an investigator signs a visit from the patient page, answers a query, and the pages
then show the lock, with no CSP violation, console error or request leaving the server."""

import datetime as dt

import pytest

from registry import quality
from registry.models import Query, Signature
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser]


def test_an_investigator_signs_a_visit_and_answers_a_query_in_the_browser(watched_browser, build):
    procedure = build.procedure()
    patient = procedure.patient
    visit = build.visit(patient, date=dt.date(2024, 8, 2))
    build.score(visit)
    quality.check_patients([patient.pk])  # no baseline: a rule's query on the procedure
    query = Query.objects.get(patient=patient, rule="no-baseline")

    watched = watched_browser("hematology-lead", "dr-lead")
    page = watched.visit(f"/patients/{patient.pk}/", ready="text=Sign this visit…")
    page.click("text=Sign this visit…")
    page.wait_for_selector("main .meaning")
    page.check("input[name=acknowledge]")
    page.fill("input[name=password]", PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_selector("text=signed by dr-lead")
    assert Signature.objects.get(visit=visit).signer_name == "dr-lead"

    page = watched.visit(f"/queries/{query.pk}/", ready="textarea[name=text]")
    page.fill("#answer-text", "Baseline was done at the referring centre.")
    page.click("form[action$='/answer/'] button[type=submit]")
    page.wait_for_selector("text=answered")
    query.refresh_from_db()
    assert query.status == "answered"

    watched.visit("/queries/?status=answered", ready=f"text={patient.study_id}")
    watched.collect_violations()
    assert watched.problems == []
