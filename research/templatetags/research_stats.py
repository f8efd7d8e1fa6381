"""Statistics on the research pages, worded as the figures word them (research.reporting)."""

from django import template
from django.template.defaultfilters import floatformat
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext

from registry.templatetags.registry_format import change_error_html, signed_float
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
def p_text(stat):
    """ "p = 0.250 (exact permutation)", or why there is no p-value."""
    return reporting.p_text(stat)


@register.filter
def stat_note(text):
    return reporting.note(text)


@register.simple_tag
def follow_up(follow, digits):
    """One scheduled follow-up of a row of the cohort's measure tables (research.analysis.measure_table):
    timepoint, months, value, change and % change, then the change's error (registry_format.change_error_html).
    A tag, not template markup: the page shows hundreds of them, and template nodes cost several times
    what the same few lines of Python do."""
    months = gettext("%(months)s mo") % {"months": floatformat(follow["months"], 1)}
    if follow["missing"]:
        reason = gettext("missing: %(reason)s") % {"reason": conditional_escape(follow["missing"])}
        value = f'<span class="score-missing">{reason}</span>'
    elif follow["label"]:
        value = conditional_escape(follow["label"])
    else:
        value = floatformat(follow["value"], digits)
    parts = [f'<span class="follow"><strong>{conditional_escape(follow["timepoint"])}</strong> ({months}) · {value}']
    if follow["change"] is not None:
        parts.append(f" · {conditional_escape(signed_float(follow['change'], digits))}")
        if follow["percent_change"] is not None:
            parts.append(f" · {conditional_escape(signed_float(follow['percent_change'], 1))} %")
        parts.append(change_error_html(follow, digits))
    parts.append("</span>")
    return mark_safe("".join(parts))
