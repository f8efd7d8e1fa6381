"""The rule that says whether a change since baseline is more than measurement error (FA: the
reliable-change criterion on the site's test–retest CV) or at least clinically important (GMFM-66:
the MCID at the patient's GMFCS level), at its boundaries."""

import math

import pytest

from registry.quantities import (
    Change,
    change_error,
    change_since_baseline,
    reliable_change_threshold,
)


def test_the_reliable_change_threshold_is_1_96_root_2_cv_baseline():
    # CV 2 %, baseline 0.45: 1.96 × 1.41421 × 0.02 × 0.45 = 0.024946
    assert reliable_change_threshold(0.45, 2.0) == pytest.approx(0.024946, abs=1e-6)
    assert reliable_change_threshold(0.45, 1.0) == pytest.approx(0.024946 / 2, abs=1e-6)
    assert reliable_change_threshold(None, 2.0) is None and reliable_change_threshold(0.45, None) is None


@pytest.mark.parametrize(
    "value, beyond",
    [
        (0.45 + 0.0249, False),  # just within 0.024946
        (0.45 + 0.0250, True),  # just beyond
        (0.45 - 0.0250, True),  # a fall beyond the error is marked too
        (0.45 - 0.0249, False),
        (0.45, False),
    ],
)
def test_an_fa_change_is_beyond_error_only_past_the_threshold(value, beyond):
    error, basis = change_error("fa", "FA white matter", 0.45, gmfcs_level=3, fa_cv_percent=2.0, mcid={})
    change = change_since_baseline(0.45, round(value, 4), error=error, basis=basis)
    assert basis == "test-retest" and change.beyond_error is beyond


def test_a_change_equal_to_its_error_is_within_it():
    assert Change(1.2, None, 1.2, "mcid").beyond_error is False
    assert Change(-1.2000001, None, 1.2, "mcid").beyond_error is True


def test_no_change_or_no_error_means_no_mark():
    assert Change(None, None, 0.02, "test-retest").beyond_error is None
    assert Change(0.5, 1.0).beyond_error is None


# A site's MCID figures (the registry ships none; see registry/quantities.py).
GMFM66_MCID = {1: 1.5, 2: 1.1, 3: 1.2}


@pytest.mark.parametrize("level", [1, 2, 3])
def test_gmfm66_is_judged_against_the_mcid_of_the_patient_s_level(level):
    mcid = GMFM66_MCID[level]
    error, basis = change_error(
        "score", "GMFM-66", 50.0, gmfcs_level=level, fa_cv_percent=2.0, mcid={"GMFM-66": GMFM66_MCID}
    )
    assert (error, basis) == (mcid, "mcid")
    assert change_since_baseline(50.0, 50.0 + mcid, error=error).beyond_error is False
    assert change_since_baseline(50.0, round(50.0 + mcid + 0.1, 1), error=error).beyond_error is True


def test_levels_and_instruments_without_a_published_figure_get_no_error():
    published = {"GMFM-66": GMFM66_MCID}
    assert change_error("score", "GMFM-66", 30.0, gmfcs_level=4, fa_cv_percent=2.0, mcid=published) == (None, "")
    assert change_error("score", "GMFM-88", 30.0, gmfcs_level=2, fa_cv_percent=2.0, mcid=published) == (None, "")
    assert change_error("md", "MD whole brain", 8e-4, gmfcs_level=2, fa_cv_percent=2.0, mcid=published) == (None, "")
    # a site's own GMFM-88 figure applies
    own = {"GMFM-88": {2: 3.0}}
    assert change_error("score", "GMFM-88", 60.0, gmfcs_level=2, fa_cv_percent=2.0, mcid=own) == (3.0, "mcid")


def test_every_region_s_fa_is_judged_on_its_own_baseline():
    error, basis = change_error("fa", "FA cst-l", 0.60, gmfcs_level=None, fa_cv_percent=2.0, mcid={})
    assert basis == "test-retest" and math.isclose(error, 1.96 * math.sqrt(2) * 0.02 * 0.60)


def test_without_a_site_figure_score_changes_carry_no_mark(settings):
    from registry.quantities import GMFM_MCID

    assert GMFM_MCID == {}  # no unchecked default ships
    assert change_error("score", "GMFM-66", 50.0, gmfcs_level=3, fa_cv_percent=2.0, mcid=GMFM_MCID) == (None, "")


def test_a_changed_site_figure_counts_at_the_next_change_read(settings):
    # Course.change reads the two settings once a process; a change of either (here the test's override)
    # must count at once, not after a restart.
    from registry.course import BASELINE, FOLLOW_UP, Course, CourseVisit, Measure

    def course_with(baseline, follow_up):
        visits = [
            CourseVisit(id=number, date=None, kind=kind, months=months, age_months=None)
            for number, kind, months in ((1, BASELINE, 0.0), (2, FOLLOW_UP, 6.0))
        ]
        for visit, value in zip(visits, (baseline, follow_up)):
            visit.measures = {"GMFM-66": Measure("GMFM-66", "score", "", value, "GMFM-66")}
        fields = dict.fromkeys(("study_id", "site", "sex", "cp_subtype", "etiology", "gestational_age_weeks"), "")
        return Course(patient_id=1, gmfcs_level=3, epilepsy=False, date_of_birth=None, visits=visits, **fields)

    settings.GMFM_MCID = {"GMFM-66": {3: 1.3}}
    course = course_with(50.0, 51.0)
    assert course.change(course.visits[1], "GMFM-66").error == 1.3
    settings.GMFM_MCID = {"GMFM-66": {3: 0.8}}
    assert course.change(course.visits[1], "GMFM-66").error == 0.8
    assert course.change(course.visits[1], "GMFM-66").beyond_error is True
    settings.FA_TEST_RETEST_CV_PERCENT = 1.0
    course.visits[1].measures["FA white matter"] = Measure("FA white matter", "fa", "", 0.46, "scan 1")
    course.visits[0].measures["FA white matter"] = Measure("FA white matter", "fa", "", 0.45, "scan 1")
    assert course.change(course.visits[1], "FA white matter").error == pytest.approx(0.024946 / 2, abs=1e-6)
