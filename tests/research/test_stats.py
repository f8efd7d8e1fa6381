"""Small-sample statistics for the research pages, checked against scipy and against values worked by hand."""

import itertools
import json
import math
import statistics

import numpy as np
import pytest
from django.utils import translation
from scipy import stats as sps

from research import reporting, stats

NAN = float("nan")


def assert_plain(result):
    """JSON-serialisable, built of Python types only (no numpy scalars, no NaN)."""
    json.dumps(result, allow_nan=False)
    values = result.values() if isinstance(result, dict) else [v for row in result for v in row.values()]
    for v in values:
        assert v is None or type(v) in (int, float, str, bool), (v, type(v))


def exact_spearman_p(x, y):
    """Two-sided p by enumerating every pairing of x with y (scipy's 2 * min(one-sided), capped at 1)."""
    observed = sps.spearmanr(x, y).statistic
    null = [sps.spearmanr(list(perm), y).statistic for perm in itertools.permutations(x)]
    tol = 1e-12
    greater = sum(r >= observed - tol for r in null) / len(null)
    less = sum(r <= observed + tol for r in null) / len(null)
    return min(1.0, 2 * min(greater, less))


def exact_wilcoxon_p(differences):
    """Two-sided p by enumerating the 2^n sign flips of the ranked |differences| (no zeros, no ties)."""
    ranks = sps.rankdata(np.abs(differences))
    observed = sum(r for r, d in zip(ranks, differences) if d > 0)
    null = [sum(r for r, s in zip(ranks, signs) if s > 0) for signs in itertools.product((1, -1), repeat=len(ranks))]
    greater = sum(w >= observed for w in null) / len(null)
    less = sum(w <= observed for w in null) / len(null)
    return min(1.0, 2 * min(greater, less))


# --- spearman -----------------------------------------------------------------------------------------

SPEARMAN_SETS = {
    "three patients": ([0.41, 0.38, 0.45], [12.0, 8.5, 15.2]),
    "ties": ([1, 2, 2, 3, 4], [3, 3, 1, 5, 4]),
    "negative values": ([-0.02, 0.01, -0.05, 0.03, 0.00, 0.04], [-3.0, 2.5, -1.0, 4.0, 0.5, -0.5]),
    "inverse": ([1, 2, 3, 4], [9, 7, 7.5, 1]),
}


@pytest.mark.parametrize("name", SPEARMAN_SETS)
def test_spearman_small_n_rho_is_scipys_and_p_is_the_exact_permutation_p(name):
    x, y = SPEARMAN_SETS[name]
    result = stats.spearman(x, y)
    assert result["n"] == len(x)
    assert result["rho"] == pytest.approx(sps.spearmanr(x, y).statistic)
    assert result["p"] == pytest.approx(exact_spearman_p(x, y))
    assert result["p_method"] == "exact permutation"
    assert_plain(result)


def test_spearman_exact_p_agrees_with_scipy_permutation_test():
    rng = np.random.default_rng(7)
    x = rng.normal(size=7)
    y = x + rng.normal(size=7)
    reference = sps.permutation_test(
        (x,), lambda xs: sps.spearmanr(xs, y).statistic, permutation_type="pairings", n_resamples=np.inf
    ).pvalue
    assert stats.spearman(x, y)["p"] == pytest.approx(reference)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_spearman_from_n_10_is_scipys_t_approximation(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=15).round(1)  # rounding makes ties
    y = (x + rng.normal(size=15)).round(1)
    result = stats.spearman(list(x), list(y))
    reference = sps.spearmanr(x, y)
    assert result["rho"] == pytest.approx(reference.statistic)
    assert result["p"] == pytest.approx(reference.pvalue)
    assert result["p_method"] == "t approximation"
    assert_plain(result)


def test_spearman_on_a_perfectly_monotone_set_is_rho_1_with_an_honest_p():
    result = stats.spearman([0.30, 0.35, 0.41], [20, 31, 35])
    # 3! = 6 pairings, only the observed one (rho = 1) and its reverse (rho = -1) are as extreme.
    assert result == {"n": 3, "rho": 1.0, "p": pytest.approx(2 / 6), "p_method": "exact permutation", "note": None}
    assert stats.spearman([1, 2, 3, 4], [8, 6, 4, 2])["rho"] == -1.0
    assert stats.spearman([1, 2, 3, 4], [8, 6, 4, 2])["p"] == pytest.approx(2 / 24)


def test_spearman_drops_pairs_with_a_missing_value():
    x = [0.41, None, 0.38, 0.45, NAN, 0.50]
    y = [12.0, 10.0, 8.5, 15.2, 11.0, None]
    assert stats.spearman(x, y) == stats.spearman([0.41, 0.38, 0.45], [12.0, 8.5, 15.2])
    assert stats.spearman(x, y)["n"] == 3


def test_spearman_with_two_pairs_has_no_p_value():
    result = stats.spearman([0.41, 0.38], [12.0, 8.5])
    assert result["n"] == 2 and result["p"] is None and result["note"] == "n < 3: no p-value"
    assert result["rho"] == pytest.approx(1.0)


@pytest.mark.parametrize("x,y", [([], []), ([0.4], [10]), ([None, 0.4], [3, None])])
def test_spearman_with_no_or_one_pair_does_not_raise(x, y):
    result = stats.spearman(x, y)
    assert result["rho"] is None and result["p"] is None and result["note"] == "n < 3: no p-value"
    assert_plain(result)


def test_spearman_with_no_variation_has_no_rho():
    for x, y in [([0.4, 0.4, 0.4, 0.4], [1, 2, 3, 4]), ([1, 2, 3, 4], [7, 7, 7, 7])]:
        result = stats.spearman(x, y)
        assert result == {"n": 4, "rho": None, "p": None, "p_method": None, "note": "no variation"}


def test_paired_inputs_of_different_lengths_are_a_programming_error():
    with pytest.raises(ValueError):
        stats.spearman([1, 2, 3], [1, 2])
    with pytest.raises(ValueError):
        stats.wilcoxon_paired([1, 2, 3], [1, 2])


# --- wilcoxon -----------------------------------------------------------------------------------------

WILCOXON_SETS = {
    "three patients": ([0.41, 0.38, 0.45], [0.45, 0.42, 0.46]),
    "negative values": ([-1.0, -2.5, 0.5, -0.2, 1.5], [-0.4, -2.0, 0.1, 0.9, 2.9]),
    "tied differences": ([10, 20, 30, 40, 50, 60], [12, 22, 27, 43, 51, 64]),
    "one zero difference": ([10, 20, 30, 40, 50], [12, 20, 35, 41, 47]),
    "twenty patients": (
        list(np.linspace(0.30, 0.50, 20)),
        list(np.linspace(0.30, 0.50, 20) + np.sin(np.arange(20)) / 50 + 0.01),
    ),
}


@pytest.mark.parametrize("name", WILCOXON_SETS)
def test_wilcoxon_is_scipys_two_sided_test_on_after_minus_before(name):
    before, after = WILCOXON_SETS[name]
    result = stats.wilcoxon_paired(before, after)
    d = np.array(after, dtype=float) - np.array(before, dtype=float)
    reference = sps.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    assert result["n"] == len(before)
    assert result["n_nonzero"] == int(np.count_nonzero(d))
    assert result["statistic"] == pytest.approx(float(reference.statistic))
    assert result["p"] == pytest.approx(float(reference.pvalue))
    assert result["median_difference"] == pytest.approx(float(np.median(d)))
    assert_plain(result)


def test_wilcoxon_small_example_matches_the_enumerated_sign_flips():
    before = [0.40, 0.35, 0.44, 0.38, 0.42]
    after = [0.42, 0.40, 0.43, 0.41, 0.46]  # differences +0.02, +0.05, -0.01, +0.03, +0.04
    differences = [a - b for a, b in zip(after, before)]
    result = stats.wilcoxon_paired(before, after)
    # |d| ranks 2, 5, 1, 3, 4: W+ = 14, W- = 1. Of 32 sign patterns, W+ >= 14 in 2 (15 and 14): p = 2 * 2/32.
    assert result["statistic"] == 1.0
    assert result["p"] == pytest.approx(exact_wilcoxon_p(differences))
    assert result["p"] == pytest.approx(0.125)
    assert result["median_difference"] == pytest.approx(0.03)


def test_wilcoxon_three_patients_all_improving_is_p_one_quarter():
    result = stats.wilcoxon_paired([0.41, 0.38, 0.45], [0.45, 0.42, 0.46])
    assert result["p"] == pytest.approx(exact_wilcoxon_p([0.04, 0.04, 0.01]))  # ties do not matter here
    assert result["p"] == pytest.approx(2 / 8)


def test_wilcoxon_zero_differences_are_dropped_and_said_so():
    result = stats.wilcoxon_paired([10, 20, 30, 40, 50], [12, 20, 35, 41, 47])
    assert result["n"] == 5 and result["n_nonzero"] == 4
    assert result["note"] == stats.NOTE_ZEROS_DROPPED and "zero_method='wilcox'" in result["note"]


def test_wilcoxon_drops_pairs_with_a_missing_value():
    result = stats.wilcoxon_paired([0.41, None, 0.38, 0.45, 0.40], [0.45, 0.50, 0.42, 0.46, NAN])
    assert result == stats.wilcoxon_paired([0.41, 0.38, 0.45], [0.45, 0.42, 0.46])
    assert result["n"] == 3


@pytest.mark.parametrize("before,after,n", [([], [], 0), ([0.4], [0.5], 1), ([0.4, 0.3], [0.5, 0.35], 2)])
def test_wilcoxon_with_fewer_than_three_pairs_has_no_p_value(before, after, n):
    result = stats.wilcoxon_paired(before, after)
    assert result["n"] == n and result["p"] is None and result["statistic"] is None
    assert result["note"] == "n < 3: no p-value"
    assert_plain(result)


def test_wilcoxon_with_all_differences_zero_has_no_p_value():
    result = stats.wilcoxon_paired([0.4, 0.5, 0.6], [0.4, 0.5, 0.6])
    assert result["p"] is None and result["statistic"] is None and result["median_difference"] == 0.0
    assert result["note"] == stats.NOTE_ALL_ZERO


# --- linear fit ---------------------------------------------------------------------------------------


def test_linear_fit_by_hand():
    assert stats.linear_fit([1, 2, 3], [2, 4, 6]) == {"n": 3, "slope": 2.0, "intercept": 0.0, "r2": 1.0, "note": None}
    # x - mean = -1, 0, 1 (Sxx = 2); y - mean = -2, -1, 3 (Syy = 14); Sxy = 5.
    result = stats.linear_fit([0, 1, 2], [1, 2, 6])
    assert result["slope"] == pytest.approx(5 / 2) and result["intercept"] == pytest.approx(3 - 5 / 2)
    assert result["r2"] == pytest.approx(5**2 / (2 * 14))


def test_linear_fit_matches_scipy_linregress():
    rng = np.random.default_rng(3)
    x = rng.normal(0.4, 0.05, size=12)
    y = 100 * x + rng.normal(size=12)
    result = stats.linear_fit(list(x), list(y))
    reference = sps.linregress(x, y)
    assert result["slope"] == pytest.approx(reference.slope)
    assert result["intercept"] == pytest.approx(reference.intercept)
    assert result["r2"] == pytest.approx(reference.rvalue**2)
    assert_plain(result)


def test_linear_fit_degenerate_input():
    assert stats.linear_fit([], [])["slope"] is None
    assert stats.linear_fit([1], [2])["slope"] is None
    assert stats.linear_fit([1, 1, 1], [2, 3, 4])["slope"] is None
    flat = stats.linear_fit([1, 2, 3], [5, 5, 5])
    assert flat["slope"] == 0.0 and flat["intercept"] == 5.0 and flat["r2"] is None
    assert stats.linear_fit([1, None, 3], [2, 9, 6])["n"] == 2


def test_linear_fit_needs_three_points():
    """Two points always lie on a line: no line is fitted through fewer than three."""
    two = stats.linear_fit([1, 2], [2, 5])
    assert two == {"n": 2, "slope": None, "intercept": None, "r2": None, "note": stats.NOTE_NO_LINE}
    three = stats.linear_fit([1, 2, 3], [2, 5, 5])
    assert three["n"] == 3 and three["slope"] == pytest.approx(1.5) and three["note"] is None


# --- describe and count_by ----------------------------------------------------------------------------


def test_describe_by_hand():
    result = stats.describe([1, 2, 3, 4])
    assert result == {
        "n": 4,
        "n_missing": 0,
        "mean": 2.5,
        "sd": pytest.approx(statistics.stdev([1, 2, 3, 4])),
        "median": 2.5,
        "min": 1.0,
        "max": 4.0,
        "q1": 1.75,
        "q3": 3.25,
    }
    assert_plain(result)


def test_describe_matches_numpy_with_missing_values_dropped():
    values = [8.2, None, 5.1, NAN, 6.0, 7.7, 4.9, 6.0]
    clean = np.array([8.2, 5.1, 6.0, 7.7, 4.9, 6.0])
    result = stats.describe(values)
    assert result["n"] == 6 and result["n_missing"] == 2
    assert result["mean"] == pytest.approx(clean.mean())
    assert result["sd"] == pytest.approx(clean.std(ddof=1))
    assert [result["q1"], result["median"], result["q3"]] == pytest.approx(list(np.percentile(clean, [25, 50, 75])))


def test_describe_small_n():
    assert stats.describe([3.5]) == {
        "n": 1,
        "n_missing": 0,
        "mean": 3.5,
        "sd": None,
        "median": 3.5,
        "min": 3.5,
        "max": 3.5,
        "q1": 3.5,
        "q3": 3.5,
    }
    empty = stats.describe([None])
    assert empty["n"] == 0 and empty["n_missing"] == 1 and all(empty[k] is None for k in ("mean", "sd", "median"))
    assert stats.describe([])["mean"] is None


def test_count_by():
    rows = stats.count_by(["M", "F", "M", None, "M", "F", "X", "Y"])
    assert rows == [
        {"value": "M", "n": 3, "percent": 37.5},
        {"value": "F", "n": 2, "percent": 25.0},
        {"value": "X", "n": 1, "percent": 12.5},
        {"value": "Y", "n": 1, "percent": 12.5},
        {"value": None, "n": 1, "percent": 12.5},
    ]
    assert math.isclose(sum(r["percent"] for r in rows), 100.0)
    assert_plain(rows)
    assert stats.count_by([]) == []


# --- wording (research.reporting) -----------------------------------------------------------------


@pytest.mark.parametrize(
    "value,expected",
    [(-4.632e-09, "-0.00000000463"), (-0.4632, "-0.463"), (0.02241, "0.0224"), (1234.5, "1234"), (0, "0"), (None, "—")],
)
def test_slopes_are_worded_in_fixed_notation_with_three_significant_digits(value, expected):
    assert reporting.significant(value) == expected


@pytest.mark.parametrize(
    "p,expected", [(0.25, "p = 0.250"), (1 / 3, "p = 0.333"), (0.001, "p = 0.001"), (0.00049, "p < 0.001")]
)
def test_p_values_have_three_decimals_and_a_floor(p, expected):
    assert reporting.p_value(p) == expected


def test_p_text_gives_the_method_or_why_there_is_no_p():
    assert reporting.p_text(stats.spearman([1, 2, 3], [2, 4, 9])) == "p = 0.333 (exact permutation)"
    assert reporting.p_text(stats.wilcoxon_paired([1, 2], [3, 5])) == "n < 3: no p-value"
    assert reporting.p_text(stats.wilcoxon_paired([1, 2, 3], [1, 2, 3])) == "all differences are zero: no p-value"


def test_every_note_of_the_statistics_has_a_wording():
    notes = {value for name, value in vars(stats).items() if name.startswith("NOTE_")}
    assert notes == set(reporting.NOTES)


def test_wording_follows_the_active_language():
    with translation.override("es"):
        assert reporting.p_text(stats.spearman([1, 2, 3], [2, 4, 9])) == "p = 0,333 (permutación exacta)"
        assert reporting.signed(0.05) == "+0,050" and reporting.signed(-0.05) == "-0,050"
        assert reporting.note(stats.NOTE_SMALL_N) == "n < 3: sin valor p"
    assert reporting.signed(0.0001) == "0.000"  # rounds to zero: no sign, no "-0.000"
