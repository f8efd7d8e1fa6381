"""The tables a paper needs and the linking of FA with clinical scores, computed from courses."""

from research import stats
from research.cohort import Course

FA_DEFAULT = "FA white matter"


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
    """Per patient and measure (of `kinds`, e.g. {"score"}): baseline and every follow-up with
    change and % change. Rows: {"study_id", "measure", "baseline", "follow_ups": [{"months",
    "value", "change", "percent_change"}]}."""
    rows = []
    for course in courses:
        names = sorted(
            {m.name for visit in course.visits for m in visit.measures.values() if m.kind in kinds},
            key=lambda name: (name != "FA white matter", name),
        )
        for name in names:
            baseline = course.baseline_value(name)
            follow_ups = []
            for visit in course.follow_ups:
                measure = visit.measures.get(name)
                if measure is not None:
                    follow_ups.append(
                        {"months": visit.months, "value": measure.value, **stats.change(baseline, measure.value)}
                    )
            rows.append({"study_id": course.study_id, "measure": name, "baseline": baseline, "follow_ups": follow_ups})
    return rows


def _last_follow_up_with(course: Course, *names):
    """The latest follow-up visit that has every one of `names`, or None."""
    for visit in reversed(course.follow_ups):
        if all(name in visit.measures for name in names):
            return visit
    return None


def link(courses, instrument, fa_measure=FA_DEFAULT):
    """(ΔFA, Δscore) per patient between baseline and the latest follow-up having both, with
    Spearman's ρ; a paired Wilcoxon test of FA at baseline vs follow-up; dose-response
    (TNC/kg against ΔFA and against Δscore)."""
    pairs, fa_pairs = [], []
    for course in courses:
        base_fa, base_score = course.baseline_value(fa_measure), course.baseline_value(instrument)
        visit = _last_follow_up_with(course, fa_measure)
        if base_fa is not None and visit is not None:
            fa_pairs.append({"label": course.study_id, "before": base_fa, "after": visit.measures[fa_measure].value})
        both = _last_follow_up_with(course, fa_measure, instrument)
        if both is None or base_fa is None or base_score is None:
            continue
        pairs.append(
            {
                "study_id": course.study_id,
                "months": both.months,
                "tnc_per_kg": course.tnc_per_kg,
                "delta_fa": both.measures[fa_measure].value - base_fa,
                "delta_score": both.measures[instrument].value - base_score,
            }
        )
    delta_fa = [pair["delta_fa"] for pair in pairs]
    delta_score = [pair["delta_score"] for pair in pairs]
    doses = [pair["tnc_per_kg"] for pair in pairs]
    return {
        "instrument": instrument,
        "fa_measure": fa_measure,
        "pairs": pairs,
        "fa_pairs": fa_pairs,
        "correlation": stats.spearman(delta_fa, delta_score),
        "fa_change": stats.wilcoxon_paired([p["before"] for p in fa_pairs], [p["after"] for p in fa_pairs]),
        "dose_fa": stats.spearman(doses, delta_fa),
        "dose_score": stats.spearman(doses, delta_score),
    }


def trajectories(courses, name):
    """{study_id: [(months since the procedure, value), ...]} of one measure."""
    series = {}
    for course in courses:
        points = [
            (visit.months, visit.measures[name].value)
            for visit in course.visits
            if name in visit.measures and visit.months is not None
        ]
        if points:
            series[course.study_id] = points
    return series
