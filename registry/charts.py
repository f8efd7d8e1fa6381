"""Small line charts drawn as inline SVG markup: plain values in, escaped markup out, no plotting library.

Pages draw them server-side and put them straight into the HTML: no image request, no script, nothing
from the internet, crisp at any zoom, and their words are real text a screen reader and the page's
language reach. Every colour and line is a presentation attribute, never a ``style`` (the
Content-Security-Policy refuses inline styles). Callers pass every word and tick label already worded
in the page's language; this module only places them.

Each point is a ``<circle class="point" data-x data-y>`` and each marker a ``<g class="marker" data-x>``
so that a reader of the markup (a test, a script) finds the values drawn without reverse-scaling pixels.
"""

import html
import math
from dataclasses import dataclass, field

from django.utils.safestring import mark_safe

# Okabe & Ito (2008) colour-blind-safe palette, low-contrast yellow left out.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
NEUTRAL = "#5f6b7a"
GRID = "#e3e8ee"

WIDTH, HEIGHT = 360, 210
LEFT, RIGHT, TOP, BOTTOM = 46, 12, 22, 40  # margins: y tick labels, marker labels, x ticks and title
MARKER_LABEL_GAP = 22  # px: the least distance between two marker labels on one row


@dataclass(frozen=True)
class Axis:
    """An axis from ``low`` to ``high`` with its ticks: ``[(value, label), ...]``; ``title`` is drawn under
    the x axis (the y axis is named by the chart's caption)."""

    low: float
    high: float
    ticks: tuple = ()
    title: str = ""

    def scale(self, start, end):
        """The pixel position, written by _fmt, of a value between ``start`` (at low) and ``end`` (at high): a
        function, its factors computed once a chart rather than once a point."""
        low, span, width = self.low, self.high - self.low, end - start
        if not span:
            middle = _fmt(start + width * 0.5)
            return lambda value: middle
        return lambda value: _fmt(start + width * ((value - low) / span))


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    text: str  # what a pointer over the point reads, e.g. "6,0 months: 46,5"


@dataclass(frozen=True)
class Series:
    name: str
    points: tuple  # Points, drawn joined in the order given


@dataclass(frozen=True)
class Marker:
    """A vertical line at ``x`` with a short ``label`` on top and a longer ``text`` for pointers."""

    x: float
    label: str
    text: str


@dataclass(frozen=True)
class LineChart:
    chart_id: str  # unique on the page: the ids of the title and description derive from it
    title: str
    description: str
    x: Axis
    y: Axis
    series: tuple
    markers: tuple = field(default_factory=tuple)


def nice_ticks(low, high, *, count=5, steps=(1, 2, 2.5, 5)):
    """Round tick values covering ``low``–``high``: about ``count`` of them, a step of 1, 2, 2.5 or 5
    times a power of ten (or of ``steps``), the first at or below ``low``, the last at or above ``high``."""
    if high <= low:
        high = low + 1
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next((s * power for s in steps if s * power >= raw), steps[0] * power * 10)
    first = math.floor(low / step + 1e-9) * step
    last = math.ceil(high / step - 1e-9) * step
    n = int(round((last - first) / step))
    return [round(first + i * step, 10) for i in range(n + 1)]


def _fmt(number):
    """A pixel position to a tenth, without trailing zeros: 12.0 -> "12", 12.25 -> "12.2"."""
    return f"{number:.1f}".rstrip("0").rstrip(".")


def escape(text):
    """Django's ``escape`` (the same text) without its machinery for lazy strings: a chart escapes each point's
    words, and callers pass words already worded."""
    return html.escape(str(text))


def line_chart(chart):
    """The SVG markup of ``chart`` (a LineChart), safe to put in a page as it is."""
    x0, x1 = LEFT, WIDTH - RIGHT
    y0, y1 = HEIGHT - BOTTOM, TOP  # y grows downwards in SVG

    px, py = chart.x.scale(x0, x1), chart.y.scale(y0, y1)

    title_id, desc_id = f"{chart.chart_id}-title", f"{chart.chart_id}-desc"
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" role="img" aria-labelledby="{title_id} {desc_id}" font-size="12">',
        f'<title id="{title_id}">{escape(chart.title)}</title>',
        f'<desc id="{desc_id}">{escape(chart.description)}</desc>',
    ]
    # Presentation attributes set once on a group are inherited by its lines or texts.
    grid = "".join(f"M{x0} {py(value)}H{x1}" for value, _ in chart.y.ticks)
    parts.append(f'<g class="y-axis"><path d="{grid}" stroke="{GRID}" stroke-width="1" fill="none"/>')
    parts.append(f'<g fill="{NEUTRAL}" text-anchor="end" dominant-baseline="middle">')
    for value, label in chart.y.ticks:
        parts.append(f'<text x="{x0 - 6}" y="{py(value)}" data-value="{value}">{escape(label)}</text>')
    parts.append("</g></g>")
    ticks = "".join(f"M{px(value)} {y0}v4" for value, _ in chart.x.ticks)
    parts.append(
        f'<g class="x-axis"><path d="M{x0} {y0}H{x1}{ticks}" stroke="{NEUTRAL}" stroke-width="1" fill="none"/>'
        f'<g fill="{NEUTRAL}" text-anchor="middle">'
    )
    for value, label in chart.x.ticks:
        parts.append(f'<text x="{px(value)}" y="{y0 + 15}" data-value="{value}">{escape(label)}</text>')
    if chart.x.title:
        parts.append(
            f'<text class="axis-title" x="{_fmt((x0 + x1) / 2)}" y="{HEIGHT - 6}">{escape(chart.x.title)}</text>'
        )
    parts.append("</g></g>")
    previous, row = None, 0
    for marker in sorted(chart.markers, key=lambda marker: marker.x):
        x = px(marker.x)
        # Labels of markers too close to read side by side alternate between two rows.
        row = 1 - row if previous is not None and float(x) - previous < MARKER_LABEL_GAP else 0
        previous = float(x)
        parts.append(
            f'<g class="marker" data-x="{marker.x}"><title>{escape(marker.text)}</title>'
            f'<line x1="{x}" x2="{x}" y1="{y0}" y2="{y1 - 4}" stroke="#c2185b" stroke-width="1.2" '
            f'stroke-dasharray="4 3"/>'
            f'<text x="{x}" y="{y1 - 8 + 12 * row}" text-anchor="middle" fill="#c2185b" font-weight="600">'
            f"{escape(marker.label)}</text></g>"
        )
    for index, series in enumerate(chart.series):
        colour = COLOURS[index % len(COLOURS)]
        parts.append(f'<g class="series" data-name="{escape(series.name)}">')
        if len(series.points) > 1:
            path = " ".join(f"{px(point.x)},{py(point.y)}" for point in series.points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<g fill="{colour}" stroke="#fff" stroke-width="1.2">')
        for point in series.points:
            parts.append(
                f'<circle class="point" cx="{px(point.x)}" cy="{py(point.y)}" r="4" data-x="{point.x}" '
                f'data-y="{point.y}"><title>{escape(point.text)}</title></circle>'
            )
        parts.append("</g></g>")
    parts.append("</svg>")
    return mark_safe("".join(parts))
