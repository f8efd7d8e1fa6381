"""The linking page reads only the FA measure it shows, and finds the FA measures to choose from in the
database: the same names, in the same order, that a read of every measure of every scan that counts gives."""

import datetime as dt
import re

import pytest

from imaging.models import DiffusionResult, Region, RegionCarry, RoiMeasurement
from imaging.selectors import measures_in_full, visit_imaging
from registry.course import measures_provided, read_courses
from registry.roles import RESEARCH
from research.cohort import CohortFilter, courses, in_measure_order, measure_names

pytestmark = pytest.mark.django_db


def roi(scan, region, *, fa=0.5, md=0.0007, source="label-mask", result="current", carry=None):
    """A region measurement on ``scan``: on its current result, on none (result=None), or on ``result``."""
    if result == "current":
        result = scan.results.get(is_current=True)
    return RoiMeasurement.objects.create(
        scan=scan, result=result, region=Region.objects.get(code=region), fa=fa, md=md, source=source, carry=carry
    )


def carry(scan, source_scan, decision="pending", flagged=False):
    return RegionCarry.objects.create(
        scan=scan,
        result=scan.results.get(is_current=True),
        source_scan=source_scan,
        source_result=source_scan.results.get(is_current=True),
        similarity=0.9,
        flagged=flagged,
        decision=decision,
    )


@pytest.fixture
def scans(cohort, exports):
    """Two patients whose scans carry every case the rule of the scan that counts and of its regions knows."""
    one = cohort.simple("CP-1", baseline_fa=0.40, follow_fa=0.45)
    two = cohort.course(
        "CP-2",
        [
            (dt.date(2024, 1, 20), "baseline", {"GMFM-88": 40}, 0.41),
            (dt.date(2024, 8, 2), "follow-up", {"GMFM-88": 44}, None),
            (dt.date(2025, 8, 2), "follow-up", {"GMFM-88": 47}, 0.48),  # 18 months: outside months_max=12
        ],
    )
    base, follow = one.visits[0].scan, one.visits[1].scan
    roi(base, "cst-l", md=None)  # drawn, without MD
    roi(base, "cst-l", source="atlas", fa=0.6)  # the atlas's value (and MD) of a region drawn: not read
    roi(base, "wm", source="atlas", md=None)  # only from the atlas, without MD
    roi(base, "cc-body", source="manual", result=None)  # typed by a radiologist, on no result
    old = DiffusionResult.objects.create(scan=follow, is_current=False, folder="old", files={}, qc_passed=True, qc={})
    roi(follow, "cc-genu", result=old)  # measured on an earlier result of the scan: not read
    roi(follow, "plic-l", md=None)
    roi(follow, "cr-l", carry=carry(follow, base, decision="rejected"))  # a carry the radiologist rejected
    roi(follow, "cr-r", carry=carry(follow, base, flagged=True))  # flagged and not accepted
    roi(follow, "cp-l", carry=carry(follow, base, flagged=True, decision="accepted"))
    unusable = exports.add_scan_result(one.visits[1].visit, 0.50, usable=False)  # newer, marked unusable
    roi(unusable, "cp-r")
    failed = exports.add_scan_result(two.visits[1].visit, 0.50, qc_passed=False)  # QC failed, not reviewed
    roi(failed, "cc-splenium")
    reviewed = exports.add_scan_result(two.visits[0].visit, 0.42, usable=True)  # counts even with usable_only
    roi(reviewed, "plic-r", md=None)
    roi(two.visits[2].scan, "cst-r")
    DiffusionResult.objects.filter(scan=two.visits[2].scan).update(fa_mean=None, md_mean=None)
    return one, two


def every_measure(imagings):
    return {measure.name: measure.kind for imaging in imagings for measure in imaging.measures}


@pytest.mark.parametrize("usable_only", [False, True])
def test_the_measures_found_in_the_database_are_those_a_full_read_gives(scans, usable_only):
    visit_ids = [visit.visit.pk for course in scans for visit in course.visits]
    full = visit_imaging(visit_ids, usable_only=usable_only).values()
    named = visit_imaging(visit_ids, usable_only=usable_only, names=()).values()
    assert measures_in_full(named) == every_measure(full)
    assert not every_measure(named)  # nothing read, and the scans that count found all the same
    if usable_only:
        assert sorted(every_measure(full)) == ["FA plic-r", "FA white matter", "FA whole brain", "MD whole brain"]
    else:
        found = {name for name in every_measure(full) if name.startswith(("FA", "MD"))}
        assert found >= {"FA cst-l", "FA wm", "FA cc-body", "FA plic-l", "FA cp-l", "FA cst-r", "MD cst-r"}
        assert not found & {"MD cst-l", "MD wm", "FA cc-genu", "FA cr-l", "FA cr-r", "FA cp-r", "FA cc-splenium"}


def test_a_visit_read_with_some_names_has_those_measures_only_in_the_same_order(scans):
    visit_ids = [visit.visit.pk for course in scans for visit in course.visits]
    full = visit_imaging(visit_ids)
    for names in ({"FA cst-l"}, {"MD cst-l", "FA white matter"}, {"FA whole brain", "FA wm", "FA nowhere"}, set()):
        named = visit_imaging(visit_ids, names=names)
        assert named.keys() == full.keys()
        for visit_id, imaging in named.items():
            assert imaging.counted is full[visit_id].counted or imaging.counted.pk == full[visit_id].counted.pk
            assert imaging.comparable == full[visit_id].comparable
            assert imaging.measures == [m for m in full[visit_id].measures if m.name in names]


@pytest.mark.parametrize(
    "cohort_filter", [CohortFilter(), CohortFilter(months_max=12), CohortFilter(usable_only=True)], ids=str
)
def test_the_fa_measures_offered_are_those_of_every_measure_read(scans, cohort_filter):
    shown = courses(cohort_filter, instruments=(), measures=["FA white matter"])
    assert in_measure_order(measures_provided(shown)) == measure_names(courses(cohort_filter, instruments=()))


def test_the_linking_page_offers_the_fa_measures_of_the_scans_that_count_within_the_window(scans, signed_in_client):
    researcher = signed_in_client(RESEARCH)

    def offered(url):
        page = researcher.get(url).content.decode()
        return re.findall(
            r"<option( selected)?>([^<]+)</option>", re.search(r'<select name="fa">(.*?)</select>', page, re.S).group(1)
        )

    names = [name for _selected, name in offered("/research/linking/")]
    assert names[:2] == ["FA white matter", "FA cc-body"]
    assert "FA cst-r" in names and "FA cc-genu" not in names
    assert "FA cst-r" not in [name for _s, name in offered("/research/linking/?months_max=12")]
    assert (" selected", "FA plic-l") in offered("/research/linking/?fa=FA+plic-l")


def test_a_course_read_with_some_measures_has_their_values_and_every_score(scans):
    one, _two = scans
    (course,) = read_courses([one.patient.pk], measures=["FA cst-l"])
    assert [sorted(visit.measures) for visit in course.visits] == [["FA cst-l", "GMFM-88"], ["GMFM-88"]]
    assert course.visits[1].imaging.counted.pk == one.visits[1].scan.pk
