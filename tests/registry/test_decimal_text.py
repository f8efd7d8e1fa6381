"""The pages' numbers written directly (registry_format.decimal_text, _fixed) are the text of the filters they stand in
for (floatformat, number_format of the rounded value), in each language, on the awkward values."""

from decimal import Decimal

import pytest
from django.template.defaultfilters import floatformat
from django.utils import formats, translation

from registry.templatetags.registry_format import _fixed, decimal_text, signed_float, signed_text

VALUES = [
    0.0,
    -0.0,
    0.05,
    0.15,
    0.25,
    2.675,  # 2.67499999... in binary, 2.675 as written: floatformat rounds what is written
    1.0005,
    -0.04,
    -0.05,
    -2.5,
    1e-7,
    -1e-7,
    123456.789,
    999.95,
    1e14 + 0.5,
    1e16,
    1e300,
    float("nan"),
    float("inf"),
    float("-inf"),
    None,
    3,
    -7,
    Decimal("2.45"),
    "4.5",
]


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("digits", [1, 2, 3])
def test_decimal_text_is_floatformat(language, digits):
    with translation.override(language):
        separator = formats.get_format("DECIMAL_SEPARATOR")
        for value in VALUES:
            assert decimal_text(value, digits) == floatformat(value, digits), value
            assert decimal_text(value, digits, separator) == floatformat(value, digits), value


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("digits", [0, 1, 2, 3, 6])
def test_fixed_is_number_format_of_the_rounded_value(language, digits):
    with translation.override(language):
        separator = formats.get_format("DECIMAL_SEPARATOR")
        for value in [v for v in VALUES if v is not None and not isinstance(v, str)]:
            expected = formats.number_format(round(float(value), digits) + 0.0, digits)
            assert _fixed(value, digits) == expected, value
            assert _fixed(value, digits, separator) == expected, value
            assert signed_text(value, digits, separator) == signed_float(value, digits), value


def test_grouped_thousands_are_left_to_the_filters(settings):
    settings.USE_THOUSAND_SEPARATOR = True
    with translation.override("es"):
        assert decimal_text(123456.789, 2, ",") == floatformat(123456.789, 2) == "123\xa0456,79"
        assert _fixed(123456.789, 2, ",") == "123\xa0456,79"


def test_spanish_writes_a_decimal_comma():
    with translation.override("es"):
        assert decimal_text(0.25, 1) == "0,3"
        assert _fixed(0.25, 1) == "0,2"  # round() rounds halves to even
    assert decimal_text(-0.04, 1) == "0.0"  # never "-0.0"
