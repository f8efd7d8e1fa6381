"""A course's change since baseline, worked out on courses built in memory (no database)."""

import datetime as dt

from registry.course import Course, CourseVisit, Measure, VisitImaging
from registry.quantities import Change


def course_of(*visits):
    course = Course(1, "CP-001", "MAIN", "F", "mixed", "hie", 2, 38, False, dt.date(2018, 1, 1))
    course.visits = list(visits)
    return course


def visit(visit_id, kind, *measures, comparable=True):
    return CourseVisit(
        visit_id,
        dt.date(2024, 1, visit_id),
        kind,
        None,
        None,
        measures={measure.name: measure for measure in measures},
        imaging=VisitImaging(comparable=comparable),
    )


def test_the_baseline_is_the_first_visit_of_kind_baseline_wherever_it_stands():
    unscheduled = visit(1, "unscheduled", Measure("GMFM-88", "score", "%", 40.0))
    first = visit(2, "baseline", Measure("GMFM-88", "score", "%", 41.5))
    second = visit(3, "baseline", Measure("GMFM-88", "score", "%", 39.0))
    course = course_of(unscheduled, first, second)

    assert course.baseline is first
    assert course.baseline_value("GMFM-88") == 41.5
    assert course_of(unscheduled).baseline is None
    assert course_of(unscheduled).baseline_value("GMFM-88") is None


def test_no_change_at_the_baseline_for_a_missing_measure_or_an_excluded_scan():
    baseline = visit(1, "baseline", Measure("GMFM-88", "score", "%", 31.2), Measure("FA cst-l", "fa", "", 0.45))
    other_protocol = visit(
        2, "follow-up", Measure("GMFM-88", "score", "%", 38.6), Measure("FA cst-l", "fa", "", 0.5), comparable=False
    )
    course = course_of(baseline, other_protocol)

    assert course.change(baseline, "GMFM-88") == Change(None, None)
    assert course.change(other_protocol, "MACS") == Change(None, None)
    assert course.change(other_protocol, "FA cst-l") == Change(None, None, excluded=True)
    # Scores are no scan's: they keep their change, the difference of the values as written.
    assert course.change(other_protocol, "GMFM-88").change == 7.4
