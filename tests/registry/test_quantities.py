"""Clinical quantities: doses per kg, months, ages, changes since baseline; cell counts as typed and shown."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from registry.forms import parse_cell_count
from registry.quantities import (
    Change,
    add_months,
    age_in_months,
    change_since_baseline,
    dose_per_kg,
    months_between,
)
from registry.templatetags.registry_format import cells, per_kg, signed


@pytest.mark.parametrize(
    "typed,cells_count",
    [
        ("3200000000", 3_200_000_000),
        ("3,200,000,000", 3_200_000_000),
        ("3.2e9", 3_200_000_000),
        ("3.2E+9", 3_200_000_000),
        ("3.2 x 10^9", 3_200_000_000),
        ("3.2×10⁹", 3_200_000_000),
        ("2.5*10^7", 25_000_000),
    ],
)
def test_cell_counts_are_read_as_the_lab_writes_them(typed, cells_count):
    assert parse_cell_count(typed) == cells_count


@pytest.mark.parametrize("typed", ["lots", "3.2e", "1.5", "3.25e0", "1e30", "-5"])
def test_impossible_cell_counts_are_refused(typed):
    with pytest.raises(ValidationError):
        parse_cell_count(typed)


def test_doses_show_in_the_units_clinicians_use():
    assert per_kg(2.3e8, 8) == "2.30 ×10⁸/kg"
    assert per_kg(1.7e6, 6) == "1.70 ×10⁶/kg"
    assert per_kg(None, 6) == "—"
    assert cells(4_140_000_000) == "4.14 ×10⁹"


def test_changes_carry_their_sign():
    assert signed(Decimal("6.20")) == "+6.2"
    assert signed(Decimal("-1.0")) == "-1"
    assert signed(Decimal("0")) == "0"
    assert signed(None) == ""


def test_change_and_percent_change_are_relative_to_baseline():
    assert change_since_baseline(0.40, 0.46).change == pytest.approx(0.06)
    assert change_since_baseline(0.40, 0.46).percent == pytest.approx(15.0)
    assert change_since_baseline(50, 45) == Change(-5.0, -10.0)
    assert change_since_baseline(Decimal("0.50"), Decimal("0.55")).percent == pytest.approx(10.0)


def test_a_change_is_the_difference_of_the_values_as_written():
    assert change_since_baseline(Decimal("31.2"), Decimal("38.6")).change == 7.4
    assert change_since_baseline(0.6004671861798165, 0.6342609856372285).change == 0.033793799457412


def test_percent_change_keeps_the_direction_for_negative_baselines():
    assert change_since_baseline(-2, -1) == Change(1.0, 50.0)


@pytest.mark.parametrize(
    "baseline,value,expected",
    [
        (0, 5, Change(5.0, None)),
        (None, 5, Change(None, None)),
        (float("nan"), 5, Change(None, None)),
        (5, None, Change(None, None)),
    ],
)
def test_change_with_zero_or_missing_values(baseline, value, expected):
    assert change_since_baseline(baseline, value) == expected


def test_dose_per_kg_is_cells_over_the_days_weight():
    assert dose_per_kg(3_200_000_000, Decimal("16.00")) == pytest.approx(2.0e8)
    assert dose_per_kg(None, Decimal("16")) is None
    assert dose_per_kg(3_200_000_000, None) is None


def test_months_since_the_procedure_are_mean_months_to_a_tenth():
    first = dt.date(2024, 3, 15)
    assert months_between(first, dt.date(2024, 9, 15)) == 6.0  # 184 days / 30.4375 = 6.05 -> 6.0
    assert months_between(first, dt.date(2024, 3, 1)) == -0.5
    assert months_between(None, first) is None


def test_months_between_is_the_decimal_quotient_to_a_tenth_for_every_interval_of_a_lifetime():
    from registry.quantities import DAYS_PER_MONTH

    first = dt.date(2024, 3, 15)
    for days in range(-20_000, 20_001):
        expected = round(float(Decimal(days) / DAYS_PER_MONTH), 1)
        assert months_between(first, first + dt.timedelta(days=days)) == expected, days


@pytest.mark.parametrize(
    "born,on,months",
    [
        (dt.date(2020, 5, 20), dt.date(2023, 5, 19), 35),
        (dt.date(2020, 5, 20), dt.date(2023, 5, 20), 36),
        (dt.date(2020, 1, 31), dt.date(2020, 2, 29), 0),
    ],
)
def test_age_is_completed_months(born, on, months):
    assert age_in_months(born, on) == months


def test_calendar_months_clip_to_the_end_of_the_month():
    assert add_months(dt.date(2024, 8, 31), 6) == dt.date(2025, 2, 28)
    assert add_months(dt.date(2024, 3, 15), -1) == dt.date(2024, 2, 15)
    assert add_months(dt.date(2024, 11, 30), 14) == dt.date(2026, 1, 30)
