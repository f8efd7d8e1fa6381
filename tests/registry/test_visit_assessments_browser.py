"""In headless Chromium: hematology open the visits due, enter a six-instrument visit on one form with
Modified Ashworth "1+" per muscle group and a score recorded as missing, and see it on the patient page."""

import datetime as dt

import pytest

from registry.models import Score, Visit, today

pytestmark = [pytest.mark.browser]


@pytest.fixture
def page(chromium):
    page = chromium.new_page(viewport={"width": 1200, "height": 900}, locale="en-US")
    page.set_default_timeout(15_000)
    return page


def test_hematology_enter_a_whole_visit_on_one_form_and_see_it_on_the_patient_page(page, sign_in, build, live_server):
    procedure = build.procedure(date=today() - dt.timedelta(days=200))
    patient = procedure.patient
    build.visit(patient=patient, date=procedure.date - dt.timedelta(days=7), kind="baseline")
    sign_in(page, "hematology", "dr-navarro")

    page.get_by_role("link", name="Visits due").click()
    page.wait_for_selector("text=Visits due and overdue")
    row = page.locator("tr", has_text="6 months")
    assert patient.study_id in row.inner_text() and "due now" in row.inner_text()
    row.get_by_role("link", name="Enter the visit").click()
    page.wait_for_selector("#instrument-MAS")

    page.fill("#id_date", today().isoformat())
    page.fill('[name="assessor"]', "Physiotherapy team")
    page.fill('[name="GMFM-88-value"]', "55.5")
    page.fill('[name="GMFM-66-value"]', "48.2")
    page.select_option('[name="GMFCS-value"]', "III")
    page.select_option('[name="MACS-value"]', "II")
    page.select_option('[name="CFCS-missing"]', "refused")
    page.select_option('[name="MAS.hamstrings.left-value"]', "1+")
    page.select_option('[name="MAS.hamstrings.right-value"]', "2")
    page.click("form.assessments button[type=submit]")

    page.wait_for_url(lambda url: f"/patients/{patient.pk}/" in url)
    visit = Visit.objects.get(patient=patient, kind="follow-up")
    assert page.url.endswith(f"#visit-{visit.pk}")
    entry = page.locator(f"#visit-{visit.pk}")
    text = entry.inner_text()
    assert "timepoint: 6 months" in text
    assert "MAS hamstrings left\t1+" in text
    assert "GMFCS\tIII" in text
    assert "missing: refused" in text
    # ... and in its trajectory: the hamstrings chart has the left side's 1+ at 6 months.
    chart = page.locator("figure.trajectory", has=page.locator("h3", has_text="MAS, hamstrings"))
    left = chart.locator('g.series[data-name="left"] circle.point')
    assert left.count() == 1 and left.first.get_attribute("data-y") == "1.5"
    assert "1+" in left.first.locator("title").text_content()
    stored = {
        (score.instrument.code, score.muscle.code if score.muscle else "", score.side): (score.value, score.missing)
        for score in Score.objects.filter(visit=visit).select_related("instrument", "muscle")
    }
    assert len(stored) == 7
    assert stored[("MAS", "hamstrings", "left")][0] == 1.5
    assert stored[("CFCS", "", "")] == (None, "refused")
