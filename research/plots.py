"""Figures for the research pages: FA against function, trajectories over time, baseline vs follow-up.

Plain functions of plain values (no models, no requests). Each returns the figure as bytes in ``fmt``
"png" or "svg" (anything else raises ValueError) and is deterministic: the same input gives byte-identical
output, because

* PNG is written without the "Software" text chunk (matplotlib's Agg PNG has no timestamp);
* SVG is written without the "Date" metadata, with a fixed ``svg.hashsalt`` for its internal ids. The
  salt is derived from the plot's own input, so one figure is byte-identical across runs while two
  different figures inlined in one HTML page still get distinct ids.

Text in the SVG is kept as real ``<text>`` (``svg.fonttype = "none"``) so that titles and patient labels
are searchable, selectable and readable by screen readers. Labels are never parsed as mathtext, so a
"$" in a title prints as a dollar sign. Colours are the Okabe–Ito colour-blind-safe palette, paired
with distinct marker shapes so that patients can be told apart without colour too. Every figure says
how many patients it shows ("n = K"), and figures that carry a test add "no p-value (n < 3)" when n < 3.

Every word drawn goes through Django's gettext, so a figure speaks the language active when it is rendered
(the page's language, for a figure requested by the page); numbers are worded by research.reporting, as on
the page. Axes never use an offset ("1e8") or scientific notation: callers pass values already in the
units their labels name (e.g. TNC in 10⁸ cells/kg), and the least-squares line is drawn from three points
on (research.stats.linear_fit).

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot, so they are never registered
in pyplot's global figure list (nothing to leak, nothing shared between threads) and are dropped as
soon as their bytes are written.
"""

import hashlib
import io
import math
import textwrap
import threading

import matplotlib
from django.utils import formats
from django.utils.translation import gettext, ngettext

from . import reporting
from . import stats as rstats

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402  (after choosing the backend)
from matplotlib.ticker import ScalarFormatter  # noqa: E402

FORMATS = ("png", "svg")
FIGSIZE = (8.0, 5.5)  # inches
DPI = 120  # → 960 × 660 px PNG

# Okabe & Ito (2008), reordered so that the low-contrast yellow comes last.
COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]  # 7 shapes × 8 colours: 56 distinct patients
FIT_COLOUR = "#D55E00"
NEUTRAL = "#555555"
_LABEL_BOX = {"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8}

_RC = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "DejaVu Sans",
    "font.size": 11,
    "axes.titlesize": 11,
    "axes.labelsize": 12,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.8,
}
_METADATA = {"png": {"Software": None}, "svg": {"Date": None}}

# rcParams are process-global; the lock keeps two threads (e.g. two web requests) from rendering
# under each other's rc_context.
_LOCK = threading.Lock()


def _check_fmt(fmt):
    if fmt not in FORMATS:
        raise ValueError(f"unknown figure format {fmt!r}: use 'png' or 'svg'")


def _num(v):
    try:
        return rstats._value(v)
    except (TypeError, ValueError):
        return None


def _style(i):
    return {"color": COLOURS[i % len(COLOURS)], "marker": MARKERS[i % len(MARKERS)]}


class _PlainNumbers(ScalarFormatter):
    """Tick labels as plain numbers in the active language: no offset, no scientific notation."""

    def __init__(self):
        super().__init__(useOffset=False)
        self.set_scientific(False)
        self.decimal = formats.get_format("DECIMAL_SEPARATOR")

    def __call__(self, x, pos=None):
        return super().__call__(x, pos).replace(".", self.decimal)


def _axes(fig):
    ax = fig.add_subplot()
    ax.xaxis.set_major_formatter(_PlainNumbers())
    ax.yaxis.set_major_formatter(_PlainNumbers())
    return ax


def _render(key, draw, fmt):
    """Draw a fresh figure with ``draw(fig)`` and return its bytes in ``fmt``, deterministically.

    ``key`` is everything drawn, as plain values (cleaned numbers, labels, text); its repr seeds the
    SVG ids, so it must not contain objects whose repr changes between runs.
    """
    salt = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
    with _LOCK, matplotlib.rc_context({**_RC, "svg.hashsalt": salt}):
        fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
        try:
            draw(fig)
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=DPI, metadata=_METADATA[fmt])
            return buf.getvalue()
        finally:
            fig.clear()


def _header(fig, ax, title, lines):
    fig.suptitle(textwrap.fill(str(title), 70), fontsize=14, fontweight="bold")
    ax.set_title("\n".join(textwrap.fill(line, 95) for line in lines if line), loc="left", color="#222222")


def _no_data(ax):
    ax.text(0.5, 0.5, gettext("No data"), transform=ax.transAxes, ha="center", va="center", fontsize=14, color=NEUTRAL)


def _n_lines(n, test=True):
    lines = [ngettext("n = %(n)d patient", "n = %(n)d patients", n) % {"n": n}]
    if test and n < rstats.N_MIN_P:
        lines.append(gettext("no p-value (n < 3)"))
    return lines


def _missing_line(labels):
    return gettext("not plotted (missing value): %(patients)s") % {"patients": ", ".join(labels)} if labels else None


def _fit_label(fit, x_unit):
    slope = reporting.significant(fit["slope"]).replace("-", "−")
    if x_unit:
        return gettext("least-squares line, slope %(slope)s per %(unit)s") % {"slope": slope, "unit": x_unit}
    return gettext("least-squares line, slope %(slope)s") % {"slope": slope}


def scatter_with_fit(points, *, x_label, y_label, title, stats=None, x_unit=None, fmt="png"):
    """Scatter of one value per patient against another, each point labelled, with the OLS line.

    ``points``: ``[{"label": "CP-001", "x": float, "y": float}, ...]``, x in the units ``x_label`` names;
    points with a missing x or y are left out and named under the title. The least-squares line
    (research.stats.linear_fit) is drawn when at least 3 points with varying x remain; its slope is
    printed per ``x_unit`` (e.g. "10⁸ cells/kg") when given. ``stats``, the dict from
    research.stats.spearman, adds Spearman's rho and p under the title.
    """
    _check_fmt(fmt)
    shown, missing = [], []
    for p in points:
        x, y = _num(p.get("x")), _num(p.get("y"))
        (shown if x is not None and y is not None else missing).append((str(p.get("label", "")), x, y))
    fit = rstats.linear_fit([x for _, x, _ in shown], [y for _, _, y in shown])

    lines = _n_lines(len(shown))
    if shown and fit["note"] == rstats.NOTE_NO_LINE:
        lines.append(gettext("no least-squares line (n < 3)"))
    if stats is not None:
        parts = []
        if stats.get("rho") is not None:
            parts.append(gettext("Spearman ρ = %(rho)s") % {"rho": reporting.number(stats["rho"], 2)})
        if stats.get("p") is not None:
            parts.append(reporting.p_text(stats))
        if parts:
            lines[0] += " · " + ", ".join(parts)
        if stats.get("note") and stats["note"] != rstats.NOTE_SMALL_N:
            lines.append(reporting.note(stats["note"]))
    if _missing_line([label for label, _, _ in missing]):
        lines.append(_missing_line([label for label, _, _ in missing]))

    def draw(fig):
        ax = _axes(fig)
        _header(fig, ax, title, lines)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        if not shown:
            _no_data(ax)
            return
        xs, ys = [x for _, x, _ in shown], [y for _, _, y in shown]
        ax.scatter(xs, ys, s=64, color=COLOURS[0], edgecolors="white", linewidths=1.0, zorder=3)
        for label, x, y in shown:
            ax.annotate(
                label,
                (x, y),
                xytext=(6, 6),
                textcoords="offset points",
                fontsize=10,
                color="#222222",
                bbox=_LABEL_BOX,
                zorder=4,
            )
        if fit["slope"] is not None:
            lo, hi = min(xs), max(xs)
            ax.plot(
                [lo, hi],
                [fit["slope"] * lo + fit["intercept"], fit["slope"] * hi + fit["intercept"]],
                color=FIT_COLOUR,
                linewidth=2,
                zorder=2,
                label=_fit_label(fit, x_unit),
            )
            ax.legend(loc="best", frameon=False)
        ax.margins(0.15)

    return _render(("scatter", shown, x_label, y_label, title, lines, x_unit, fmt), draw, fmt)


def trajectories(series, *, y_label, title, x_label=None, fmt="png"):
    """One line per patient over time, with a dashed vertical line at 0 (the procedure).

    ``series``: ``{"CP-001": [(months, value), ...], ...}``; points with a missing month or value are
    left out, and the remaining points are joined in time order. Patients are ordered by label, each
    with its own colour and marker, in a legend to the right of the plot. ``x_label`` defaults to
    "Months since the procedure".
    """
    _check_fmt(fmt)
    x_label = x_label or gettext("Months since the procedure")
    lines_by_patient, missing = {}, []
    for label in sorted(series, key=str):
        pts = sorted(
            (m, v) for m, v in ((_num(m), _num(v)) for m, v in series[label]) if m is not None and v is not None
        )
        if pts:
            lines_by_patient[str(label)] = pts
        else:
            missing.append(str(label))
    lines = _n_lines(len(lines_by_patient), test=False)
    if missing:
        lines.append(gettext("not plotted (no values): %(patients)s") % {"patients": ", ".join(missing)})

    def draw(fig):
        ax = _axes(fig)
        _header(fig, ax, title, lines)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.axvline(0, color=NEUTRAL, linestyle="--", linewidth=1.2, zorder=1)
        ax.annotate(
            gettext("procedure"),
            (0, 1),
            xycoords=("data", "axes fraction"),
            xytext=(4, -4),
            textcoords="offset points",
            ha="left",
            va="top",
            fontsize=10,
            color=NEUTRAL,
        )
        if not lines_by_patient:
            _no_data(ax)
            return
        for i, (label, pts) in enumerate(lines_by_patient.items()):
            ax.plot(
                [m for m, _ in pts],
                [v for _, v in pts],
                label=label,
                linewidth=2,
                markersize=7,
                markeredgecolor="white",
                **_style(i),
            )
        ax.margins(x=0.06, y=0.12)
        fig.legend(loc="outside right upper", title=gettext("Patient"), frameon=False)

    return _render(("trajectories", lines_by_patient, y_label, title, x_label, lines, fmt), draw, fmt)


def _spread(values, gap):
    """Label positions near ``values`` but at least ``gap`` apart (same order as ``values``)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    placed = [0.0] * len(values)
    previous = -math.inf
    for i in order:
        placed[i] = max(values[i], previous + gap)
        previous = placed[i]
    # centre the adjusted block on the data again so labels do not all drift upwards
    shift = (sum(placed) - sum(values)) / len(values) if values else 0.0
    return [p - shift for p in placed]


def paired_before_after(pairs, *, y_label, title, stats=None, fmt="png"):
    """Slope graph from "Baseline" to "Follow-up", one line per patient, labelled at its right end.

    ``pairs``: ``[{"label", "before", "after"}, ...]``; pairs with either value missing are left out
    and named under the title. ``stats``, the dict from research.stats.wilcoxon_paired, adds the
    Wilcoxon signed-rank result (W and p) and, under its own name, the median difference under the title.
    """
    _check_fmt(fmt)
    shown, missing = [], []
    for p in pairs:
        b, a = _num(p.get("before")), _num(p.get("after"))
        (shown if b is not None and a is not None else missing).append((str(p.get("label", "")), b, a))
    shown.sort(key=lambda item: item[0])

    lines = _n_lines(len(shown))
    if stats is not None:
        parts = []
        if stats.get("statistic") is not None and stats.get("p") is not None:
            w, p = reporting.statistic(stats["statistic"]), reporting.p_value(stats["p"])
            parts.append(gettext("Wilcoxon signed-rank W = %(w)s, %(p)s") % {"w": w, "p": p})
        if stats.get("median_difference") is not None:
            parts.append(
                gettext("median difference (follow-up − baseline) %(difference)s")
                % {"difference": reporting.signed(stats["median_difference"]).replace("-", "−")}
            )
        lines.extend(parts)  # one line each: the test, then its estimate under its own name
        if stats.get("note") and stats["note"] != rstats.NOTE_SMALL_N:
            lines.append(reporting.note(stats["note"]))
    if _missing_line([label for label, _, _ in missing]):
        lines.append(_missing_line([label for label, _, _ in missing]))

    def draw(fig):
        ax = _axes(fig)
        _header(fig, ax, title, lines)
        ax.set_ylabel(y_label)
        ax.set_xticks([0, 1], [gettext("Baseline"), gettext("Follow-up")])
        ax.set_xlim(-0.25, 1.4)
        ax.grid(axis="x", visible=False)
        if not shown:
            _no_data(ax)
            return
        for i, (_label, b, a) in enumerate(shown):
            ax.plot([0, 1], [b, a], linewidth=2, markersize=8, markeredgecolor="white", **_style(i))
        values = [v for _, b, a in shown for v in (b, a)]
        lo, hi = min(values), max(values)
        span = (hi - lo) or (abs(hi) or 1.0)
        label_y = _spread([a for _, _, a in shown], gap=0.06 * span)
        ax.set_ylim(min(lo, *label_y) - 0.1 * span, max(hi, *label_y) + 0.1 * span)
        for i, ((label, _, a), y) in enumerate(zip(shown, label_y)):
            colour = _style(i)["color"] if _style(i)["color"] != "#F0E442" else "#222222"  # yellow text is unreadable
            leader = {"arrowstyle": "-", "color": "#BBBBBB", "linewidth": 0.8} if abs(y - a) > 0.02 * span else None
            ax.annotate(
                label,
                (1, a),
                xytext=(1.06, y),
                textcoords="data",
                va="center",
                ha="left",
                fontsize=10,
                color=colour,
                bbox=_LABEL_BOX,
                arrowprops=leader,
            )

    return _render(("paired", shown, y_label, title, lines, fmt), draw, fmt)
