"""The read model of patients' courses: the one place every page, API answer, statistic and export reads facts from.

For a set of patients it loads, in a fixed number of queries, their procedures with doses, their
visits with months since the first procedure, age and scheduled timepoint, their scores, and what
the add-on apps contribute per visit (imaging: the scan that counts and its FA). Every number is
computed by :mod:`registry.quantities`.

Add-ons contribute per-visit measures through :func:`provide_visit_measures` (called from their
AppConfig.ready), so this module names none of them.
"""

from dataclasses import dataclass, field
from typing import NamedTuple

from django.conf import settings
from django.utils.translation import gettext as _

from registry import quantities
from registry.models import Instrument, IntrathecalProcedure, Patient, Score, Visit

# The headline imaging measure: an imaging add-on provides it per visit from the scan that counts.
FA_WHITE_MATTER = "FA white matter"


@dataclass(frozen=True)
class Timepoint:
    """A scheduled follow-up: ``months`` after the first procedure, ± ``window`` calendar months."""

    code: str
    months: int
    window: int

    @property
    def label(self):
        return _("%(months)s months") % {"months": self.months}

    def target(self, first_procedure_date):
        return quantities.add_months(first_procedure_date, self.months)

    def contains(self, first_procedure_date, date):
        start = quantities.add_months(first_procedure_date, self.months - self.window)
        end = quantities.add_months(first_procedure_date, self.months + self.window)
        return start <= date <= end


# The protocol's follow-up schedule: ±1 month in the first year, ±2 months after it.
SCHEDULE = (
    Timepoint("3m", 3, 1),
    Timepoint("6m", 6, 1),
    Timepoint("9m", 9, 1),
    Timepoint("12m", 12, 1),
    Timepoint("18m", 18, 2),
    Timepoint("24m", 24, 2),
)
TIMEPOINTS = {timepoint.code: timepoint for timepoint in SCHEDULE}


def assign_timepoints(first_procedure_date, visits):
    """Which visit fills each scheduled timepoint: ``{visit_id: timepoint code}``.

    ``visits``: (id, date, kind) of one patient. Only follow-up visits fill a timepoint (never an
    unscheduled one, never the baseline); each timepoint takes the follow-up visit nearest to its
    target date inside its window (the earlier one on a tie), so an extra visit never displaces the
    assessment that was made on schedule. Visits outside every window fill none.
    """
    if first_procedure_date is None:
        return {}
    follow_ups = sorted((date, visit_id) for visit_id, date, kind in visits if kind == Visit.Kind.FOLLOW_UP)
    assigned = {}
    if not follow_ups:
        return assigned
    for timepoint, target, start, end in _windows(first_procedure_date):
        inside = [(abs((date - target).days), date, visit_id) for date, visit_id in follow_ups if start <= date <= end]
        if inside:
            assigned[min(inside)[2]] = timepoint.code
    return assigned


def _windows(first_procedure_date):
    """(timepoint, target date, first and last date of its window) of each scheduled timepoint, as
    Timepoint.target and Timepoint.contains give them; worked out once per patient, not per visit."""
    return [
        (
            timepoint,
            timepoint.target(first_procedure_date),
            quantities.add_months(first_procedure_date, timepoint.months - timepoint.window),
            quantities.add_months(first_procedure_date, timepoint.months + timepoint.window),
        )
        for timepoint in SCHEDULE
    ]


class Measure(NamedTuple):
    """One value measured at a visit: a score (by instrument code), or an imaging measure.

    A named tuple, not a dataclass: a cohort's read makes tens of thousands of them.
    """

    name: str  # "GMFM-88", "FA white matter", "FA cst-l", "MD whole brain"
    kind: str  # score, fa, md
    unit: str
    value: float
    source: str = ""


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
    timepoint: str = None  # the scheduled timepoint this visit fills, or None
    measures: dict = field(default_factory=dict)  # name -> Measure
    imaging: VisitImaging = field(default_factory=VisitImaging)

    @property
    def months_since_procedure(self):
        return self.months

    @property
    def is_baseline(self):
        return self.kind == Visit.Kind.BASELINE

    @property
    def in_window(self):
        """Whether a follow-up visit fills a scheduled timepoint (None for other kinds of visit)."""
        return self.timepoint is not None if self.kind == Visit.Kind.FOLLOW_UP else None

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
        return next((visit for visit in self.visits if visit.is_baseline), None)

    @property
    def follow_ups(self):
        return [visit for visit in self.visits if not visit.is_baseline]

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
        if visit.is_baseline or measure is None:
            return quantities.Change(None, None)
        if measure.kind != "score" and not visit.imaging.comparable:
            return quantities.Change(None, None, excluded=True)
        baseline = self.baseline_value(name)
        error, basis = quantities.change_error(
            measure.kind,
            name,
            baseline,
            gmfcs_level=self.gmfcs_level,
            fa_cv_percent=getattr(settings, "FA_TEST_RETEST_CV_PERCENT", quantities.FA_TEST_RETEST_CV_PERCENT),
            mcid=getattr(settings, "GMFM_MCID", quantities.GMFM_MCID),
        )
        return quantities.change_since_baseline(baseline, measure.value, error=error, basis=basis)


_visit_measure_providers = []


def provide_visit_measures(provider):
    """Register ``provider(visit_ids, *, usable_only) -> {visit_id: VisitImaging}`` (an add-on's AppConfig.ready)."""
    if provider not in _visit_measure_providers:
        _visit_measure_providers.append(provider)


def read_courses(patient_ids, *, usable_only=False):
    """The courses of ``patient_ids``, in id order; a fixed number of queries whatever their number.

    ``usable_only``: only scans a radiologist marked usable count for a visit.
    """
    patient_ids = sorted(set(patient_ids))
    by_id = read_enrolments(patient_ids)
    visits = _read_visits(by_id, patient_ids)
    _read_measures(visits, usable_only)
    return [by_id[pk] for pk in patient_ids if pk in by_id]


def read_enrolments(patient_ids):
    """``{patient_id: Course}`` of ``patient_ids`` with what is known at enrolment and treatment (the
    patient's characteristics, procedures and doses) and no visits; two queries whatever their number.

    For what concerns the whole cohort at once (who is in it, baseline characteristics, doses), where
    every visit and measure of every patient is not needed; read_courses completes the courses.
    """
    patient_ids = sorted(set(patient_ids))
    by_id = {}
    rows = Patient.objects.filter(pk__any=patient_ids).order_by("pk")
    for row in rows.values(
        "pk",
        "study_id",
        "sex",
        "cp_subtype",
        "etiology",
        "gmfcs_level",
        "gestational_age_weeks",
        "epilepsy",
        "date_of_birth",
    ):
        pk = row.pop("pk")
        by_id[pk] = Course(patient_id=pk, **row)
    procedures = IntrathecalProcedure.objects.filter(patient_id__any=patient_ids).order_by("patient_id", "date", "pk")
    for row in procedures.values("pk", "patient_id", "date", "weight_kg", "product__tnc_count", "product__cd34_count"):
        course = by_id[row["patient_id"]]
        course.procedures.append(
            CourseProcedure(
                id=row["pk"],
                date=row["date"],
                weight_kg=float(row["weight_kg"]),
                tnc_per_kg=quantities.dose_per_kg(row["product__tnc_count"], row["weight_kg"]),
                cd34_per_kg=quantities.dose_per_kg(row["product__cd34_count"], row["weight_kg"]),
                age_months=quantities.age_in_months(course.date_of_birth, row["date"]),
            )
        )
    for course in by_id.values():
        for procedure in course.procedures:
            procedure.months_since_procedure = quantities.months_between(course.first_procedure_date, procedure.date)
    return by_id


def read_visits(visits, *, usable_only=False):
    """``{visit_id: CourseVisit}`` of ``visits`` (Visit instances: their pk and patient_id are read),
    exactly as their patients' courses give them, in a fixed number of queries whatever their number.

    A visit's months and timepoint depend on its patient's procedures and other visits, which are
    read; the measures (scores, imaging) are read for these visits only, so a page of visits costs
    what its own visits do, not the whole course of every patient on it.
    """
    patient_ids = sorted({visit.patient_id for visit in visits})
    by_id = read_enrolments(patient_ids)
    every_visit = _read_visits(by_id, patient_ids)
    wanted = {visit.pk: every_visit[visit.pk] for visit in visits if visit.pk in every_visit}
    _read_measures(wanted, usable_only)
    return wanted


def read_course(patient_id, *, usable_only=False):
    courses = read_courses([patient_id], usable_only=usable_only)
    return courses[0] if courses else None


def _read_visits(by_id, patient_ids):
    visits = {}
    rows = Visit.objects.filter(patient_id__any=patient_ids).order_by("patient_id", "date", "pk")
    for pk, patient_id, date, kind in rows.values_list("pk", "patient_id", "date", "kind"):
        course = by_id[patient_id]
        visit = CourseVisit(
            id=pk,
            date=date,
            kind=kind,
            months=quantities.months_between(course.first_procedure_date, date),
            age_months=quantities.age_in_months(course.date_of_birth, date),
        )
        course.visits.append(visit)
        visits[pk] = visit
    for course in by_id.values():
        filled = assign_timepoints(course.first_procedure_date, [(v.id, v.date, v.kind) for v in course.visits])
        for visit in course.visits:
            visit.timepoint = filled.get(visit.id)
    return visits


def _read_measures(visits, usable_only):
    """Each of ``visits`` ({visit_id: CourseVisit}) gets its scores and what the add-ons provide."""
    _read_scores(visits)
    _read_provided(visits, usable_only)


def _read_scores(visits):
    """Each visit's scores, by instrument code in alphabetical order (the order the exports list them in)."""
    instruments = Instrument.objects.order_by("code").values_list("pk", "code", "unit")
    by_instrument = {pk: (code, unit, []) for pk, code, unit in instruments}
    scores = Score.objects.filter(visit_id__any=list(visits)).order_by()  # ordered here, without a join
    for visit_id, instrument_id, value in scores.values_list("visit_id", "instrument_id", "value"):
        by_instrument[instrument_id][2].append((visit_id, value))
    for code, unit, rows in by_instrument.values():
        for visit_id, value in rows:
            visits[visit_id].measures[code] = Measure(code, "score", unit, float(value), code)


def _read_provided(visits, usable_only):
    for provider in _visit_measure_providers:
        for visit_id, imaging in provider(list(visits), usable_only=usable_only).items():
            visit = visits[visit_id]
            visit.imaging = imaging
            for measure in imaging.measures:
                visit.measures[measure.name] = measure
