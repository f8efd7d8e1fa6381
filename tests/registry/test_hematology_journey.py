"""In headless Chromium: hematology staff sign in, create a patient, a harvest, a product and a
procedure, and see the dose per kg on the patient page."""

from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def page(chromium):
    page = chromium.new_page(viewport={"width": 1200, "height": 900}, locale="en-US")
    page.set_default_timeout(15_000)
    return page


def test_hematology_records_a_treatment_and_sees_the_dose(page, sign_in):
    sign_in(page, "hematology", "dr-garza")
    page.get_by_role("link", name="New patient").click()

    page.fill("#id_study_id", "CP-101")
    page.fill("#id_given_name", "Emilia")
    page.fill("#id_family_name", "Navarro")
    page.fill("#id_mrn", "HU-55012")
    page.fill("#id_date_of_birth", "2019-04-12")
    page.select_option("#id_sex", "F")
    page.select_option("#id_cp_subtype", "spastic-diplegia")
    page.select_option("#id_etiology", "hie")
    page.select_option("#id_gmfcs_level", "3")
    page.click("form.record button[type=submit]")
    page.wait_for_selector("text=CP-101")
    assert "Emilia Navarro" in page.content()

    page.get_by_role("link", name="Harvest", exact=True).click()
    page.fill("#id_date", "2025-03-03")
    page.check("#id_gcsf_mobilized")
    page.fill("#id_gcsf_dose_mcg_per_kg_day", "10")
    page.fill("#id_volume_ml", "160")
    page.click("form.record button[type=submit]")
    page.wait_for_selector("text=Bone-marrow harvest")

    page.get_by_role("link", name="+ cell product").click()
    page.fill("#id_tnc_count", "3.2e9")
    page.fill("#id_cd34_count", "2.4×10^7")
    page.fill("#id_viability_percent", "96")
    page.click("form.record button[type=submit]")
    page.wait_for_selector("text=3.20 ×10⁹ TNC")

    page.get_by_role("link", name="Intrathecal procedure").click()
    page.select_option("#id_product", index=1)
    page.fill("#id_date", "2025-03-04")
    page.fill("#id_weight_kg", "16")
    page.fill("#id_volume_ml", "10")
    page.click("form.record button[type=submit]")

    dose = page.locator(".event.procedure .dose")
    dose.wait_for()
    assert dose.inner_text() == "TNC 2.00 ×10⁸/kg · CD34+ 1.50 ×10⁶/kg"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "patient-page.png"), full_page=True)


def test_a_mistake_in_the_form_is_explained_in_the_page(page, live_server, sign_in, build):
    patient = build.patient()
    sign_in(page, "hematology", "dr-garza")
    page.goto(f"{live_server.url}/patients/{patient.pk}/visits/new/")
    page.fill("#id_date", "2099-01-01")
    page.select_option("#id_kind", "follow-up")
    page.click("form.record button[type=submit]")
    assert page.locator(".field.invalid .error").inner_text() == "The date 2099-01-01 is in the future."
