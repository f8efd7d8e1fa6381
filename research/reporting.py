"""Statistics in words, in the reader's language: one wording of p-values, notes and numbers for the
linking page and the figures, so that the two never say the same result differently.

Numbers are written in fixed notation with the active language's decimal separator (never "4.63e-09");
a missing number is a dash.
"""

import math

from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from research import stats

NOTES = {
    stats.NOTE_SMALL_N: gettext_lazy("n < 3: no p-value"),
    stats.NOTE_NO_VARIATION: gettext_lazy("no variation: no correlation and no p-value"),
    stats.NOTE_ALL_ZERO: gettext_lazy("all differences are zero: no p-value"),
    stats.NOTE_ZEROS_DROPPED: gettext_lazy("zero differences dropped before ranking"),
    stats.NOTE_NO_LINE: gettext_lazy("n < 3: no line"),
}
P_METHODS = {
    "exact permutation": gettext_lazy("exact permutation"),
    "t approximation": gettext_lazy("t approximation"),
}
DASH = "—"


def number(value, digits=3):
    """``value`` with ``digits`` decimals in the active language (0.5 → "0.500", Spanish "0,500")."""
    if value is None:
        return DASH
    return formats.number_format(round(float(value), digits) + 0.0, digits)  # + 0.0: no "-0.000"


def signed(value, digits=3):
    """A change with its sign: "+0.050", "-1.2"; zero has none."""
    if value is None:
        return DASH
    text = number(value, digits)
    return f"+{text}" if round(float(value), digits) > 0 else text


def significant(value, figures=3):
    """About ``figures`` significant digits in fixed notation, for slopes: -0.4632 → "-0.463", 1234.5 → "1235"."""
    if value is None:
        return DASH
    if value == 0:
        return number(0, 0)
    digits = max(0, figures - 1 - math.floor(math.log10(abs(value))))
    return number(value, digits)


def statistic(value):
    """A rank statistic such as Wilcoxon's W, a whole number unless ranks were tied: "0", "2.5"."""
    if value is None:
        return DASH
    return number(value, 0 if float(value).is_integer() else 1)


def p_value(p):
    """ "p = 0.250", or "p < 0.001" below what three decimals can show."""
    if p < 0.001:
        return _("p < %(limit)s") % {"limit": number(0.001, 3)}
    return _("p = %(p)s") % {"p": number(p, 3)}


def note(text):
    """A note of research.stats in the active language (an unknown note is shown as it is)."""
    return str(NOTES.get(text, text)) if text else ""


def p_text(stat):
    """The p-value of a stats dict with its method ("p = 0.333 (exact permutation)"), or why there is none."""
    if stat.get("p") is None:
        return note(stat.get("note")) or _("no p-value")
    method = stat.get("p_method")
    return f"{p_value(stat['p'])} ({P_METHODS.get(method, method)})" if method else p_value(stat["p"])
