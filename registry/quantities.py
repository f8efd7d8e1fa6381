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


@dataclass(frozen=True)
class Change:
    """A value's change since baseline: ``change = value - baseline`` (the measure's unit) and
    ``percent = 100 × change / |baseline|`` (%).

    The denominator is the absolute baseline so that the sign of the percent change is always the
    direction of the change (it matters only for negative baselines, e.g. z-scores). Either value
    missing: both None; baseline 0: percent None.
    """

    change: float | None
    percent: float | None


def change_since_baseline(baseline, value):
    """The :class:`Change` from ``baseline`` to ``value`` (numbers, Decimal or None)."""
    base, current = _finite(baseline), _finite(value)
    if base is None or current is None:
        return Change(None, None)
    # The difference of the values as written (38.6 - 31.2 is 7.4, not 7.400000000000002).
    diff = float(Decimal(repr(current)) - Decimal(repr(base)))
    return Change(diff, None if base == 0 else 100.0 * diff / abs(base))


def _finite(value):
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None
