"""Clinical quantities of a patient's course, each computed here and only here.

Plain functions over numbers and dates (no database): pages, the API, research tables, statistics
and exports all call them, so a dose, an interval or a change is the same number everywhere.
"""

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal

# The mean Gregorian month: 365.2425 / 12 days. Months since the procedure are counted in these.
DAYS_PER_MONTH = Decimal("30.4375")
_DAYS_PER_MONTH_FLOAT = float(DAYS_PER_MONTH)
# The units in which pages, filters and plots give doses: TNC in 10⁸ cells/kg, CD34+ in 10⁶ cells/kg.
DOSE_UNITS = {"tnc": 1e8, "cd34": 1e6}


def dose_per_kg(cells, weight_kg):
    """Cells per kilogram of body weight: ``cells / weight_kg``.

    cells: a count (TNC or CD34+ cells in the product); weight_kg: body weight on the day of the
    procedure, in kg. Returns cells/kg as a float, or None when either is missing (a product
    without a CD34+ count) or the weight is not positive.
    """
    if cells is None or weight_kg is None or weight_kg <= 0:
        return None
    return cells / float(weight_kg)


def months_between(start, end):
    """Months from ``start`` to ``end`` (dates), in mean months of 30.4375 days, to 0.1 month.

    Negative when ``end`` is before ``start`` (a baseline before the procedure); None when either
    date is missing.
    """
    if start is None or end is None:
        return None
    # 30.4375 is exact in binary and a quotient of whole days by it is never within rounding distance
    # of a tie, so float division gives the Decimal quotient's float, without a Decimal per call.
    return round((end - start).days / _DAYS_PER_MONTH_FLOAT, 1)


def days_between(start, end):
    """Whole days from ``start`` to ``end`` (dates), negative before it; None when either is missing."""
    if start is None or end is None:
        return None
    return (end - start).days


def age_in_months(date_of_birth, on_date):
    """Completed months of age on ``on_date`` (as a child's age is said: 2 years 11 months is 35).

    None when either date is missing.
    """
    if date_of_birth is None or on_date is None:
        return None
    months = (on_date.year - date_of_birth.year) * 12 + on_date.month - date_of_birth.month
    return months - 1 if on_date.day < date_of_birth.day else months


def add_months(date, months):
    """The same day ``months`` calendar months later (earlier if negative), clipped to the month's end.

    This is how a protocol schedules visits: "6 months after the procedure" of 31 August is
    28 (or 29) February.
    """
    month_index = date.month - 1 + months
    year, month = date.year + month_index // 12, month_index % 12 + 1
    next_month = dt.date(year + month // 12, month % 12 + 1, 1)
    last_day = (next_month - dt.timedelta(days=1)).day
    return dt.date(year, month, min(date.day, last_day))


def window_bounds(target, months, before, after, unit):
    """The first and last date of a scheduled visit's window: ``months`` after ``target`` (the first
    procedure), from ``before`` to ``after`` calendar months (``unit`` "months") or days ("days") around it."""
    if unit == "days":
        centre = add_months(target, months)
        return centre - dt.timedelta(days=before), centre + dt.timedelta(days=after)
    return add_months(target, months - before), add_months(target, months + after)


@dataclass(frozen=True)
class Change:
    """A value's change since baseline: ``change = value - baseline`` (the measure's unit) and
    ``percent = 100 × change / |baseline|`` (%).

    The denominator is the absolute baseline so that the sign of the percent change is always the
    direction of the change (it matters only for negative baselines, e.g. z-scores). Either value
    missing: both None; baseline 0: percent None.

    ``error``: the smallest change that is more than measurement error (FA: the reliable-change
    threshold of :func:`reliable_change_threshold`) or the minimal clinically important difference
    (GMFM: the setting GMFM_MCID), in the measure's unit; ``basis`` says which ("test-retest" or
    "mcid"); None and "" for a measure that has neither. See :attr:`beyond_error`.
    """

    change: float | None
    percent: float | None
    error: float | None = None
    basis: str = ""
    # True when the change is left out because the two measurements were not made alike (another
    # scan protocol): not a missing value, a value that must not be compared.
    excluded: bool = False

    @property
    def beyond_error(self):
        """True when ``|change| > error`` (strictly: a change equal to the error is within it), False
        when not, None when there is no change or no error to compare it with."""
        if self.change is None or self.error is None:
            return None
        return abs(self.change) > self.error


def change_since_baseline(baseline, value, *, error=None, basis=""):
    """The :class:`Change` from ``baseline`` to ``value`` (numbers, Decimal or None), with its ``error``."""
    base, current = _finite(baseline), _finite(value)
    if base is None or current is None:
        return Change(None, None, error, basis)
    # The difference of the values as written (38.6 - 31.2 is 7.4, not 7.400000000000002).
    diff = float(Decimal(repr(current)) - Decimal(repr(base)))
    return Change(diff, None if base == 0 else 100.0 * diff / abs(base), error, basis)


# z for a two-sided 95 % criterion.
Z_95 = 1.96


def reliable_change_threshold(baseline, cv_percent):
    """The smallest change of a measure that exceeds its test–retest error: ``1.96 × √2 × CV × |baseline|``.

    The reliable-change criterion (Jacobson NS, Truax P. J Consult Clin Psychol 1991;59(1):12-19):
    one measurement's standard error is the within-subject SD, here ``CV × baseline`` (the
    test–retest coefficient of variation, a fraction); the difference of two measurements has SD
    ``√2`` times that; a change is beyond measurement error when it exceeds 1.96 SD of the difference
    (a 5 % chance of so large a change from error alone). With CV 2 % and a white-matter FA of 0.45
    the threshold is 0.025. None when the baseline or the CV is missing.
    """
    base = _finite(baseline)
    if base is None or cv_percent is None:
        return None
    return Z_95 * math.sqrt(2.0) * float(cv_percent) / 100.0 * abs(base)


# Minimal clinically important differences of scores, {instrument code: {GMFCS level: points}}, set
# by each site (setting GMFM_MCID). The published source for GMFM-66 is Oeffinger D et al. "Outcome
# tools used for ambulatory children with cerebral palsy: responsiveness and minimum clinically
# important differences." Dev Med Child Neurol 2008;50(12):918-925 (GMFCS I-III only; levels IV-V
# were not studied). The registry ships no figures of its own: a threshold that decides a mark on a
# child's record is entered by the site from the paper it relies on, never from a default nobody
# checked. Without one, score changes carry no mark.
GMFM_MCID = {}

# The test–retest coefficient of variation of FA within a site, in percent. Vollmar C et al.
# "Identical, but not the same: intra-site and inter-site reproducibility of fractional anisotropy
# measures on two 3.0T scanners." NeuroImage 2010;51(4):1384-1394 found intra-site CVs of FA of
# about 1-2 % in white-matter regions and tracts (higher in small tracts); 2 % is the default of the
# setting FA_TEST_RETEST_CV_PERCENT, which a site with its own test–retest figure sets.
FA_TEST_RETEST_CV_PERCENT = 2.0


def change_error(kind, name, baseline, *, gmfcs_level, fa_cv_percent, mcid):
    """``(error, basis)`` of a measure's change (see :class:`Change`): FA of any region against its
    test–retest error, a score against its MCID at the patient's GMFCS level, else ``(None, "")``.

    kind: the measure's kind ("fa", "md", "score"); name: the measure (an instrument code for a
    score); mcid: ``{instrument code: {GMFCS level: points}}``.
    """
    if kind == "fa":
        error = reliable_change_threshold(baseline, fa_cv_percent)
        return (error, "test-retest") if error is not None else (None, "")
    by_level = (mcid or {}).get(name) if kind == "score" else None
    if by_level and gmfcs_level in by_level:
        return float(by_level[gmfcs_level]), "mcid"
    return None, ""


def _finite(value):
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
