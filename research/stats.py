"""Small-sample statistics for the research pages: does FA rise after the cells, and with function?

Plain functions on plain Python values (numbers, None), no Django. Conventions shared by all of them:

* Missing values are None or NaN. Paired functions drop every pair in which either value is missing and
  report ``n`` *after* dropping; single-column functions drop missing values the same way.
* Nothing here raises on small or degenerate input (n = 0, 1, 2, all values equal): the undefined
  quantities come back as None and ``note`` says why. With n < 3 there is never a p-value
  (note ``"n < 3: no p-value"``); with no variation there is no correlation (note ``"no variation"``).
  Paired inputs of different lengths are a programming error and raise ValueError.
* Every result is a plain dict of int / float / str / None (no numpy scalars, no NaN or inf), so it
  can go straight into JSON or a template.
* All tests are two-sided.
"""

import math
from collections import Counter

import numpy as np
from scipy import stats as _sps

N_MIN_P = 3
NOTE_SMALL_N = "n < 3: no p-value"
NOTE_NO_VARIATION = "no variation"
NOTE_ALL_ZERO = "all differences are zero: no p-value"
NOTE_ZEROS_DROPPED = "zero differences dropped before ranking (zero_method='wilcox')"
NOTE_NO_LINE = "n < 3: no line"
# Every note is one of the constants above, so that pages and figures can word it in the reader's
# language (research.reporting) without parsing it.

# A least-squares line through two points always fits exactly and says nothing, so figures draw
# one from three points on, the same threshold as for a p-value.
N_MIN_FIT = 3

# Up to this many pairs the Spearman p-value comes from the exact permutation distribution (all n!
# pairings, 362,880 at n = 9, about half a second); above it, from scipy's t approximation.
SPEARMAN_EXACT_MAX_N = 9


def _value(v):
    """A float, or None when missing (None, NaN, inf)."""
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _out(v):
    """A JSON-safe Python float (or None) from any number."""
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _values(values):
    return [f for f in (_value(v) for v in values) if f is not None]


def _pairs(x, y):
    x, y = list(x), list(y)
    if len(x) != len(y):
        raise ValueError(f"paired data of different lengths ({len(x)} and {len(y)})")
    kept = [(_value(a), _value(b)) for a, b in zip(x, y)]
    kept = [(a, b) for a, b in kept if a is not None and b is not None]
    return np.array([a for a, _ in kept], dtype=float), np.array([b for _, b in kept], dtype=float)


def _spearman_exact_p(x, y):
    """Two-sided p from the exact permutation distribution of Spearman's rho (every pairing of x with y).

    Ties are kept as average ranks, as in scipy.stats.spearmanr; two-sided p is scipy's
    2 * min(P(rho* <= rho), P(rho* >= rho)), capped at 1.
    """
    rx, ry = _sps.rankdata(x), _sps.rankdata(y)
    ryc = ry - ry.mean()
    ry_ss = float((ryc**2).sum())

    def rho(r, axis=-1):
        rc = r - r.mean(axis=axis, keepdims=True)
        return (rc * ryc).sum(axis=axis) / np.sqrt((rc**2).sum(axis=axis) * ry_ss)

    res = _sps.permutation_test(
        (rx,), rho, permutation_type="pairings", n_resamples=np.inf, vectorized=True, alternative="two-sided"
    )
    return float(res.pvalue)


def spearman(x, y):
    """Spearman rank correlation of paired values: ``{"n", "rho", "p", "p_method", "note"}``.

    rho is scipy.stats.spearmanr's (average ranks for ties). The p-value is two-sided:

    * n <= 9 (SPEARMAN_EXACT_MAX_N): exact, from the permutation distribution of rho over all n!
      pairings (``p_method = "exact permutation"``). scipy's own t approximation is badly wrong at
      these sizes (it gives p = 0 for any perfectly monotone set of 3 patients; the exact p is 1/3),
      and scipy's documentation recommends the permutation test for small samples;
    * n >= 10: scipy.stats.spearmanr's p (t approximation, ``p_method = "t approximation"``).

    n < 3 → p None (rho still given for n = 2 when both columns vary, where it is always ±1).
    All x or all y equal → rho None, p None, note "no variation".
    """
    xs, ys = _pairs(x, y)
    n = int(xs.size)
    result = {"n": n, "rho": None, "p": None, "p_method": None, "note": None}
    varies = n >= 2 and np.ptp(xs) > 0 and np.ptp(ys) > 0
    if varies:
        result["rho"] = _out(_sps.spearmanr(xs, ys).statistic)
    if n < N_MIN_P:
        result["note"] = NOTE_SMALL_N
        return result
    if not varies:
        result["note"] = NOTE_NO_VARIATION
        return result
    if n <= SPEARMAN_EXACT_MAX_N:
        result["p"], result["p_method"] = _out(_spearman_exact_p(xs, ys)), "exact permutation"
    else:
        result["p"], result["p_method"] = _out(_sps.spearmanr(xs, ys).pvalue), "t approximation"
    return result


def wilcoxon_paired(before, after):
    """Wilcoxon signed-rank test on ``after - before``.

    Returns ``{"n", "n_nonzero", "statistic", "p", "median_difference", "note"}``.

    scipy.stats.wilcoxon with its defaults: two-sided, ``zero_method="wilcox"`` (pairs whose difference
    is exactly zero are dropped before ranking; ``n_nonzero`` says how many pairs were ranked) and
    ``method="auto"``, under which scipy uses the exact null distribution for small samples (exact
    distribution when there are no ties or zeros; with ties or zeros and n <= 13 an exact enumeration
    of all 2^n sign flips; normal approximation for larger samples). ``statistic`` is scipy's
    two-sided statistic, the smaller of the positive- and negative-rank sums.

    ``n`` counts the pairs left after dropping missing values; ``median_difference`` is the median of
    ``after - before`` over those pairs (zeros included): the estimate of the change, reported beside
    the test, never in place of it. n < 3 → statistic and p None. All differences zero → statistic
    and p None, with a note; some zero → the note says they were dropped (``n - n_nonzero`` of them).
    """
    b, a = _pairs(before, after)
    d = a - b
    n = int(d.size)
    n_nonzero = int(np.count_nonzero(d))
    result = {
        "n": n,
        "n_nonzero": n_nonzero,
        "statistic": None,
        "p": None,
        "median_difference": _out(np.median(d)) if n else None,
        "note": None,
    }
    if n < N_MIN_P:
        result["note"] = NOTE_SMALL_N
        return result
    if n_nonzero == 0:
        result["note"] = NOTE_ALL_ZERO
        return result
    res = _sps.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    result["statistic"], result["p"] = _out(res.statistic), _out(res.pvalue)
    if n_nonzero < n:
        result["note"] = NOTE_ZEROS_DROPPED
    return result


def linear_fit(x, y):
    """Ordinary least-squares line y = slope * x + intercept: ``{"n", "slope", "intercept", "r2", "note"}``.

    For drawing the line on a scatter plot, not for inference. n < 3 (N_MIN_FIT; two points always
    lie on a line, so it would show nothing) or all x equal → slope, intercept and r2 None, with a
    note. r2 is None when all y are equal (0/0; the line is then flat and exact).
    """
    xs, ys = _pairs(x, y)
    n = int(xs.size)
    result = {"n": n, "slope": None, "intercept": None, "r2": None, "note": None}
    if n < N_MIN_FIT:
        result["note"] = NOTE_NO_LINE
        return result
    xc, yc = xs - xs.mean(), ys - ys.mean()
    sxx, syy, sxy = float((xc**2).sum()), float((yc**2).sum()), float((xc * yc).sum())
    if sxx == 0:
        result["note"] = NOTE_NO_VARIATION
        return result
    slope = sxy / sxx
    result["slope"], result["intercept"] = _out(slope), _out(ys.mean() - slope * xs.mean())
    result["r2"] = _out(sxy * sxy / (sxx * syy)) if syy > 0 else None
    return result


def describe(values):
    """Summary of one numeric column: ``{"n", "n_missing", "mean", "sd", "median", "min", "max", "q1", "q3"}``.

    sd is the sample standard deviation (ddof = 1, None when n < 2). Quartiles use numpy's default
    linear interpolation (Hyndman & Fan type 7, as R's default and Excel's QUARTILE.INC). Missing
    values (None, NaN) are dropped and counted in ``n_missing``; n = 0 → every statistic None.
    """
    values = list(values)
    v = np.array(_values(values), dtype=float)
    n = int(v.size)
    result = {
        "n": n,
        "n_missing": len(values) - n,
        "mean": None,
        "sd": None,
        "median": None,
        "min": None,
        "max": None,
        "q1": None,
        "q3": None,
    }
    if n == 0:
        return result
    q1, median, q3 = np.percentile(v, [25, 50, 75])
    result.update(
        mean=_out(v.mean()),
        sd=_out(v.std(ddof=1)) if n >= 2 else None,
        median=_out(median),
        min=_out(v.min()),
        max=_out(v.max()),
        q1=_out(q1),
        q3=_out(q3),
    )
    return result


def count_by(values):
    """Counts of a categorical column: ``[{"value", "n", "percent"}, ...]``.

    Most frequent first, ties in alphabetical order of the value's text; missing values (None or
    NaN) are counted as one row with value None, always last. percent is of all values given
    (missing included), so the rows add up to 100. No values → [].
    """
    values = list(values)
    total = len(values)

    def key(v):
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

    counts = Counter(key(v) for v in values)
    missing = counts.pop(None, 0)
    rows = sorted(counts.items(), key=lambda item: (-item[1], str(item[0])))
    if missing:
        rows.append((None, missing))
    return [
        {
            "value": value.item() if isinstance(value, np.generic) else value,
            "n": count,
            "percent": 100.0 * count / total,
        }
        for value, count in rows
    ]
