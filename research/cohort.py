"""The cohort as research sees it: filters, and each patient's course (doses, visits, scores,
FA and MD) read in chunks of patients so that any number of rows streams in flat memory."""

from dataclasses import dataclass, field
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from registry.deidentify import age_in_months
from registry.models import DAYS_PER_MONTH, Instrument, IntrathecalProcedure, Patient, Score, Visit
from research import lookups  # noqa: F401  (registers field__any)

CHUNK_PATIENTS = 1000
DOSE_SCALE = {"tnc": 1e8, "cd34": 1e6}  # the page's units: ×10⁸/kg and ×10⁶/kg


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
            return None if data.get(name) is None else data[name] * DOSE_SCALE[unit]

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


@dataclass
class Measure:
    name: str  # "GMFM-88", "FA white matter", "FA CST left", "MD whole brain"
    kind: str  # score, fa, md
    unit: str
    value: float
    source: str = ""


@dataclass
class VisitCourse:
    visit_id: int
    date: object
    kind: str
    months: float
    age_months: int
    measures: dict = field(default_factory=dict)  # name -> Measure
    scan_id: int = None
    scan_usable: bool = None
    scan_qc_passed: bool = None


@dataclass
class Course:
    """One patient's course, with identifiers kept inside (never written out by exports)."""

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
    def first_procedure_date(self):
        return self.procedures[0]["date"] if self.procedures else None

    @property
    def tnc_per_kg(self):
        return self.procedures[0]["tnc_per_kg"] if self.procedures else None

    @property
    def cd34_per_kg(self):
        return self.procedures[0]["cd34_per_kg"] if self.procedures else None

    @property
    def age_at_procedure_months(self):
        return age_in_months(self.date_of_birth, self.first_procedure_date)

    @property
    def baseline(self):
        return next((visit for visit in self.visits if visit.kind == Visit.Kind.BASELINE), None)

    @property
    def follow_ups(self):
        return [visit for visit in self.visits if visit.kind != Visit.Kind.BASELINE]

    def baseline_value(self, name):
        baseline = self.baseline
        measure = baseline.measures.get(name) if baseline else None
        return measure.value if measure else None


def months_between(start, end):
    if start is None or end is None:
        return None
    return round(float(Decimal((end - start).days) / DAYS_PER_MONTH), 1)


def iter_courses(cohort, rules):
    """Each patient's course in the cohort, read CHUNK_PATIENTS patients at a time."""
    ids = list(cohort.patients().values_list("pk", flat=True))
    for start in range(0, len(ids), CHUNK_PATIENTS):
        chunk = _courses(ids[start : start + CHUNK_PATIENTS], cohort, rules)
        for course in chunk:
            if cohort.dose_matches(course):
                yield course
        # Let this chunk go before the next one is read: at most one chunk is held at a time.
        chunk = course = None


def courses(cohort, rules):
    return list(iter_courses(cohort, rules))


def _courses(patient_ids, cohort, rules):

    by_id = {}
    for row in (
        Patient.objects.filter(pk__any=patient_ids)
        .order_by("pk")
        .values(
            "pk",
            "study_id",
            "sex",
            "cp_subtype",
            "etiology",
            "gmfcs_level",
            "gestational_age_weeks",
            "epilepsy",
            "date_of_birth",
        )
    ):
        pk = row.pop("pk")
        by_id[pk] = Course(patient_id=pk, **row)
    for row in (
        IntrathecalProcedure.objects.filter(patient_id__any=patient_ids)
        .order_by("patient_id", "date", "pk")
        .values("patient_id", "date", "weight_kg", "volume_ml", "product__tnc_count", "product__cd34_count")
    ):
        weight = float(row["weight_kg"])
        by_id[row["patient_id"]].procedures.append(
            {
                "date": row["date"],
                "weight_kg": weight,
                "tnc_per_kg": row["product__tnc_count"] / weight,
                "cd34_per_kg": None if row["product__cd34_count"] is None else row["product__cd34_count"] / weight,
            }
        )

    visits = {}
    for row in (
        Visit.objects.filter(patient_id__any=patient_ids)
        .order_by("patient_id", "date", "pk")
        .values("pk", "patient_id", "date", "kind")
    ):
        course = by_id[row["patient_id"]]
        months = months_between(course.first_procedure_date, row["date"])
        if not cohort.visit_counts(row["kind"], months):
            continue
        visit = VisitCourse(
            visit_id=row["pk"],
            date=row["date"],
            kind=row["kind"],
            months=months,
            age_months=age_in_months(course.date_of_birth, row["date"]),
        )
        course.visits.append(visit)
        visits[row["pk"]] = visit

    units = dict(Instrument.objects.values_list("code", "unit"))
    for visit_id, code, value in Score.objects.filter(visit_id__any=list(visits)).values_list(
        "visit_id", "instrument__code", "value"
    ):
        visits[visit_id].measures[code] = Measure(code, "score", units.get(code, ""), float(value), code)

    _add_imaging(visits, cohort, rules)
    return [by_id[pk] for pk in sorted(by_id)]


def _add_imaging(visits, cohort, rules):
    """FA and MD of the scan that counts for each visit: the newest processed one, usable
    (or, unless only usable scans count, not marked unusable)."""
    from imaging.models import DiffusionResult, RoiMeasurement, Scan

    scans = Scan.objects.filter(visit_id__any=list(visits), status=Scan.Status.DONE)
    scans = scans.filter(usable=True) if cohort.usable_only else scans.exclude(usable=False)
    chosen = {}
    for scan_id, visit_id, usable in scans.order_by("created_at", "pk").values_list("pk", "visit_id", "usable"):
        current = chosen.get(visit_id)
        if current is None or usable or not current[1]:
            chosen[visit_id] = (scan_id, usable)
    scan_visit = {scan_id: visit_id for visit_id, (scan_id, _usable) in chosen.items()}
    results = DiffusionResult.objects.filter(scan_id__any=list(scan_visit), is_current=True).values_list(
        "scan_id", "fa_mean", "fa_wm_mean", "md_mean", "qc_passed"
    )
    for scan_id, fa_mean, fa_wm, md_mean, qc_passed in results:
        visit = visits[scan_visit[scan_id]]
        visit.scan_id, visit.scan_usable, visit.scan_qc_passed = scan_id, chosen[visit.visit_id][1], qc_passed
        source = f"scan {scan_id}"
        for name, kind, unit, value in (
            ("FA white matter", "fa", "", fa_wm),
            ("FA whole brain", "fa", "", fa_mean),
            ("MD whole brain", "md", "mm²/s", md_mean),
        ):
            if value is not None:
                visit.measures[name] = Measure(name, kind, unit, value, source)
    show_region = rules.keeps("roimeasurement.region")
    rois = (
        RoiMeasurement.objects.filter(scan_id__any=list(scan_visit))
        .order_by("pk")
        .values_list("scan_id", "region", "label", "fa", "md", "pk")
    )
    for scan_id, region, label, fa, md, pk in rois:
        visit = visits[scan_visit[scan_id]]
        name = region if show_region else (f"label {label}" if label is not None else f"region {pk}")
        visit.measures[f"FA {name}"] = Measure(f"FA {name}", "fa", "", fa, f"scan {scan_id}")
        if md is not None:
            visit.measures[f"MD {name}"] = Measure(f"MD {name}", "md", "mm²/s", md, f"scan {scan_id}")


def measure_names(course_list):
    """Every measure present in the courses, scores first, then FA, then MD."""
    names = {}
    for course in course_list:
        for visit in course.visits:
            for measure in visit.measures.values():
                names.setdefault(measure.name, measure.kind)
    order = {"score": 0, "fa": 1, "md": 2}
    return sorted(names, key=lambda name: (order[names[name]], name != "FA white matter", name))
