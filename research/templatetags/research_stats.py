"""Statistics on the research pages, worded as the figures word them (research.reporting)."""

from django import template

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
