"""Parsing and display of clinical quantities: cell counts as typed, doses per kg, changes."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from registry.forms import parse_cell_count
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
