"""Statistics on the research pages, worded as the figures word them (research.reporting)."""

from typing import NamedTuple

from django import template
from django.utils import formats
from django.utils.safestring import mark_safe
from django.utils.translation import gettext

from registry.models import Score
from registry.templatetags.registry_format import change_error_html, decimal_text, escape_value, signed_text
from research import reporting

register = template.Library()


@register.filter
def stat_number(value, digits=3):
    """An estimate with ``digits`` decimals in the page's language: 0.5 → "0.500"."""
    return reporting.number(value, int(digits))


@register.filter
def stat_signed(value, digits=3):
    """A change with its sign: "+0.050"."""
    return reporting.signed(value, int(digits))


@register.filter
def stat_count(value):
    """A rank statistic such as W: "0", "2.5" when ranks were tied."""
    return reporting.statistic(value)


@register.filter
def missing_reason(code):
    """Why a score has no value, in the page's language ("unable-to-assess" → "no evaluable"); the code
    itself when the registry does not know it. Exports keep the codes (their data dictionary lists them)."""
    return missing_reasons().get(code, code)


def missing_reasons():
    """``{code: label}`` of the reasons a score may be recorded as missing, in the page's language."""
    return {code: str(label) for code, label in Score.Missing.choices}


@register.filter
def p_text(stat):
    """ "p = 0.250 (exact permutation)", or why there is no p-value."""
    return reporting.p_text(stat)


@register.filter
def stat_note(text):
    return reporting.note(text)


@register.simple_tag
def measure_rows(rows, digits):
    """The rows of one of the cohort's measure tables (research.analysis.measure_table): patient, site, measure,
    baseline and each scheduled follow-up, or one row saying there is none. A tag, not template markup: the page
    shows a hundred rows, and template nodes cost several times what the same few lines of Python do."""
    if not rows:
        empty = escape_value(gettext("No measurements in this cohort."))
        return mark_safe(f'<tr><td colspan="5" class="empty">{empty}</td></tr>')
    # The page's decimal separator and words, read once a table rather than once a number.
    words = FollowUpWords(
        formats.get_format("DECIMAL_SEPARATOR"),
        gettext("%(months)s mo"),
        gettext("missing: %(reason)s"),
        missing_reasons(),
    )
    parts = []
    for row in rows:
        if row["baseline_label"]:
            baseline = escape_value(row["baseline_label"])
        else:
            baseline = decimal_text(row["baseline"], digits, words.separator) or "—"
        follow_ups = "".join(follow_up_html(follow, digits, words) for follow in row["follow_ups"]) or "—"
        parts.append(
            f"<tr><td>{escape_value(row['study_id'])}</td><td>{escape_value(row['site'])}</td>"
            f"<td>{escape_value(row['measure'])}</td><td>{baseline}</td>\n    <td>{follow_ups}</td></tr>\n  "
        )
    return mark_safe("".join(parts))


class FollowUpWords(NamedTuple):
    """What a page writes every follow-up with, in its language: the decimal separator, "%(months)s mo",
    "missing: %(reason)s" and the reasons' words by code (missing_reasons)."""

    separator: str
    months: str
    missing: str
    reasons: dict


def follow_up_html(follow, digits, words):
    """One scheduled follow-up of a row: timepoint, months, value, change and % change, then the change's error
    (registry_format.change_error_html); ``words``: a FollowUpWords in the page's language."""
    separator = words.separator
    months = words.months % {"months": decimal_text(follow["months"], 1, separator)}
    if follow["missing"]:
        code = follow["missing"]
        reason = words.missing % {"reason": escape_value(words.reasons.get(code, code))}
        value = f'<span class="score-missing">{reason}</span>'
    elif follow["label"]:
        value = escape_value(follow["label"])
    else:
        value = decimal_text(follow["value"], digits, separator)
    parts = [f'<span class="follow"><strong>{escape_value(follow["timepoint"])}</strong> ({months}) · {value}']
    if follow["change"] is not None:
        parts.append(f" · {escape_value(signed_text(follow['change'], digits, separator))}")
        if follow["percent_change"] is not None:
            parts.append(f" · {escape_value(signed_text(follow['percent_change'], 1, separator))} %")
        parts.append(change_error_html(follow, digits, separator))
    parts.append("</span>")
    return "".join(parts)
