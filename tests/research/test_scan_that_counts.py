"""One rule picks the scan that counts for a visit, and the patient page, the visit API and research agree on it."""

import pytest

from registry.roles import HEMATOLOGY


def fa_everywhere(as_role, researcher, exports, patient, visit):
    """The visit's white-matter FA on the patient page, in the visit API and in the research cohort and export."""
    page = as_role(HEMATOLOGY).get(f"/patients/{patient.pk}/").content.decode()
    api = as_role(HEMATOLOGY).get(f"/api/v1/visits/{visit.pk}/").json()["imaging"]
    counted = [item["fa_wm_mean"] for item in api if item["counts"]]
    rows = exports.read(researcher.get(f"{exports.cohort}?table=long&format=csv"), "csv")
    exported = [
        float(r["value"]) for r in rows if r["measure"] == "FA white matter" and r["timepoint"] and r["study_id"]
    ]
    table = researcher.get("/research/").context["fa_table"]
    shown = [f["value"] for row in table if row["measure"] == "FA white matter" for f in row["follow_ups"]]
    on_page = next((f for f in (0.45, 0.47, 0.52) if f"White-matter FA {f:.3f}" in page), None)
    return on_page, (counted or [None])[0], (exported or [None])[0], (shown or [None])[0]


@pytest.fixture
def course(cohort):
    return cohort.simple("CP-101", baseline_fa=0.40, follow_fa=0.45)


def test_a_scan_being_reprocessed_keeps_counting_everywhere(course, as_role, researcher, exports):
    scan = course.visits[1].scan
    scan.status, scan.progress = "running", 40  # reprocessing: the current result stays until replaced
    scan.save()
    assert fa_everywhere(as_role, researcher, exports, course.patient, course.visits[1].visit) == (0.45,) * 4


def test_a_newer_scan_marked_unusable_or_failing_qc_does_not_count(course, as_role, researcher, exports):
    visit = course.visits[1].visit
    exports.add_scan_result(visit, 0.52, usable=False, reason="motion")
    exports.add_scan_result(visit, 0.52, qc_passed=False)
    assert fa_everywhere(as_role, researcher, exports, course.patient, visit) == (0.45,) * 4


def test_the_newest_scan_with_a_current_result_counts(course, as_role, researcher, exports):
    visit = course.visits[1].visit
    exports.add_scan_result(visit, 0.47)
    exports.add_scan_result(visit, 0.52, status="queued")  # no result yet
    assert fa_everywhere(as_role, researcher, exports, course.patient, visit) == (0.47,) * 4


def test_usable_only_counts_only_scans_a_radiologist_marked_usable(course, researcher, exports):
    visit = course.visits[1].visit
    exports.add_scan_result(visit, 0.47, usable=True)
    exports.add_scan_result(visit, 0.52)  # newer but not reviewed
    rows = exports.read(researcher.get(f"{exports.cohort}?table=long&format=csv&usable_only=on"), "csv")
    values = {r["timepoint"]: float(r["value"]) for r in rows if r["measure"] == "FA white matter"}
    assert values == {"6m": 0.47}  # the baseline scan was never reviewed, so only the follow-up has FA


def test_a_scan_whose_qc_failed_counts_only_once_a_radiologist_marks_it_usable(course, as_role, researcher, exports):
    visit = course.visits[1].visit
    failed = exports.add_scan_result(visit, 0.52, qc_passed=False)  # newest, not reviewed
    assert fa_everywhere(as_role, researcher, exports, course.patient, visit) == (0.45,) * 4
    failed.usable, failed.usable_reason = True, "checked the maps by eye"  # the radiologist's review
    failed.save(update_fields=["usable", "usable_reason"])
    assert fa_everywhere(as_role, researcher, exports, course.patient, visit) == (0.52,) * 4
