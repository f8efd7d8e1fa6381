"""Formatting of clinical quantities in pages: doses per kg in scientific notation, changes."""

import math

from django import template

register = template.Library()
SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


@register.filter
def per_kg(value, exponent):
    """3.2e8 with exponent 8 -> '3.20 ×10⁸/kg'; a dash when unknown."""
    if value is None:
        return "—"
    exponent = int(exponent)
    return f"{value / 10**exponent:.2f} ×10{str(exponent).translate(SUPERSCRIPT)}/kg"


@register.filter
def cells(value):
    """A cell count in scientific notation: 3200000000 -> '3.20 ×10⁹'."""
    if value is None:
        return "—"
    if value == 0:
        return "0"
    exponent = int(math.floor(math.log10(value)))
    return f"{value / 10**exponent:.2f} ×10{str(exponent).translate(SUPERSCRIPT)}"


@register.filter
def signed(value):
    """A change with its sign: +4.5, -1, 0."""
    if value is None:
        return ""
    text = format(value.normalize(), "f") if hasattr(value, "normalize") else f"{value:g}"
    return text if text.startswith("-") or text == "0" else f"+{text}"


@register.filter
def signed_float(value, digits=3):
    """A change in a measure such as FA, with its sign: +0.012."""
    if value is None:
        return ""
    return f"{value:+.{int(digits)}f}"


@register.filter
def label_in(value, choices):
    """The human label of a stored choice value, from a {value: label} dict."""
    return choices.get(value, value) if value is not None else "—"
