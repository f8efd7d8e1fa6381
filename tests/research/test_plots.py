"""Research figures: valid PNG and SVG, byte-identical on repeat, honest about small n, no figure leaks."""

import io
import re
import xml.etree.ElementTree as ET

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import pytest

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


def svg_text(data):
    """Every piece of text drawn in the SVG (titles, labels, annotations), as one string."""
    root = ET.fromstring(data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return "\n".join("".join(el.itertext()) for el in root.iter("{http://www.w3.org/2000/svg}text"))


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
def test_svg_parses_and_shows_title_labels_and_n(name, title):
    text = svg_text(PLOTS[name](fmt="svg"))
    assert title in text
    for label in LABELS:
        assert label in text
    assert "n = 3" in text
    assert "no p-value" not in text


def test_svg_shows_the_test_results():
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
def test_one_patient_does_not_crash_and_says_so(name):
    assert PLOTS[name](ONE[name], fmt="png").startswith(PNG_MAGIC)
    text = svg_text(PLOTS[name](ONE[name], fmt="svg"))
    assert "n = 1" in text
    if name != "trajectories":  # trajectories carry no test
        assert "no p-value (n < 3)" in text


@pytest.mark.parametrize("name", PLOTS)
def test_no_patients_does_not_crash(name):
    assert PLOTS[name](NONE[name], fmt="png").startswith(PNG_MAGIC)
    text = svg_text(PLOTS[name](NONE[name], fmt="svg"))
    assert "n = 0" in text and "No data" in text


def test_missing_values_are_left_out_and_named():
    points = POINTS + [{"label": "CP-004", "x": None, "y": 2.0}]
    text = svg_text(scatter(points, fmt="svg"))
    assert "n = 3" in text and "not plotted (missing value): CP-004" in text
    pairs = PAIRS[:2] + [{"label": "CP-009", "before": 0.4, "after": float("nan")}]
    text = svg_text(paired(pairs, fmt="svg"))
    assert "n = 2" in text and "no p-value (n < 3)" in text and "CP-009" in text


def test_degenerate_values_do_not_crash():
    same = [{"label": f"CP-00{i}", "x": 0.4, "y": 0.4} for i in range(3)]
    assert "no variation" in svg_text(scatter(same, fmt="svg"))
    flat = [{"label": f"CP-00{i}", "before": 0.0, "after": 0.0} for i in range(3)]
    assert paired(flat).startswith(PNG_MAGIC)
    many = {f"CP-{i:03d}": [(0, 0.4 + i / 100), (6, 0.41 + i / 100)] for i in range(20)}
    assert trajectories(many).startswith(PNG_MAGIC)


def test_dollar_signs_are_text_not_mathtext():
    assert "Cost in $ and $$" in svg_text(trajectories(fmt="svg", title="Cost in $ and $$"))


def test_repeated_calls_leave_no_open_figures():
    plt.close("all")
    for i in range(50):
        PLOTS[["scatter", "trajectories", "paired"][i % 3]](fmt="png" if i % 2 else "svg")
    assert plt.get_fignums() == []
