"""Research figures: valid PNG and SVG, byte-identical on repeat, honest about small n, no figure leaks."""

import io
import re

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import pytest
from django.utils import translation

from research import plots, stats

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG_SHAPE = (round(plots.FIGSIZE[1] * plots.DPI), round(plots.FIGSIZE[0] * plots.DPI))
LABELS = ["CP-001", "CP-002", "CP-003"]

POINTS = [
    {"label": "CP-001", "x": 0.021, "y": 6.5},
    {"label": "CP-002", "x": 0.034, "y": 9.1},
    {"label": "CP-003", "x": 0.012, "y": 3.2},
]
SERIES = {
    "CP-001": [(-1, 0.41), (3, 0.43), (12, 0.45)],
    "CP-002": [(0, 0.38), (6, 0.40), (12, 0.42)],
    "CP-003": [(-0.5, 0.45), (6, 0.45), (12, 0.46)],
}
PAIRS = [
    {"label": "CP-001", "before": 0.41, "after": 0.45},
    {"label": "CP-002", "before": 0.38, "after": 0.42},
    {"label": "CP-003", "before": 0.45, "after": 0.46},
]


def scatter(points=POINTS, fmt="png", title="FA change vs GMFM-88 change"):
    rho = stats.spearman([p["x"] for p in points], [p["y"] for p in points])
    return plots.scatter_with_fit(
        points, x_label="Change in FA", y_label="Change in GMFM-88", title=title, stats=rho, fmt=fmt
    )


def trajectories(series=SERIES, fmt="png", title="FA over time"):
    return plots.trajectories(series, y_label="FA (corticospinal tract)", title=title, fmt=fmt)


def paired(pairs=PAIRS, fmt="png", title="FA before and after the cells"):
    result = stats.wilcoxon_paired([p["before"] for p in pairs], [p["after"] for p in pairs])
    return plots.paired_before_after(pairs, y_label="FA (corticospinal tract)", title=title, stats=result, fmt=fmt)


PLOTS = {"scatter": scatter, "trajectories": trajectories, "paired": paired}
ONE = {"scatter": POINTS[:1], "trajectories": {"CP-001": SERIES["CP-001"]}, "paired": PAIRS[:1]}
NONE = {"scatter": [], "trajectories": {}, "paired": []}


@pytest.mark.parametrize("name", PLOTS)
def test_png_is_valid_and_of_the_expected_size(name):
    data = PLOTS[name](fmt="png")
    assert data.startswith(PNG_MAGIC)
    image = mpimg.imread(io.BytesIO(data), format="png")
    assert image.shape[:2] == PNG_SHAPE


@pytest.mark.parametrize(
    "name,title",
    [
        ("scatter", "FA change vs GMFM-88 change"),
        ("trajectories", "FA over time"),
        ("paired", "FA before and after the cells"),
    ],
)
def test_svg_parses_and_shows_title_labels_and_n(name, title, svg_text):
    text = svg_text(PLOTS[name](fmt="svg"))
    assert title in text
    for label in LABELS:
        assert label in text
    assert "n = 3" in text
    assert "no p-value" not in text


def test_svg_shows_the_test_results(svg_text):
    assert "Spearman ρ = 1.00, p = 0.33" in svg_text(scatter(fmt="svg"))
    assert "Wilcoxon signed-rank W = 0, p = 0.25" in svg_text(paired(fmt="svg"))


@pytest.mark.parametrize("name", PLOTS)
@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_same_input_gives_identical_bytes(name, fmt):
    assert PLOTS[name](fmt=fmt) == PLOTS[name](fmt=fmt)


def test_svg_has_no_date_and_png_no_software_chunk():
    assert b"<dc:date>" not in scatter(fmt="svg")
    assert b"Software" not in scatter(fmt="png")


def test_different_figures_get_different_svg_ids():
    """Two figures inlined in one HTML page must not share the ids their clip paths and markers refer to."""
    refs = [set(re.findall(rb'(?:url\(#|href="#)([^)"]+)', scatter(fmt="svg", title=t))) for t in ("One", "Two")]
    assert refs[0] and refs[1] and not refs[0] & refs[1]


@pytest.mark.parametrize("name", PLOTS)
@pytest.mark.parametrize("fmt", ["pdf", "jpg", "PNG", "", None])
def test_unknown_format_is_refused(name, fmt):
    with pytest.raises(ValueError):
        PLOTS[name](fmt=fmt)


@pytest.mark.parametrize("name", PLOTS)
def test_one_patient_does_not_crash_and_says_so(name, svg_text):
    assert PLOTS[name](ONE[name], fmt="png").startswith(PNG_MAGIC)
    text = svg_text(PLOTS[name](ONE[name], fmt="svg"))
    assert "n = 1" in text
    if name != "trajectories":  # trajectories carry no test
        assert "no p-value (n < 3)" in text


@pytest.mark.parametrize("name", PLOTS)
def test_no_patients_does_not_crash(name, svg_text):
    assert PLOTS[name](NONE[name], fmt="png").startswith(PNG_MAGIC)
    text = svg_text(PLOTS[name](NONE[name], fmt="svg"))
    assert "n = 0" in text and "No data" in text


def test_missing_values_are_left_out_and_named(svg_text):
    points = POINTS + [{"label": "CP-004", "x": None, "y": 2.0}]
    text = svg_text(scatter(points, fmt="svg"))
    assert "n = 3" in text and "not plotted (missing value): CP-004" in text
    pairs = PAIRS[:2] + [{"label": "CP-009", "before": 0.4, "after": float("nan")}]
    text = svg_text(paired(pairs, fmt="svg"))
    assert "n = 2" in text and "no p-value (n < 3)" in text and "CP-009" in text


def test_degenerate_values_do_not_crash(svg_text):
    same = [{"label": f"CP-00{i}", "x": 0.4, "y": 0.4} for i in range(3)]
    assert "no variation" in svg_text(scatter(same, fmt="svg"))
    flat = [{"label": f"CP-00{i}", "before": 0.0, "after": 0.0} for i in range(3)]
    assert paired(flat).startswith(PNG_MAGIC)
    many = {f"CP-{i:03d}": [(0, 0.4 + i / 100), (6, 0.41 + i / 100)] for i in range(20)}
    assert trajectories(many).startswith(PNG_MAGIC)


def test_dollar_signs_are_text_not_mathtext(svg_text):
    assert "Cost in $ and $$" in svg_text(trajectories(fmt="svg", title="Cost in $ and $$"))


def test_repeated_calls_leave_no_open_figures():
    plt.close("all")
    for i in range(50):
        PLOTS[["scatter", "trajectories", "paired"][i % 3]](fmt="png" if i % 2 else "svg")
    assert plt.get_fignums() == []


# --- fit line, units, language ------------------------------------------------------------------

# Doses as the pages show them, in 10⁸ cells/kg (2.0 ×10⁸/kg, ...).
DOSES = [
    {"label": "CP-001", "x": 2.0, "y": 6.0},
    {"label": "CP-002", "x": 3.0, "y": 7.0},
    {"label": "CP-003", "x": 2.6, "y": 1.0},
]
FIT_STROKE = f"stroke: {plots.FIT_COLOUR.lower()}"
SCIENTIFIC = re.compile(r"\d[eE][+\-−]?\d|×10\^")  # "1e8", "-4.63e-09", "1.0e-3", "×10^8"


def dose_scatter(points=DOSES, fmt="svg"):
    rho = stats.spearman([p["x"] for p in points], [p["y"] for p in points])
    return plots.scatter_with_fit(
        points,
        x_label="TNC (×10⁸ cells/kg)",
        y_label="Δ GMFM-88",
        title="Dose and change in GMFM-88",
        stats=rho,
        x_unit="10⁸ cells/kg",
        fmt=fmt,
    )


def tick_labels(svg_text, data):
    """The text items that are plain numbers: the tick labels (patient labels and titles are not)."""
    return [t for t in svg_text(data).splitlines() if re.fullmatch(r"[−\-]?\d+([.,]\d+)?", t)]


def test_a_plot_with_two_points_has_no_fit_line_and_says_so(svg_text):
    data = dose_scatter(DOSES[:2])
    assert FIT_STROKE not in data.decode()
    text = svg_text(data)
    assert "least-squares line," not in text and "no least-squares line (n < 3)" in text


def test_a_plot_with_three_points_has_its_fit_line(svg_text):
    data = dose_scatter(DOSES)
    assert data.decode().count(FIT_STROKE) == 2  # the line and its legend sample
    assert "least-squares line, slope 0.263 per 10⁸ cells/kg" in svg_text(data)


def test_slopes_of_tiny_or_large_units_print_in_fixed_notation(svg_text):
    # Doses left in cells/kg would give a slope of about -4.6e-09: printed as digits, never "e-09".
    cells = [{**p, "x": p["x"] * 1e8, "y": -p["y"]} for p in DOSES]
    text = svg_text(dose_scatter(cells))
    assert "slope −0.00000000263" in text
    assert not SCIENTIFIC.search(text)


def test_axes_show_plain_numbers_without_offset_or_scientific_notation(svg_text):
    # Values that differ only in the fourth decimal make matplotlib's default formatter add an
    # offset ("+4.501e-1"); x in cells/kg makes it add "1e8".
    close = [{"label": f"CP-00{i}", "x": (2.0 + i) * 1e8, "y": 0.4501 + i / 10_000} for i in range(3)]
    data = dose_scatter(close)
    text = svg_text(data)
    assert not SCIENTIFIC.search(text), text
    ticks = tick_labels(svg_text, data)
    assert "0.45020" in ticks and "300000000" in ticks


def test_dose_axis_ticks_are_in_the_units_of_the_label(svg_text):
    data = dose_scatter()
    assert "TNC (×10⁸ cells/kg)" in svg_text(data)
    x_ticks = [float(t.replace("−", "-")) for t in tick_labels(svg_text, data) if "." in t and float(t) >= 1.5]
    assert x_ticks and all(1.5 < x < 3.5 for x in x_ticks)


def test_figures_speak_the_active_language(svg_text):
    with translation.override("es"):
        text = svg_text(paired(fmt="svg"))
        assert "n = 3 pacientes" in text
        assert "Rangos con signo de Wilcoxon W = 0, p = 0,250" in text
        assert "diferencia mediana (seguimiento − basal) +0,040" in text  # median of 0.04, 0.04, 0.01
        assert "Basal" in text and "Seguimiento" in text
        assert "0,40" in tick_labels(svg_text, paired(fmt="svg"))
        assert "Meses desde el procedimiento" in svg_text(trajectories(fmt="svg"))
        assert "sin recta de mínimos cuadrados (n < 3)" in svg_text(dose_scatter(DOSES[:2]))
    assert "Baseline" in svg_text(paired(fmt="svg"))
