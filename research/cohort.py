"""The cohort as research sees it: its filter, and its patients' courses read in chunks of patients."""

from dataclasses import dataclass

from django import forms
from django.utils.translation import gettext_lazy as _

from registry import quantities
from registry.course import FA_WHITE_MATTER, read_courses, read_enrolments
from registry.deidentify import ALLOW_LISTS, Subject
from registry.models import Patient, Visit

CHUNK_PATIENTS = 1000


class CohortForm(forms.Form):
    """The cohort filter, the same for the page and the API (doses in ×10⁸/kg and ×10⁶/kg)."""

    subtype = forms.MultipleChoiceField(
        label=_("CP subtype"), choices=Patient.Subtype.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    etiology = forms.MultipleChoiceField(
        label=_("Etiology"), choices=Patient.Etiology.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    gmfcs = forms.TypedMultipleChoiceField(
        label=_("GMFCS at enrolment"),
        coerce=int,
        required=False,
        choices=[(level, roman) for level, roman in zip(range(1, 6), ["I", "II", "III", "IV", "V"])],
        widget=forms.CheckboxSelectMultiple,
    )
    tnc_min = forms.FloatField(label=_("TNC/kg from (×10⁸)"), required=False, min_value=0)
    tnc_max = forms.FloatField(label=_("TNC/kg to (×10⁸)"), required=False, min_value=0)
    cd34_min = forms.FloatField(label=_("CD34+/kg from (×10⁶)"), required=False, min_value=0)
    cd34_max = forms.FloatField(label=_("CD34+/kg to (×10⁶)"), required=False, min_value=0)
    months_min = forms.FloatField(label=_("Follow-up from (months)"), required=False, min_value=0)
    months_max = forms.FloatField(label=_("Follow-up to (months)"), required=False, min_value=0)
    usable_only = forms.BooleanField(label=_("Only scans a radiologist marked usable"), required=False)

    def clean(self):
        data = super().clean()
        for low, high, label in (
            ("tnc_min", "tnc_max", _("TNC/kg")),
            ("cd34_min", "cd34_max", _("CD34+/kg")),
            ("months_min", "months_max", _("follow-up")),
        ):
            if data.get(low) is not None and data.get(high) is not None and data[low] > data[high]:
                self.add_error(high, _("The upper bound of %(what)s is below its lower bound.") % {"what": label})
        return data

    def cohort_filter(self):
        data = self.cleaned_data

        def scaled(name, unit):
            return None if data.get(name) is None else data[name] * quantities.DOSE_UNITS[unit]

        return CohortFilter(
            subtypes=tuple(data.get("subtype") or ()),
            etiologies=tuple(data.get("etiology") or ()),
            gmfcs=tuple(data.get("gmfcs") or ()),
            tnc_min=scaled("tnc_min", "tnc"),
            tnc_max=scaled("tnc_max", "tnc"),
            cd34_min=scaled("cd34_min", "cd34"),
            cd34_max=scaled("cd34_max", "cd34"),
            months_min=data.get("months_min"),
            months_max=data.get("months_max"),
            usable_only=bool(data.get("usable_only")),
        )


@dataclass(frozen=True)
class CohortFilter:
    """Which patients, visits and scans count. Doses in cells/kg; months since the first procedure."""

    subtypes: tuple = ()
    etiologies: tuple = ()
    gmfcs: tuple = ()
    tnc_min: float = None
    tnc_max: float = None
    cd34_min: float = None
    cd34_max: float = None
    months_min: float = None
    months_max: float = None
    usable_only: bool = False

    def as_dict(self):
        """The filter as logged with an export (only what was set)."""
        return {
            name: (list(value) if isinstance(value, tuple) else value)
            for name, value in self.__dict__.items()
            if value not in (None, (), False)
        }

    def patients(self):
        patients = Patient.objects.all()
        if self.subtypes:
            patients = patients.filter(cp_subtype__in=self.subtypes)
        if self.etiologies:
            patients = patients.filter(etiology__in=self.etiologies)
        if self.gmfcs:
            patients = patients.filter(gmfcs_level__in=self.gmfcs)
        return patients.order_by("pk")

    def dose_matches(self, course):
        for value, low, high in (
            (course.tnc_per_kg, self.tnc_min, self.tnc_max),
            (course.cd34_per_kg, self.cd34_min, self.cd34_max),
        ):
            if low is None and high is None:
                continue
            if value is None or (low is not None and value < low) or (high is not None and value > high):
                return False
        return True

    def visit_counts(self, kind, months):
        """Baselines always count; follow-ups only inside the follow-up window."""
        if kind == Visit.Kind.BASELINE:
            return True
        if self.months_min is None and self.months_max is None:
            return True
        if months is None:
            return False
        return (self.months_min is None or months >= self.months_min) and (
            self.months_max is None or months <= self.months_max
        )


def iter_courses(cohort, instruments=None, measures=None):
    """Each patient's course in the cohort (the registry's read model), CHUNK_PATIENTS patients at a time.

    Visits outside the cohort's follow-up window are left out (the baseline always stays).
    ``instruments``: the codes of the instruments whose scores are read (None: every one); ``measures``:
    the names of the add-ons' measures read (None: every one), see registry.course.read_courses.
    """
    ids = list(cohort.patients().values_list("pk", flat=True))
    for start in range(0, len(ids), CHUNK_PATIENTS):
        chunk = read_courses(
            ids[start : start + CHUNK_PATIENTS],
            usable_only=cohort.usable_only,
            instruments=instruments,
            measures=measures,
        )
        for course in chunk:
            if cohort.dose_matches(course):
                yield _in_window(cohort, course)
        # Let this chunk go before the next one is read: at most one chunk is held at a time.
        chunk = course = None


def _in_window(cohort, course):
    if cohort.months_min is None and cohort.months_max is None:
        return course  # no follow-up window: every visit counts (CohortFilter.visit_counts)
    course.visits = [visit for visit in course.visits if cohort.visit_counts(visit.kind, visit.months)]
    return course


def enrolled(cohort):
    """The cohort's patients as enrolled and treated, in id order: each a course with the patient's
    characteristics, procedures and doses but no visits (registry.course.read_enrolments), the dose
    filter applied. Who is in the cohort, n and the baseline characteristics come from these, without
    reading every visit and measure of every patient."""
    ids = list(cohort.patients().values_list("pk", flat=True))
    found = []
    for start in range(0, len(ids), CHUNK_PATIENTS):
        chunk = read_enrolments(ids[start : start + CHUNK_PATIENTS])
        found.extend(course for course in chunk.values() if cohort.dose_matches(course))
    return found


def courses_of(cohort, patient_ids):
    """The whole courses of these patients of the cohort (e.g. one page of it), in id order, with the
    cohort's follow-up window and scan rule applied as iter_courses applies them."""
    return [_in_window(cohort, course) for course in read_courses(patient_ids, usable_only=cohort.usable_only)]


def courses(cohort, instruments=None, measures=None):
    return list(iter_courses(cohort, instruments, measures))


def measure_names(course_list):
    """Every measure present in the courses, scores first, then FA, then MD."""
    names = {}
    for course in course_list:
        for visit in course.visits:
            measures = visit.measures
            for name in measures.keys() - names.keys():  # most visits bring no new name
                names[name] = measures[name].kind
    return in_measure_order(names)


MEASURE_KIND_ORDER = {"score": 0, "fa": 1, "md": 2}


def in_measure_order(names):
    """The names of ``{name: kind}`` as tables list measures: scores first, then FA (white matter first), then MD."""
    return sorted(names, key=lambda name: (MEASURE_KIND_ORDER[names[name]], name != FA_WHITE_MATTER, name))


class SeenCourse:
    """What research may see of one course: each part projected through the allow-list of its kind
    (registry.deidentify). A field that is not on its list comes out empty, so no column can carry it."""

    def __init__(self, course, rules):
        self.course, self.rules = course, rules
        self.subject = Subject(course.patient_id, course.first_procedure_date)
        self._procedures = {}

    def seen(self, kind, record):
        return self.rules.project_for(kind, record, self.subject)

    def seen_fields(self, kind, record, names):
        """The fields ``names`` of what research sees of ``record``: ``seen(kind, record).get(name)`` for
        each, without projecting the fields no column reads."""
        allowed, rules, subject = ALLOW_LISTS[kind], self.rules, self.subject
        return [
            None if (transform := allowed.get(name)) is None else transform.apply(name, record, rules, subject)
            for name in names
        ]

    def patient_values(self):
        first = self.course.first_procedure
        dose = self.procedure(first) if first else {}
        return [
            *self.seen_fields("patient", self.course, PATIENT_FIELDS),
            dose.get("tnc_per_kg"),
            dose.get("cd34_per_kg"),
        ]

    def procedure(self, procedure):
        """Day, months, age and doses of a procedure as research sees them (a mapping)."""
        if procedure.id not in self._procedures:
            record = {
                "date": procedure.date,
                "months_since_procedure": procedure.months_since_procedure,
                "age_months": procedure.age_months,
                "tnc_per_kg": procedure.tnc_per_kg,
                "cd34_per_kg": procedure.cd34_per_kg,
            }
            self._procedures[procedure.id] = dict(
                zip(PROCEDURE_FIELDS, self.seen_fields("procedure", record, PROCEDURE_FIELDS))
            )
        return self._procedures[procedure.id]

    def visit(self, visit):
        """kind, timepoint, date (as the export shows it), months and age of a visit."""
        record = {
            "kind": visit.kind,
            "timepoint": visit.timepoint,
            "date": visit.date,
            "months_since_procedure": visit.months_since_procedure,
            "age_months": visit.age_months,
        }
        return self.seen_fields("visit", record, VISIT_FIELDS)

    def scan_values(self, visit):
        """scan_usable and scan_qc_passed of the scan that counts for the visit."""
        scan = visit.imaging.counted
        if scan is None:
            return [None, None]
        return [
            *self.seen_fields("visit-imaging", {"usable": scan.usable}, ("usable",)),
            *self.seen_fields("scan-summary", {"qc_passed": visit.imaging.qc_passed}, ("qc_passed",)),
        ]


# The fields of each kind the tables' columns read, in column order.
PATIENT_FIELDS = (
    "study_id",
    "site",
    "sex",
    "cp_subtype",
    "etiology",
    "gmfcs_level",
    "gestational_age_weeks",
    "epilepsy",
    "age_at_first_procedure_months",
)
PROCEDURE_FIELDS = ("day", "months_since_procedure", "age_months", "tnc_per_kg", "cd34_per_kg")
VISIT_FIELDS = ("kind", "timepoint", "day", "months_since_procedure", "age_months")
