"""Rows of the long lists, written by one function per list instead of a template loop per cell.

The patient list shows fifty rows of eight cells; Django's template engine resolves each variable and
filter through several layers of lookups, which for such a page cost more than its queries. The cells
are the ones the template wrote, escaped the same way (registry_format.escape_value).
"""

from django import template
from django.utils.safestring import mark_safe

from .registry_format import escape_value, label_in, level, url_html

register = template.Library()


def _iso(value):
    return value.isoformat() if value else ""


@register.simple_tag(takes_context=True)
def patient_rows(context, patients, subtypes):
    """The `<tr>` of each patient on the patient list: study ID (linked), site, name, record number,
    date of birth, CP subtype, GMFCS level and first procedure date (a dash when none)."""
    esc = escape_value
    rows = []
    for patient in patients:
        first = patient.first_procedure_date
        rows.append(
            f'<tr><td><a href="{url_html(context, "patient-detail", patient.pk)}">{esc(patient.study_id)}</a></td>'
            f'<td title="{esc(patient.site.name)}">{esc(patient.site.code)}</td>'
            f"<td>{esc(patient.full_name)}</td><td>{esc(patient.mrn)}</td>"
            f"<td>{esc(_iso(patient.date_of_birth))}</td>"
            f"<td>{esc(label_in(patient.cp_subtype, subtypes))}</td><td>{esc(level(patient.gmfcs_level))}</td>"
            f"<td>{esc(first.isoformat()) if first else '—'}</td></tr>"
        )
    return mark_safe("\n".join(rows))
