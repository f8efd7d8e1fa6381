"""The tables a paper needs and the linking of FA with clinical scores, computed from the courses' read model.

Every change is a change since baseline at a *timepoint*: a scheduled follow-up visit (see
registry.course.schedule). An unscheduled or out-of-window visit never stands in for a timepoint
unless the user asks for the latest available visit explicitly (LATEST_AVAILABLE).
"""

from collections import Counter

from django.utils.translation import gettext_lazy as _

from registry.course import FA_WHITE_MATTER, follow_up_schedule
from research import stats

FA_DEFAULT = FA_WHITE_MATTER
# Which follow-up a change is for: the latest scheduled timepoint a patient has the measures at,
# one timepoint for everyone ("6m"), or the latest visit of any kind (asked for explicitly).
LATEST_TIMEPOINT = "latest-timepoint"
LATEST_AVAILABLE = "latest-available"


def follow_up_choices():
    """(value, label) of each way to choose the follow-up, in the request's language."""
    return [
        (LATEST_TIMEPOINT, _("each patient's latest scheduled timepoint")),
        *[(timepoint.code, timepoint.label) for timepoint in follow_up_schedule()],
        (LATEST_AVAILABLE, _("latest available visit, unscheduled included")),
    ]


def baseline_characteristics(courses):
    """Age, sex, subtype, etiology, GMFCS, TNC/kg and CD34+/kg of the cohort (n always shown)."""
    return {
        "n": len(courses),
        "age_at_procedure_months": stats.describe([c.age_at_procedure_months for c in courses]),
        "sex": stats.count_by([c.sex for c in courses]),
        "cp_subtype": stats.count_by([c.cp_subtype for c in courses]),
        "etiology": stats.count_by([c.etiology for c in courses]),
        "gmfcs_level": stats.count_by([c.gmfcs_level for c in courses]),
        "tnc_per_kg": stats.describe([c.tnc_per_kg for c in courses]),
        "cd34_per_kg": stats.describe([c.cd34_per_kg for c in courses]),
    }


def measure_table(courses, kinds):
    """Per patient and measure (of `kinds`, e.g. {"score"}): baseline and each scheduled timepoint with
    change and % change. Rows: {"study_id", "measure", "baseline", "follow_ups": [{"timepoint",
    "months", "value", "change", "percent_change", "error", "basis", "beyond_error"}]} (the error a change
    must exceed and whether it does: :class:`registry.quantities.Change`); visits that fill no timepoint
    are not shown."""
    rows = []
    for course in courses:
        names = sorted(
            {m.name for visit in course.visits for m in visit.measures.values() if m.kind in kinds},
            key=lambda name: (name != FA_WHITE_MATTER, name),
        )
        for name in names:
            follow_ups = []
            for visit in course.visits:
                measure = visit.measures.get(name)
                if visit.timepoint is None or measure is None:
                    continue
                change = course.change(visit, name)
                follow_ups.append(
                    {
                        "timepoint": visit.timepoint,
                        "months": visit.months,
                        "value": measure.value,
                        "label": measure.label,  # "III", "1+" for labelled scales
                        "missing": measure.missing,
                        "change": change.change,
                        "percent_change": change.percent,
                        "error": change.error,
                        "basis": change.basis,
                        "beyond_error": change.beyond_error,
                    }
                )
            rows.append(
                {
                    "study_id": course.study_id,
                    "site": course.site,
                    "measure": name,
                    "baseline": course.baseline_value(name),
                    "baseline_label": _label_at(course.baseline, name),
                    "follow_ups": follow_ups,
                }
            )
    return rows


def follow_up_with(course, names, follow_up=LATEST_TIMEPOINT):
    """The follow-up visit a change is computed at, having every measure of `names`, or None.

    `follow_up`: LATEST_TIMEPOINT (the latest scheduled timepoint with the measures), a timepoint code
    such as "6m", or LATEST_AVAILABLE (the latest visit of any kind after baseline).
    """

    def has_all(visit):  # a score recorded as missing is not there
        return all(name in visit.measures and visit.measures[name].value is not None for name in names)

    if follow_up == LATEST_AVAILABLE:
        candidates = course.follow_ups
    elif follow_up == LATEST_TIMEPOINT:
        candidates = [visit for visit in course.follow_ups if visit.timepoint is not None]
    else:
        candidates = [visit for visit in course.follow_ups if visit.timepoint == follow_up]
    return next((visit for visit in reversed(candidates) if has_all(visit)), None)


def link(courses, instrument, fa_measure=FA_DEFAULT, follow_up=LATEST_TIMEPOINT):
    """(ΔFA, Δscore) per patient between baseline and the follow-up chosen by `follow_up` (see
    follow_up_with), with Spearman's ρ; a paired Wilcoxon test of FA at baseline vs follow-up;
    dose-response (TNC/kg against ΔFA and against Δscore). Each pair names its timepoint."""
    pairs, fa_pairs, missing = [], [], Counter()
    for course in courses:
        baseline = course.baseline
        base_fa, base_score = _value_at(baseline, fa_measure), _value_at(baseline, instrument)
        visit = follow_up_with(course, [fa_measure], follow_up)
        code = _missing_code(course, instrument, visit)
        if code:
            missing[code] += 1
        if base_fa is not None and visit is not None:
            fa_pairs.append(
                {
                    "label": course.study_id,
                    "timepoint": visit.timepoint,
                    "months": visit.months,
                    "before": base_fa,
                    "after": visit.measures[fa_measure].value,
                }
            )
        both = follow_up_with(course, [fa_measure, instrument], follow_up)
        if both is None or base_fa is None or base_score is None:
            continue
        pairs.append(
            {
                "study_id": course.study_id,
                "site": course.site,
                "timepoint": both.timepoint,
                "months": both.months,
                "tnc_per_kg": course.tnc_per_kg,
                "delta_fa": course.change(both, fa_measure).change,
                "delta_score": course.change(both, instrument).change,
            }
        )
    delta_fa = [pair["delta_fa"] for pair in pairs]
    delta_score = [pair["delta_score"] for pair in pairs]
    doses = [pair["tnc_per_kg"] for pair in pairs]
    return {
        "instrument": instrument,
        "fa_measure": fa_measure,
        "follow_up": follow_up,
        "pairs": pairs,
        "fa_pairs": fa_pairs,
        # Patients left out because the score is recorded as missing (at baseline or at the follow-up).
        "n_missing": sum(missing.values()),
        "missing_codes": dict(sorted(missing.items())),
        "correlation": stats.spearman(delta_fa, delta_score),
        "fa_change": stats.wilcoxon_paired([p["before"] for p in fa_pairs], [p["after"] for p in fa_pairs]),
        "dose_fa": stats.spearman(doses, delta_fa),
        "dose_score": stats.spearman(doses, delta_score),
    }


def _value_at(visit, name):
    """The value of measure ``name`` at ``visit`` (None when either is missing), as Course.baseline_value
    reads it of the baseline."""
    measure = visit.measures.get(name) if visit is not None else None
    return measure.value if measure else None


def _label_at(visit, name):
    measure = visit.measures.get(name) if visit is not None else None
    return measure.label if measure is not None else ""


def _missing_code(course, name, follow_up):
    """The missing-data code of score ``name`` at the baseline or at ``follow_up`` (a visit or None), or ""."""
    for visit in (course.baseline, follow_up):
        measure = visit.measures.get(name) if visit is not None else None
        if measure is not None and measure.missing:
            return measure.missing
    return ""


def trajectories(courses, name):
    """{study_id: [(months since the procedure, value), ...]} of one measure, every visit included."""
    series = {}
    for course in courses:
        points = [
            (visit.months, visit.measures[name].value)
            for visit in course.visits
            if name in visit.measures and visit.measures[name].value is not None and visit.months is not None
        ]
        if points:
            series[course.study_id] = points
    return series
