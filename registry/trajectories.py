"""The trajectories on the patient page: each instrument and each FA measure of a patient's course over
the months since the first procedure, procedures marked, as small inline SVG charts with their numbers.

Built from the patient's timeline (registry.selectors.patient_timeline), which already holds the course
read model's months and measures and the visit's scores with their instruments: drawing costs no query.
"""

import contextvars
import math
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import formats
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from registry.charts import Axis, LineChart, Marker, Point, Series, escape, line_chart, nice_ticks
from registry.course import FA_WHITE_MATTER
from registry.models import Score
from registry.templatetags.registry_format import ROMAN_LEVELS

FA_WHOLE_BRAIN = "FA whole brain"
# A scale this narrow is drawn over its whole range; a wider one (GMFM 0–100) around its values, so that
# a child's change of a few points shows; the caption states the whole range either way.
NARROW_RANGE = 10
FA_MIN_SPAN = 0.05  # the least FA span an axis shows, so that test–retest noise does not fill a chart


@dataclass
class Row:
    date: object
    months: str
    value: str
    note: str = ""


@dataclass
class Trajectory:
    title: str
    caption: str
    svg: str
    rows: list
    note: str = ""

    @property
    def table_rows(self):
        """The rows of the chart's table of values as markup (the page shows a table under every chart)."""
        return mark_safe(
            "".join(
                f"<tr><td>{row.date.isoformat()}</td><td>{escape(row.months)}</td><td>{escape(row.value)}"
                + (f' <span class="muted">({escape(row.note)})</span>' if row.note else "")
                + "</td></tr>"
                for row in self.rows
            )
        )


@dataclass
class Trajectories:
    charts: list = field(default_factory=list)
    procedures: list = field(default_factory=list)  # (label, date, months worded)
    waiting: bool = False  # values exist but no procedure yet: there are no months to draw them over


@dataclass
class _Value:
    date: object
    months: float
    value: float
    text: str
    count: int = 1  # how many scores of the instrument at the visit the value is the mean of


# The page's decimal separator while patient_trajectories draws: read once a page rather than once a number.
_decimal_separator = contextvars.ContextVar("decimal_separator", default=None)


def number(value, digits=None):
    """``value`` worded in the page's language (decimal comma in Spanish), with a true minus sign; all its
    digits when ``digits`` is None. Called for every tick, point and row, so it reads the separator only."""
    if digits is None:
        text = format(Decimal(value).normalize(), "f")
    else:
        text = f"{round(float(value), digits) + 0.0:.{digits}f}"  # + 0.0: never "-0.0"
    separator = _decimal_separator.get() or formats.get_format("DECIMAL_SEPARATOR")
    return text.replace(".", separator).replace("-", "−")


def is_level(instrument):
    """A classification in levels I–V (GMFCS, MACS, CFCS): whole numbers from 1 to at most 5, no labels."""
    return (
        instrument.integer_only
        and not instrument.value_labels
        and instrument.min_value == 1
        and instrument.max_value <= len(ROMAN_LEVELS)
    )


def score_label(instrument, value):
    """A score as the clinic writes it: a level in roman numerals, a labelled value by its label
    (Modified Ashworth 1.5 is "1+"), any other value as a number of the page's language."""
    if is_level(instrument) and float(value).is_integer():
        return ROMAN_LEVELS[int(value)]
    key = format(Decimal(str(value)).normalize(), "f")
    if key in instrument.value_labels:
        return instrument.value_labels[key]
    return number(round(Decimal(str(value)), 2))


def patient_trajectories(timeline):
    """The patient's Trajectories from the events of registry.selectors.patient_timeline."""
    token = _decimal_separator.set(formats.get_format("DECIMAL_SEPARATOR"))
    try:
        return _trajectories(timeline)
    finally:
        _decimal_separator.reset(token)


def _trajectories(timeline):
    procedures = [event for event in timeline if event["kind"] == "procedure"]
    visits = [event for event in timeline if event["kind"] == "visit"]
    scores, fa = _scores(visits), _fa(visits)
    if not scores and not fa:
        return Trajectories()
    if not procedures:
        return Trajectories(waiting=True)
    marks = [
        (_("P%(number)s") % {"number": n}, event["record"].date, event["course"].months_since_procedure)
        for n, event in enumerate(procedures, start=1)
    ]
    lines = [values for sides in scores.values() for values in sides.values()]
    months = [value.months for values in (*lines, *fa.values()) for value in values]
    x_axis = _months_axis(months + [m for _, _, m in marks])
    markers = tuple(
        Marker(m, label, _("Procedure %(label)s, %(date)s") % {"label": label, "date": date.isoformat()})
        for label, date, m in marks
    )
    charts = []
    for (instrument, muscle), sides in scores.items():
        charts.append(_score_chart(f"trajectory-{len(charts) + 1}", instrument, muscle, sides, x_axis, markers))
    for name, values in fa.items():
        charts.append(_fa_chart(f"trajectory-{len(charts) + 1}", name, values, x_axis, markers))
    procedures_worded = [(label, date, number(m, 1)) for label, date, m in marks]
    return Trajectories(charts=charts, procedures=procedures_worded)


def _scores(visits):
    """{(instrument, muscle group or None): {side: [_Value in time order]}}, in code and muscle order.

    Scores recorded as missing are left out (the table on the page still lists them). An instrument
    scored per muscle group gets one chart per muscle group with a line per side; several scores of
    one instrument at a visit otherwise (entered twice by hand) are drawn as their mean and say so.
    """
    by_chart = {}
    for event in visits:
        facts = event["course"]
        at_visit = {}
        for item in event["scores"]:
            score = item["score"]
            if score.value is None:
                continue
            key = (score.instrument, score.muscle, score.side)
            at_visit.setdefault(key, []).append(score.value)
        for (instrument, muscle, side), values in at_visit.items():
            mean = sum(values) / len(values)
            text = score_label(instrument, mean)
            lines = by_chart.setdefault((instrument, muscle), {})
            lines.setdefault(side, []).append(
                _Value(event["record"].date, facts.months, float(mean), text, len(values))
            )
    return dict(
        sorted(
            by_chart.items(),
            key=lambda item: (item[0][0].code, item[0][1].position if item[0][1] else -1, str(item[0][1] or "")),
        )
    )


def _fa(visits):
    """{FA measure name: [_Value in time order]}: white matter, whole brain, then regions by name."""
    by_name = {}
    for event in visits:
        facts = event["course"]
        for name, measure in facts.measures.items():
            if measure.kind == "fa" and measure.value is not None:
                value = float(measure.value)
                by_name.setdefault(name, []).append(_Value(event["record"].date, facts.months, value, number(value, 3)))
    first = {FA_WHITE_MATTER: 0, FA_WHOLE_BRAIN: 1}
    return dict(sorted(by_name.items(), key=lambda item: (first.get(item[0], 2), item[0])))


def _months_axis(months):
    low, high = min(months + [0.0]), max(months + [0.0])
    span = high - low or 1.0
    step = next((s for s in (1, 3, 6, 12, 24, 48) if span / s <= 8), 60)
    low, high = low - 0.04 * span, high + 0.04 * span
    first = math.ceil(low / step) * step
    ticks = [(m, number(m)) for m in range(first, int(math.floor(high)) + 1, step)]
    return Axis(low, high, tuple(ticks), _("Months since the first procedure"))


def _value_axis(values, bottom, top, *, min_span, digits=None):
    """An axis around ``values`` with round ticks, at least ``min_span`` tall, kept inside bottom–top."""
    low, high = min(values), max(values)
    if high - low < min_span:
        middle = (high + low) / 2
        low, high = middle - min_span / 2, middle + min_span / 2
    ticks = [t for t in nice_ticks(low, high, count=5) if bottom <= t <= top]
    low, high = max(bottom, min(ticks + [low])), min(top, max(ticks + [high]))
    return Axis(low, high, tuple((t, number(t, digits)) for t in ticks))


def _score_axis(instrument, values):
    bottom, top = float(instrument.min_value), float(instrument.max_value)
    if is_level(instrument):
        ticks = [(level, ROMAN_LEVELS[level]) for level in range(int(bottom), int(top) + 1)]
        return Axis(bottom, top, tuple(ticks))
    if instrument.value_labels:
        ticks = sorted((float(key), label) for key, label in instrument.value_labels.items())
        return Axis(bottom, top, tuple(ticks))
    if top - bottom <= NARROW_RANGE:
        return Axis(bottom, top, tuple((t, number(t)) for t in nice_ticks(bottom, top) if bottom <= t <= top))
    return _value_axis([v.value for v in values], bottom, top, min_span=(top - bottom) / 10)


def _score_chart(chart_id, instrument, muscle, sides, x_axis, markers):
    unit = f" {instrument.unit}" if instrument.unit else ""
    direction = _("higher is better") if instrument.higher_is_better else _("lower is better")
    bounds = (score_label(instrument, instrument.min_value), score_label(instrument, instrument.max_value))
    caption = _("%(name)s. Scale %(low)s to %(high)s%(unit)s, %(direction)s.") % {
        "name": instrument.name,
        "low": bounds[0],
        "high": bounds[1],
        "unit": unit,
        "direction": direction,
    }
    values = [value for line in sides.values() for value in line]
    several = max(value.count for value in values) > 1
    note = _("Where a visit has several scores of this instrument, their mean is drawn.") if several else ""
    title = instrument.code
    if muscle is not None:
        title = _("%(instrument)s, %(muscle)s") % {"instrument": instrument.code, "muscle": muscle}
        worded = [str(Score.Side(side).label) for side in sorted(sides) if side]
        note = _("One line per side: %(sides)s (blue left, orange right).") % {"sides": ", ".join(worded)}
    return _trajectory(title, caption, note, sides, x_axis, _score_axis(instrument, values), markers, chart_id)


def _fa_chart(chart_id, name, values, x_axis, markers):
    title = {FA_WHITE_MATTER: _("White-matter FA"), FA_WHOLE_BRAIN: _("Whole-brain FA")}.get(name, name)
    caption = _("FA of the scan that counts for each visit, on a scale of 0 to 1.")
    y_axis = _value_axis([v.value for v in values], 0.0, 1.0, min_span=FA_MIN_SPAN, digits=2)
    return _trajectory(title, caption, "", {"": values}, x_axis, y_axis, markers, chart_id)


def _trajectory(title, caption, note, lines, x_axis, y_axis, markers, chart_id):
    """A chart of one measure, with a line per side when ``lines`` has sides ("" when it has none)."""
    series, rows = [], []
    point_text = _("%(date)s, %(months)s months: %(value)s")
    for side in sorted(lines):
        side_name = str(Score.Side(side).label) if side else ""
        points = []
        for value in sorted(lines[side], key=lambda value: (value.months, value.date)):
            months = number(value.months, 1)
            text = point_text % {
                "date": value.date.isoformat(),
                "months": months,
                "value": value.text,
            }
            row_note = _("mean of %(count)s scores") % {"count": value.count} if value.count > 1 else ""
            row_note = ", ".join(part for part in (side_name, row_note) if part)
            points.append(Point(value.months, value.value, f"{text} ({row_note})" if row_note else text))
            rows.append(Row(value.date, months, value.text, row_note))
        series.append(Series(side_name or title, tuple(points)))
    rows.sort(key=lambda row: (row.date, row.note))
    words = {"first": rows[0].months, "last": rows[-1].months, "start": rows[0].value, "end": rows[-1].value}
    if len(rows) == 1:
        description = _("One value, %(start)s, at %(first)s months since the first procedure.") % words
    else:
        description = _(
            "%(count)s values from %(first)s to %(last)s months since the first procedure: first %(start)s, "
            "last %(end)s."
        ) % {"count": len(rows), **words}
    chart = LineChart(
        chart_id=chart_id,
        title=_("%(measure)s over the months since the first procedure") % {"measure": title},
        description=description,
        x=x_axis,
        y=y_axis,
        series=tuple(series),
        markers=markers,
    )
    return Trajectory(title=title, caption=caption, svg=line_chart(chart), rows=rows, note=note)
