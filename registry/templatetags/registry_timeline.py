"""The patient page's timeline: each event of a patient's course (harvest with its cell products, procedure,
adverse event, visit with its scores and scans) written as markup here, every value escaped, the labels
translated once a page. A tag rather than template markup: a course has dozens of events, each dozens of
values, and a template costs tens of Python calls per value."""

import functools

from django import template
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import floatformat
from django.utils.formats import localize
from django.utils.safestring import mark_safe
from django.utils.timezone import template_localtime
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from registry.templatetags.registry_format import (
    cells,
    change_error_html,
    escape_value,
    per_kg,
    record_links_html,
    score_row_html,
    signed_float,
    url_html,
)

register = template.Library()


def _text(value):
    """A number or date as a template writes it: localized, escaped."""
    return escape_value(localize(value))


def _choice(page, record, name):
    """The label of a record's choice field (``get_<name>_display``), escaped; each label read once a page."""
    key = (type(record), name, getattr(record, name))
    label = page["choices"].get(key)
    if label is None:
        label = page["choices"][key] = escape_value(getattr(record, f"get_{name}_display")())
    return label


@functools.lru_cache
def _labels(language):
    """The timeline's words in ``language`` (as {% trans %} writes them: not escaped), translated once a process:
    catalogs do not change while it runs."""
    return {
        "age": _("age %(months)s months"),
        "kind_visit": _("%(kind)s visit"),
        "months_since": _("%(months)s months since the procedure"),
        "timepoint": _("timepoint: %(timepoint)s"),
        "scan": _("scan #%(id)s"),
        "signed_by": _("signed by %(who)s on %(when)s"),
        "harvest": _("Bone-marrow harvest"),
        "gcsf": _("G-CSF mobilised"),
        "day": _("day"),
        "no_gcsf": _("no G-CSF"),
        "product": _("Cell product"),
        "viability": _("viability"),
        "add_product": _("cell product"),
        "procedure": _("Intrathecal procedure"),
        "add_event": _("adverse event"),
        "adverse_event": _("Adverse event"),
        "grade": _("CTCAE grade"),
        "serious": _("serious"),
        "instrument": _("Instrument"),
        "value": _("Value"),
        "change_since_baseline": _("Change since baseline"),
        "no_scores": _("No scores yet."),
        "fa_wm": _("White-matter FA"),
        "change": _("change since baseline"),
        "excluded": _("not acquired like the baseline: no change computed"),
        "not_usable": _("not usable"),
        "counts": _("counts for this visit"),
        "outside_baseline": _("outside the baseline window"),
        "outside_every": _("outside every scheduled window"),
        "unlock": _("Unlock…"),
        "assessments": _("Enter or edit all assessments"),
        "add_score": _("score"),
        "sign": _("Sign this visit…"),
        "add_scan": _("diffusion scan"),
    }


@register.simple_tag(takes_context=True)
def timeline_events(context, timeline):
    """The ``<li>`` of each event of ``timeline`` (registry.selectors.patient_timeline), in its order."""
    user = context["request"].user
    locks = context.get("locks") or {}
    page = {
        "labels": _labels(get_language()),
        "choices": {},
        "patient": context["patient"],
        "locked": bool(locks.get("patient")),
        "visit_locks": locks.get("visits") or {},
        "may_add_product": user.has_perm("registry.add_cellproduct"),
        "may_add_event": user.has_perm("registry.add_adverseevent"),
        "may_unlock": user.has_perm("registry.unlock_records"),
        "may_change_score": user.has_perm("registry.change_score"),
        "may_sign": user.has_perm("registry.sign_records"),
        "may_add_scan": user.has_perm("imaging.add_scan"),
    }
    writers = {"harvest": _harvest, "procedure": _procedure, "adverse-event": _adverse_event, "visit": _visit}
    items = []
    for event in timeline:
        kind, record, date = event["kind"], event["record"], event["date"].isoformat()
        anchor = f' id="visit-{record.pk}"' if kind == "visit" else ""
        body = writers[kind](context, page, event, record)
        items.append(
            f'\n  <li class="event {kind}"{anchor}>\n    <time datetime="{date}">{date}</time>\n'
            f'    <div class="body">\n    {body}\n    </div>\n  </li>\n'
        )
    return mark_safe("".join(items))


def _harvest(context, page, event, record):
    labels = page["labels"]
    if record.gcsf_mobilized:
        gcsf = labels["gcsf"]
        if record.gcsf_dose_mcg_per_kg_day:
            gcsf += f" ({_text(record.gcsf_dose_mcg_per_kg_day)} µg/kg/{labels['day']})"
    else:
        gcsf = labels["no_gcsf"]
    html = [
        f"\n      <h3>{labels['harvest']}</h3>\n      <p>{_text(record.volume_ml)} mL · {gcsf} · "
        f"{_choice(page, record, 'processing_method')}</p>\n      "
    ]
    for product in event["products"]:
        html.append(
            f'\n        <p class="child">{labels["product"]}: {escape_value(cells(product.tnc_count))} TNC · '
            f"{escape_value(cells(product.cd34_count))} CD34+ · "
            f"{labels['viability']} {_text(product.viability_percent)} % · "
            f"{_choice(page, product, 'sterility')}\n"
            f"          {record_links_html(context, 'products', product)}</p>\n      "
        )
    html.append("\n      ")
    if page["may_add_product"] and not page["locked"]:
        url = url_html(context, "record-create", page["patient"].pk, "products")
        html.append(f'<p class="child"><a href="{url}?harvest={record.pk}">+ {labels["add_product"]}</a></p>')
    html.append(f"\n      {record_links_html(context, 'harvests', record)}\n    ")
    return "".join(html)


def _procedure(context, page, event, record):
    labels, course = page["labels"], event["course"]
    age = labels["age"] % {"months": _text(course.age_months)}
    html = (
        f"\n      <h3>{labels['procedure']}</h3>\n"
        f'      <p class="dose"><strong>TNC {escape_value(per_kg(course.tnc_per_kg, 8))}</strong> · '
        f"CD34+ {escape_value(per_kg(course.cd34_per_kg, 6))}</p>\n"
        f"      <p>{_text(record.weight_kg)} kg · {_text(record.volume_ml)} mL · "
        f"{escape_value(record.puncture_level)} · "
        f"{_choice(page, record, 'sedation')} · {age}</p>\n      "
    )
    if page["may_add_event"] and not page["locked"]:
        url = url_html(context, "record-create", page["patient"].pk, "adverse-events")
        html += f'<p class="child"><a href="{url}?procedure={record.pk}">+ {labels["add_event"]}</a></p>'
    return f"{html}\n      {record_links_html(context, 'procedures', record)}\n    "


def _adverse_event(context, page, event, record):
    labels = page["labels"]
    term = _choice(page, record, "term")
    if record.term_other:
        term = f"{term}: {escape_value(record.term_other)}"
    serious = f" · <strong>{labels['serious']}</strong>" if record.serious else ""
    return (
        f"\n      <h3>{labels['adverse_event']}: {term}</h3>\n"
        f"      <p>{labels['grade']} {_text(record.grade)}{serious} · {_choice(page, record, 'outcome')}</p>\n"
        f"      {record_links_html(context, 'adverse-events', record)}\n    "
    )


def _visit(context, page, event, record):
    labels, course = page["labels"], event["course"]
    html = [f"\n      <h3>{_visit_heading(page, event, record)}</h3>\n      "]
    if event["scores"]:
        rows = "".join(score_row_html(context, item) for item in event["scores"])
        html.append(
            f'\n      <table class="scores"><thead><tr><th>{labels["instrument"]}</th><th>{labels["value"]}</th>'
            f"<th>{labels['change_since_baseline']}</th><th></th></tr></thead><tbody>\n      {rows}\n"
            "      </tbody></table>\n      "
        )
    else:
        html.append(f'<p class="muted">{labels["no_scores"]}</p>')
    html.append("\n      ")
    if course.imaging.scans:
        html.append(_imaging(context, page, event, course.imaging))
    html.append("\n      ")
    html.append(_visit_signature(context, page, record))
    html.append("\n      ")
    if page["may_add_scan"]:
        url = url_html(context, "scan-upload", record.pk)
        html.append(f'<p class="child"><a href="{url}">+ {labels["add_scan"]}</a></p>')
    html.append(f"\n      {record_links_html(context, 'visits', record)}\n    ")
    return "".join(html)


def _visit_heading(page, event, record):
    labels, course = page["labels"], event["course"]
    heading = labels["kind_visit"] % {"kind": _choice(page, record, "kind")}
    if course.months is not None:
        months = labels["months_since"] % {"months": _text(course.months)}
        heading += f' <span class="months">{months}</span>'
    if event["timepoint"]:
        timepoint = labels["timepoint"] % {"timepoint": escape_value(event["timepoint"].label)}
        heading += f' <span class="timepoint">{timepoint}</span>'
    elif course.in_window is False:
        outside = labels["outside_baseline"] if record.kind == "baseline" else labels["outside_every"]
        heading += f' <span class="timepoint out">{outside}</span>'
    return heading


def _imaging(context, page, event, imaging):
    """The visit's FA and scans, then its regions' FA; each change with its error."""
    labels = page["labels"]
    html = ['\n      <p class="imaging">']
    if event["fa_wm"]:
        html.append(f"<strong>{labels['fa_wm']} {floatformat(event['fa_wm'].value, 3)}</strong>")
        html.append(_change(event["fa_change"], labels, f"{labels['change']} "))
        html.append(" · ")
    html.append("\n        ")
    several = len(imaging.scans) > 1
    scans = []
    for scan in imaging.scans:
        link, status = labels["scan"] % {"id": scan.pk}, _choice(page, scan, "status")
        text = (
            f'<a href="{url_html(context, "scan-detail", scan.pk)}">{link}</a> '
            f'<span class="status {escape_value(scan.status)}">{status}</span>'
        )
        if scan.usable is False:
            text += f" ({labels['not_usable']})"
        if several and scan == imaging.counted:
            text += f" ({labels['counts']})"
        scans.append(text)
    html.append(", ".join(scans))
    html.append("</p>\n      ")
    if event["fa_regions"]:
        regions = [
            f"{escape_value(region['measure'].name)} {floatformat(region['measure'].value, 3)}"
            f"{_change(region['change'], labels, '')}"
            for region in event["fa_regions"]
        ]
        html.append(f'<p class="imaging regions">{" · ".join(regions)}</p>')
    html.append("\n      ")
    return "".join(html)


def _change(change, labels, prefix):
    if change.change is not None:
        value = escape_value(signed_float(change.change))
        return f' <span class="change">({prefix}{value}{change_error_html(change, 3)})</span>'
    if change.excluded:
        return f' <span class="change excluded">({labels["excluded"]})</span>'
    return ""


def _visit_signature(context, page, record):
    """Who signed the visit (and unlocking it), or entering its assessments and signing it."""
    labels = page["labels"]
    signature = page["visit_locks"].get(record.pk)
    if signature:
        when = date_filter(template_localtime(signature.signed_at), "Y-m-d H:i")
        signed = labels["signed_by"] % {"who": escape_value(signature.signer_name), "when": escape_value(when)}
        unlock = ""
        if page["may_unlock"]:
            unlock = f' <a href="{url_html(context, "signature-unlock", signature.pk)}">{labels["unlock"]}</a>'
        return f'<p class="child"><span class="lock">{signed}</span>{unlock}</p>\n      '
    if page["locked"]:
        return ""
    html = ""
    if page["may_change_score"]:
        assessments = url_html(context, "visit-assessments", record.pk)
        new_score = url_html(context, "record-create", page["patient"].pk, "scores")
        html += (
            f'<p class="child"><a href="{assessments}">{labels["assessments"]}</a> · '
            f'<a href="{new_score}?visit={record.pk}">+ {labels["add_score"]}</a></p>'
        )
    html += "\n      "
    if page["may_sign"]:
        html += f'<p class="child"><a href="{url_html(context, "visit-sign", record.pk)}">{labels["sign"]}</a></p>'
    return html
