"""The read model of patients' courses: the one place every page, API answer, statistic and export reads facts from.

For a set of patients it loads, in a fixed number of queries, their procedures with doses, their
visits with months since the first procedure, age and scheduled timepoint, their scores, and what
the add-on apps contribute per visit (imaging: the scan that counts and its FA). Every number is
computed by :mod:`registry.quantities`.

Add-ons contribute per-visit measures through :func:`provide_visit_measures` (called from their
AppConfig.ready), so this module names none of them.
"""

import gc
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from functools import lru_cache, wraps
from typing import NamedTuple

from django.conf import settings
from django.core.signals import setting_changed
from django.db.models import Min
from django.dispatch import receiver
from django.utils.translation import gettext as _

from registry import quantities
from registry.lookups import Ids
from registry.models import (
    BASELINE_TIMEPOINT,
    Instrument,
    IntrathecalProcedure,
    Patient,
    ScheduledTimepoint,
    Score,
    Visit,
)

# The headline imaging measure: an imaging add-on provides it per visit from the scan that counts.
FA_WHITE_MATTER = "FA white matter"
# Visit kinds as plain strings: compared once per visit of a cohort.
BASELINE, FOLLOW_UP = str(Visit.Kind.BASELINE.value), str(Visit.Kind.FOLLOW_UP.value)


@dataclass(frozen=True)
class Timepoint:
    """A visit of the protocol's schedule (registry.models.ScheduledTimepoint): ``months`` after the
    first procedure, from ``before`` to ``after`` ``unit`` (calendar months or days) around that target."""

    code: str
    months: int
    before: int
    after: int
    unit: str = "months"

    @property
    def is_baseline(self):
        return self.code == BASELINE_TIMEPOINT

    @property
    def label(self):
        if self.is_baseline:
            return _("Baseline")
        return _("%(months)s months") % {"months": self.months}

    @property
    def window_label(self):
        """The window in words: "±1 month", "30 days before to 0 days after"."""
        units = {"months": (_("month"), _("months")), "days": (_("day"), _("days"))}[self.unit]
        if self.before == self.after:
            return _("±%(n)s %(unit)s") % {"n": self.before, "unit": units[self.before != 1]}
        return _("%(before)s %(before_unit)s before to %(after)s %(after_unit)s after") % {
            "before": self.before,
            "before_unit": units[self.before != 1],
            "after": self.after,
            "after_unit": units[self.after != 1],
        }

    def target(self, first_procedure_date):
        return quantities.add_months(first_procedure_date, self.months)

    def bounds(self, first_procedure_date):
        """The first and last date of the window."""
        return quantities.window_bounds(first_procedure_date, self.months, self.before, self.after, self.unit)

    def contains(self, first_procedure_date, date):
        start, end = self.bounds(first_procedure_date)
        return start <= date <= end


def schedule():
    """The protocol's schedule as registry-admins keep it, baseline first then by months (one query)."""
    rows = ScheduledTimepoint.objects.order_by("months", "code")
    return tuple(
        Timepoint(code, months, before, after, unit)
        for code, months, before, after, unit in rows.values_list(
            "code", "months", "window_before", "window_after", "window_unit"
        )
    )


def follow_up_schedule(timepoints=None):
    """The scheduled follow-ups (every timepoint but the baseline)."""
    return tuple(
        timepoint for timepoint in (schedule() if timepoints is None else timepoints) if not timepoint.is_baseline
    )


def expected_instruments(timepoint_code):
    """The codes of the instruments the schedule expects at ``timepoint_code`` (e.g. "6m", "baseline"),
    in alphabetical order; [] for a code the schedule does not have (an unscheduled visit)."""
    rows = Instrument.objects.filter(timepoints__code=timepoint_code).order_by("code")
    return list(rows.values_list("code", flat=True))


def assign_timepoints(first_procedure_date, visits, timepoints=None):
    """Which visit fills each scheduled follow-up: ``{visit_id: timepoint code}``.

    ``visits``: (id, date, kind) of one patient; ``timepoints``: the schedule (read when not given).
    Only follow-up visits fill a follow-up (never an unscheduled one, never the baseline); each
    follow-up takes the follow-up visit nearest to its target date inside its window (the earlier one
    on a tie), so an extra visit never displaces the assessment that was made on schedule. Visits
    outside every window fill none: they are flagged, never moved to the nearest timepoint.
    """
    if first_procedure_date is None:
        return {}
    return _assign(_windows(first_procedure_date, follow_up_schedule(timepoints)), visits)


def _assign(windows, visits):
    """assign_timepoints over the follow-ups' windows (as _windows gives them) of one patient."""
    follow_ups = sorted((date, visit_id) for visit_id, date, kind in visits if kind == FOLLOW_UP)
    assigned = {}
    if not follow_ups:
        return assigned
    dates = [date for date, _visit_id in follow_ups]
    for timepoint, target, start, end in windows:
        # The follow-ups inside the window, found by bisection in date order rather than by testing each.
        inside = follow_ups[bisect_left(dates, start) : bisect_right(dates, end)]
        if inside:
            nearest = min((abs((date - target).days), date, visit_id) for date, visit_id in inside)
            assigned[nearest[2]] = timepoint.code
    return assigned


def _windows(first_procedure_date, timepoints):
    """(timepoint, target date, first and last date of its window) of each timepoint, as
    Timepoint.target and Timepoint.bounds give them; worked out once per patient, not per visit."""
    return [
        (timepoint, *_window(first_procedure_date, timepoint.months, timepoint.before, timepoint.after, timepoint.unit))
        for timepoint in timepoints
    ]


@lru_cache(maxsize=32768)
def _window(first_procedure_date, months, before, after, unit):
    """(target, first day, last day) of a timepoint's window for a patient first treated on
    ``first_procedure_date``: a pure function of its arguments, kept so that each list of a thousand
    patients does not work out the same calendar sums again on every request."""
    return (
        quantities.add_months(first_procedure_date, months),
        *quantities.window_bounds(first_procedure_date, months, before, after, unit),
    )


@dataclass(frozen=True)
class PlannedVisit:
    """A scheduled visit no visit fills yet: ``status`` is "planned" (its window opens later), "due" (its
    window is open) or "overdue" (its window closed ``days_overdue`` days ago)."""

    timepoint: Timepoint
    target: object
    start: object
    end: object
    status: str
    days_overdue: int = 0


def planned_visits(course, today, timepoints):
    """The scheduled visits of ``course`` that no visit fills, oldest window first (none before the first
    procedure). The baseline counts as filled by a visit of kind baseline whatever its date.

    ``course``: a Course, or a VisitsFilled of read_schedules (what both have: the first procedure's date
    and the timepoints filled)."""
    first = course.first_procedure_date
    if first is None:
        return []
    filled = course.filled_timepoints
    planned = []
    for timepoint, target, start, end in _windows(first, timepoints):
        if timepoint.code in filled:
            continue
        if today < start:
            status, late = "planned", 0
        elif today <= end:
            status, late = "due", 0
        else:
            status, late = "overdue", (today - end).days
        planned.append(PlannedVisit(timepoint, target, start, end, status, late))
    planned.sort(key=lambda item: (item.end, item.timepoint.months))
    return planned


class Measure(NamedTuple):
    """One value measured at a visit: a score (by instrument code), or an imaging measure.

    A named tuple, not a dataclass: a cohort's read makes tens of thousands of them.
    """

    name: str  # "GMFM-88", "MAS hip-adductors-l", "FA white matter", "FA cst-l", "MD whole brain"
    kind: str  # score, fa, md
    unit: str
    value: float  # None when the score is recorded as missing
    source: str = ""
    missing: str = ""  # why a score has no value (registry.models.Score.Missing), "" when it has one
    label: str = ""  # the instrument's label of the value ("1+", "III"), "" for unlabelled scales


@dataclass(slots=True)
class VisitImaging:
    """What an imaging add-on says of a visit: its scans (newest first), the one that counts, its measures."""

    scans: list = field(default_factory=list)
    counted: object = None  # the scan that counts: has .pk, .usable, and qc_passed
    qc_passed: bool = None
    measures: list = field(default_factory=list)
    # False when the scan that counts was not acquired like the patient's baseline scan (and no
    # radiologist included it): its measures are shown but take no part in a change since baseline.
    comparable: bool = True


@dataclass(slots=True)
class CourseVisit:
    id: int
    date: object
    kind: str
    months: float  # since the first procedure; None while there is none
    age_months: int
    timepoint: str = None  # the scheduled follow-up this visit fills, or None
    # Whether the visit is where the schedule wants it: a follow-up that fills a timepoint, a baseline
    # inside the baseline window; None for unscheduled visits and while there is no procedure.
    in_window: bool = None
    measures: dict = field(default_factory=dict)  # name -> Measure
    imaging: VisitImaging = field(default_factory=VisitImaging)

    @property
    def months_since_procedure(self):
        return self.months

    @property
    def is_baseline(self):
        return self.kind == BASELINE

    @property
    def schedule_code(self):
        """The schedule's timepoint whose instruments this visit assesses: its follow-up, or the baseline."""
        return BASELINE_TIMEPOINT if self.is_baseline else self.timepoint

    @property
    def scan(self):
        return self.imaging.counted


@dataclass
class CourseProcedure:
    id: int
    date: object
    weight_kg: float
    tnc_per_kg: float
    cd34_per_kg: float
    age_months: int
    months_since_procedure: float = None  # since the patient's first procedure (0 for the first)


@dataclass
class Course:
    """One patient's course. Identifiers stay inside: research outlets project it through deidentify."""

    patient_id: int
    study_id: str
    site: str  # the code of the patient's site (centre)
    sex: str
    cp_subtype: str
    etiology: str
    gmfcs_level: int
    gestational_age_weeks: int
    epilepsy: bool
    date_of_birth: object
    procedures: list = field(default_factory=list)
    visits: list = field(default_factory=list)

    @property
    def first_procedure(self):
        return self.procedures[0] if self.procedures else None

    @property
    def first_procedure_date(self):
        return self.procedures[0].date if self.procedures else None

    @property
    def tnc_per_kg(self):
        """The patient's dose: TNC/kg of the first intrathecal procedure (cells/kg)."""
        return self.procedures[0].tnc_per_kg if self.procedures else None

    @property
    def cd34_per_kg(self):
        return self.procedures[0].cd34_per_kg if self.procedures else None

    @property
    def age_at_procedure_months(self):
        return self.procedures[0].age_months if self.procedures else None

    @property
    def baseline(self):
        for visit in self.visits:
            if visit.kind == BASELINE:
                return visit
        return None

    @property
    def follow_ups(self):
        return [visit for visit in self.visits if visit.kind != BASELINE]

    @property
    def filled_timepoints(self):
        """The codes of the scheduled timepoints a visit fills (the baseline's by a visit of kind baseline)."""
        filled = {visit.timepoint for visit in self.visits if visit.timepoint}
        if self.baseline is not None:
            filled.add(BASELINE_TIMEPOINT)
        return filled

    def visit(self, visit_id):
        return next((visit for visit in self.visits if visit.id == visit_id), None)

    def at_timepoint(self, code):
        return next((visit for visit in self.visits if visit.timepoint == code), None)

    def baseline_value(self, name):
        baseline = self.baseline
        measure = baseline.measures.get(name) if baseline else None
        return measure.value if measure else None

    def change(self, visit, name):
        """The change of measure ``name`` at ``visit`` since baseline (none at the baseline itself), with
        the error it must exceed to count (FA: test–retest; GMFM: the MCID at the patient's GMFCS level).

        An imaging measure of a visit whose scan was not acquired like the baseline has no change
        (``excluded``), unless a radiologist included the scan."""
        measure = visit.measures.get(name)
        if measure is None or visit.kind == BASELINE:
            return NO_CHANGE
        if measure.kind != "score" and not visit.imaging.comparable:
            return EXCLUDED_CHANGE
        baseline = self.baseline_value(name)
        fa_cv_percent, mcid = change_error_settings()
        error, basis = quantities.change_error(
            measure.kind, name, baseline, gmfcs_level=self.gmfcs_level, fa_cv_percent=fa_cv_percent, mcid=mcid
        )
        return quantities.change_since_baseline(baseline, measure.value, error=error, basis=basis)


# A Change is immutable: the two without a value are made once, not at every measure of every baseline.
NO_CHANGE = quantities.Change(None, None)
EXCLUDED_CHANGE = quantities.Change(None, None, excluded=True)


@lru_cache(maxsize=1)
def change_error_settings():
    """``(FA test–retest CV in percent, GMFM MCIDs)`` as the settings give them, read once a process:
    Course.change asks at every measure of every visit (an export reads tens of thousands). A change of
    either setting (a test's override) clears it."""
    return (
        getattr(settings, "FA_TEST_RETEST_CV_PERCENT", quantities.FA_TEST_RETEST_CV_PERCENT),
        getattr(settings, "GMFM_MCID", quantities.GMFM_MCID),
    )


@receiver(setting_changed)
def _change_error_settings_changed(setting, **kwargs):
    if setting in ("FA_TEST_RETEST_CV_PERCENT", "GMFM_MCID"):
        change_error_settings.cache_clear()


_visit_measure_providers = []
_measure_name_providers = []


def collector_paused(read):
    """Runs ``read`` with Python's cyclic garbage collector paused, and leaves it as it was found.

    A cohort's read builds tens of thousands of small objects (visits, measures, scans), and every few
    hundred allocations the collector would walk them all again looking for reference cycles; on 1,000
    patients that was a third of the research pages' time. The read model makes no cycles (courses hold
    visits, visits hold measures), so reference counting frees it all the same; whatever cycles the
    queries leave are collected once the collector resumes.

    A page that reads a whole cohort runs paused from its read to its answer (research.views): its courses are
    then freed by reference counting before the collector resumes, so it never walks them at all.
    """

    @wraps(read)
    def paused(*args, **kwargs):
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return read(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return paused


def provide_visit_measures(provider, names=None):
    """Register ``provider(visit_ids, *, usable_only, names=None) -> {visit_id: VisitImaging}`` (an add-on's
    AppConfig.ready): ``names`` are the measures it reads (None: every one). ``names(imagings) -> {name: kind}``,
    when given, says which measures the provider gives in full the visits whose VisitImaging it made are
    ``imagings``, whatever names they were read with (see measures_provided)."""
    if provider not in _visit_measure_providers:
        _visit_measure_providers.append(provider)
    if names is not None and names not in _measure_name_providers:
        _measure_name_providers.append(names)


@collector_paused
def read_courses(patient_ids, *, usable_only=False, instruments=None, measures=None):
    """The courses of ``patient_ids``, in id order; a fixed number of queries whatever their number.

    ``usable_only``: only scans a radiologist marked usable count for a visit. ``instruments``: the
    codes of the instruments whose scores are read (None: every one; () for none, to be read later by
    read_scores once a page knows which one it shows). ``measures``: the names of the add-ons' measures
    read (None: every one); the scan that counts for each visit is read either way.
    """
    patient_ids = sorted(set(patient_ids))
    by_id = read_enrolments(patient_ids)
    visits = _read_visits(by_id, patient_ids)
    _read_scores(visits, instruments)
    _read_provided(visits, usable_only, measures)
    return [by_id[pk] for pk in patient_ids if pk in by_id]


@collector_paused
def read_scores(courses, instruments):
    """Adds to the visits of ``courses`` (read with ``instruments=()``) the scores of ``instruments``."""
    _read_scores({visit.id: visit for course in courses for visit in course.visits}, instruments)


def measures_provided(courses):
    """``{name: kind}`` of the add-ons' measures at a visit of ``courses`` (read with any ``measures``): the
    measures the courses would have if every one were read, found by the add-ons in the database instead."""
    imagings = [visit.imaging for course in courses for visit in course.visits]
    found = {}
    for names in _measure_name_providers:
        found.update(names(imagings))
    return found


def instruments_scored(courses):
    """The codes of the instruments scored as a whole (not per muscle group) at a visit of ``courses``,
    recorded as missing included, in alphabetical order: the instruments whose measure the courses would
    have if every score were read, counted in the database instead."""
    visit_ids = Ids(visit.id for course in courses for visit in course.visits)
    scored = Score.objects.filter(visit_id__any=visit_ids, muscle__isnull=True).order_by()
    return sorted(scored.values_list("instrument__code", flat=True).distinct())


@collector_paused
def read_enrolments(patient_ids):
    """``{patient_id: Course}`` of ``patient_ids`` with what is known at enrolment and treatment (the
    patient's characteristics, procedures and doses) and no visits; two queries whatever their number.

    For what concerns the whole cohort at once (who is in it, baseline characteristics, doses), where
    every visit and measure of every patient is not needed; read_courses completes the courses.
    """
    patient_ids = Ids(sorted(set(patient_ids)))
    rows = Patient.objects.filter(pk__any=patient_ids).order_by("pk")
    # Tuples in the order of Course's fields: no dict per row.
    by_id = {
        row[0]: Course(*row)
        for row in rows.values_list(
            "pk",
            "study_id",
            "site__code",
            "sex",
            "cp_subtype",
            "etiology",
            "gmfcs_level",
            "gestational_age_weeks",
            "epilepsy",
            "date_of_birth",
        )
    }
    procedures = IntrathecalProcedure.objects.filter(patient_id__any=patient_ids).order_by("patient_id", "date", "pk")
    dose_per_kg, age_in_months = quantities.dose_per_kg, quantities.age_in_months
    for pk, patient_id, date, weight_kg, tnc_count, cd34_count in procedures.values_list(
        "pk", "patient_id", "date", "weight_kg", "product__tnc_count", "product__cd34_count"
    ):
        course = by_id[patient_id]
        first = course.procedures[0].date if course.procedures else date  # in date order: the first comes first
        course.procedures.append(
            CourseProcedure(
                id=pk,
                date=date,
                weight_kg=float(weight_kg),
                tnc_per_kg=dose_per_kg(tnc_count, weight_kg),
                cd34_per_kg=dose_per_kg(cd34_count, weight_kg),
                age_months=age_in_months(course.date_of_birth, date),
                months_since_procedure=quantities.months_between(first, date),
            )
        )
    return by_id


@collector_paused
def read_visits(visits, *, usable_only=False, instruments=None, measures=None):
    """``{visit_id: CourseVisit}`` of ``visits`` (Visit instances: their pk and patient_id are read),
    exactly as their patients' courses give them, in a fixed number of queries whatever their number.

    A visit's months and timepoint depend on its patient's procedures and other visits, which are
    read; the measures (scores, imaging) are read for these visits only, so a page of visits costs
    what its own visits do, not the whole course of every patient on it. ``instruments`` and ``measures``
    as read_courses takes them (the scans and the one that counts are read either way).
    """
    patient_ids = sorted({visit.patient_id for visit in visits})
    by_id = read_enrolments(patient_ids)
    every_visit = _read_visits(by_id, patient_ids)
    wanted = {visit.pk: every_visit[visit.pk] for visit in visits if visit.pk in every_visit}
    _read_scores(wanted, instruments)
    _read_provided(wanted, usable_only, measures)
    return wanted


@dataclass(slots=True)
class VisitsFilled:
    """What the visit schedule needs of a patient: the date of the first procedure and the codes of the
    timepoints its visits fill, exactly as its course assigns them (see Course.filled_timepoints)."""

    first_procedure_date: object
    filled_timepoints: set = field(default_factory=set)


@collector_paused
def read_schedules(patient_ids, timepoints=None):
    """``{patient_id: VisitsFilled}`` of the treated patients among ``patient_ids`` (none is scheduled
    before a procedure): what planned and overdue visits need, without the courses' doses, ages and
    measures. Two queries whatever their number, and one more to read the schedule when not given."""
    timepoints = schedule() if timepoints is None else timepoints
    follow_ups = follow_up_schedule(timepoints)
    firsts = IntrathecalProcedure.objects.filter(patient_id__any=Ids(patient_ids)).order_by()
    found = {
        patient_id: VisitsFilled(first)
        for patient_id, first in firsts.values_list("patient_id")
        .annotate(first=Min("date"))
        .values_list("patient_id", "first")
    }
    # Only baselines and follow-ups fill a timepoint; the order is _assign's own.
    rows = Visit.objects.filter(patient_id__any=Ids(found), kind__in=[BASELINE, FOLLOW_UP]).order_by()
    follow_up_visits = {}
    for patient_id, pk, date, kind in rows.values_list("patient_id", "pk", "date", "kind"):
        if kind == FOLLOW_UP:
            follow_up_visits.setdefault(patient_id, []).append((pk, date, kind))
        else:
            found[patient_id].filled_timepoints.add(BASELINE_TIMEPOINT)
    for patient_id, visits in follow_up_visits.items():
        state = found[patient_id]
        state.filled_timepoints.update(_assign(_windows(state.first_procedure_date, follow_ups), visits).values())
    return found


def read_course(patient_id, *, usable_only=False):
    courses = read_courses([patient_id], usable_only=usable_only)
    return courses[0] if courses else None


def _read_visits(by_id, patient_ids):
    visits = {}
    rows = Visit.objects.filter(patient_id__any=Ids(patient_ids)).order_by("patient_id", "date", "pk")
    months_between, age_in_months = quantities.months_between, quantities.age_in_months
    course = None
    for pk, patient_id, date, kind in rows.values_list("pk", "patient_id", "date", "kind"):
        if course is None or course.patient_id != patient_id:
            course = by_id[patient_id]
            first, born, add = course.first_procedure_date, course.date_of_birth, course.visits.append
        visit = CourseVisit(pk, date, kind, months_between(first, date), age_in_months(born, date))
        add(visit)
        visits[pk] = visit
    timepoints = schedule()
    follow_ups = follow_up_schedule(timepoints)
    baseline = next((timepoint for timepoint in timepoints if timepoint.is_baseline), None)
    for course in by_id.values():
        first = course.first_procedure_date
        if first is None or not course.visits:
            continue  # no timepoint and no window before a procedure
        filled = _assign(_windows(first, follow_ups), [(v.id, v.date, v.kind) for v in course.visits])
        if baseline:
            _target, start, end = _window(first, baseline.months, baseline.before, baseline.after, baseline.unit)
        for visit in course.visits:
            if visit.kind == FOLLOW_UP:
                visit.timepoint = filled.get(visit.id)
                visit.in_window = visit.timepoint is not None
            elif visit.kind == BASELINE and baseline:
                visit.in_window = start <= visit.date <= end
    return visits


def score_measure_name(code, muscle_code=None, side=""):
    """The measure a score is read as: the instrument's code, or for a score per muscle group and side
    "<code> <muscle>-<l|r>" (e.g. "MAS hamstrings-l")."""
    return f"{code} {muscle_code}-{side[:1]}" if muscle_code else code


def _read_scores(visits, codes=None):
    """Each visit's scores (of the instruments ``codes``, or every one), by instrument code in alphabetical
    order (the order the exports list them in); a score per muscle group and side is the measure
    "<code> <muscle>-<l|r>" (e.g. "MAS hamstrings-l"), those of an instrument in the muscle groups' order
    then by side."""
    instruments = Instrument.objects.order_by("code")
    if codes is not None:
        instruments = instruments.filter(code__in=list(codes))
    by_instrument = {
        pk: (code, unit, labels, [], [])
        for pk, code, unit, labels in instruments.values_list("pk", "code", "unit", "value_labels")
    }
    if not by_instrument:
        return
    # Unordered: only scores per muscle group have an order among themselves, sorted here (the database
    # collates in C, as Python compares), rather than sorting every score of a cohort in the query.
    scores = Score.objects.filter(visit_id__any=Ids(visits)).order_by()
    if codes is not None:
        scores = scores.filter(instrument_id__any=Ids(by_instrument))
    for row in scores.values_list(
        "visit_id", "instrument_id", "value", "missing", "muscle__code", "side", "muscle__position"
    ):
        by_instrument[row[1]][3 if row[4] is None else 4].append(row)
    made = {}  # a measure is an immutable tuple: one per distinct score, shared by the visits that have it
    for code, unit, labels, whole, per_muscle in by_instrument.values():
        per_muscle.sort(key=lambda row: (row[6], row[4], row[5]))
        for visit_id, _instrument, value, missing, muscle, side, _position in (*per_muscle, *whole):
            key = (code, value, missing, muscle, side)
            if key in made:
                measure = made[key]
            else:
                name = score_measure_name(code, muscle, side)
                label = ""
                if value is not None and labels:
                    number = format(value.normalize(), "f")
                    label = labels.get(number, number)
                number = float(value) if value is not None else None
                measure = made[key] = Measure(name, "score", unit, number, code, missing, label)
            visits[visit_id].measures[measure.name] = measure


def _read_provided(visits, usable_only, names=None):
    for provider in _visit_measure_providers:
        for visit_id, imaging in provider(list(visits), usable_only=usable_only, names=names).items():
            visit = visits[visit_id]
            visit.imaging = imaging
            for measure in imaging.measures:
                visit.measures[measure.name] = measure
