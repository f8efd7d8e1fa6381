"""The patient page's trajectories: each chart (registry.trajectories) as a figure with its caption, its SVG and
its table of values. A tag rather than template markup: a course has a chart per instrument and FA measure."""

import functools

from django import template
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from registry.templatetags.registry_format import escape_value

register = template.Library()


@functools.lru_cache
def _labels(language):
    """The figures' words in ``language`` (as {% trans %} writes them: not escaped), translated once a process:
    catalogs do not change while it runs."""
    return {
        "as_table": _("%(measure)s as a table"),
        "visit_date": _("Visit date"),
        "months": _("Months since the first procedure"),
        "value": _("Value"),
    }


@register.simple_tag
def trajectory_figures(charts):
    """The ``<figure>`` of each chart of ``charts`` (registry.trajectories.Trajectory), in their order."""
    labels = _labels(get_language())
    head = (
        f'<thead><tr><th scope="col">{labels["visit_date"]}</th><th scope="col">{labels["months"]}</th>'
        f'<th scope="col">{labels["value"]}</th></tr></thead>'
    )
    figures = []
    for chart in charts:
        title = escape_value(chart.title)
        note = f" {escape_value(chart.note)}" if chart.note else ""
        figures.append(
            '\n    <figure class="trajectory">\n'
            f"      <figcaption><h3>{title}</h3><p>{escape_value(chart.caption)}{note}</p></figcaption>\n"
            f"      {chart.svg}\n"
            "      <details>\n"
            f"        <summary>{labels['as_table'] % {'measure': title}}</summary>\n"
            '        <table class="trajectory-values">\n'
            f"          {head}\n"
            f"          <tbody>{chart.table_rows}</tbody>\n"
            "        </table>\n"
            "      </details>\n"
            "    </figure>\n  "
        )
    return mark_safe("".join(figures))
