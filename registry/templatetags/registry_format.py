"""Formatting of clinical quantities in pages: doses per kg in scientific notation, changes, record
links; every number with the decimal separator of the page's language ("2,30 ×10⁸/kg", "+0,012" in Spanish)."""

import functools
import html
import math
from decimal import ROUND_HALF_UP, Decimal
from types import SimpleNamespace

from django import template
from django.conf import settings
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils import formats
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

register = template.Library()
SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


@register.filter
def per_kg(value, exponent):
    """3.2e8 with exponent 8 -> '3.20 ×10⁸/kg'; a dash when unknown."""
    if value is None:
        return "—"
    exponent = int(exponent)
    return f"{_fixed(value / 10**exponent, 2)} ×10{str(exponent).translate(SUPERSCRIPT)}/kg"


@register.filter
def cells(value):
    """A cell count in scientific notation: 3200000000 -> '3.20 ×10⁹'."""
    if value is None:
        return "—"
    if value == 0:
        return "0"
    exponent = int(math.floor(math.log10(value)))
    return f"{_fixed(value / 10**exponent, 2)} ×10{str(exponent).translate(SUPERSCRIPT)}"


@register.filter
def signed(value):
    """A change with its sign: +4.5, -1, 0."""
    if value is None:
        return ""
    text = format(value.normalize(), "f") if hasattr(value, "normalize") else f"{value:g}"
    if "e" not in text:  # a number too large or small for fixed notation stays as Python writes it
        text = text.replace(".", formats.get_format("DECIMAL_SEPARATOR"))
    return text if text.startswith("-") or text == "0" else f"+{text}"


@register.filter
def signed_float(value, digits=3):
    """A change in a measure such as FA, with its sign: +0.012."""
    return signed_text(value, int(digits))


def signed_text(value, digits, separator=None):
    """``signed_float``, with the page's decimal ``separator`` when the caller has read it once for many numbers."""
    if value is None:
        return ""
    text = _fixed(value, digits, separator)
    return text if text.startswith("-") else f"+{text}"


ROMAN_LEVELS = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V"}


@register.filter
def level(value):
    """A classification level (GMFCS, MACS, CFCS) as clinicians write it: 3 -> "III"; a dash when unknown."""
    if value in (None, ""):
        return "—"
    return ROMAN_LEVELS.get(int(value), str(value))


@register.filter
def label_in(value, choices):
    """The human label of a stored choice value, from a {value: label} dict."""
    return choices.get(value, value) if value is not None else "—"


def escape_value(value):
    """``conditional_escape`` without its machinery for lazy strings (the same text): the patient page's tags
    escape hundreds of values. Its result, like every ``*_html`` function's here, is markup a tag marks safe."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


def _fixed(value, digits, separator=None):
    """`value` with `digits` decimals in the page's language (never "-0.000"): ``number_format`` of the rounded
    value, written directly when its text is plain (no exponent, no grouping of thousands). ``separator``: the
    page's decimal separator, read here when not given."""
    number = round(float(value), digits) + 0.0
    text = repr(number)
    if not math.isfinite(number) or "e" in text or digits < 0 or settings.USE_THOUSAND_SEPARATOR:
        return formats.number_format(number, digits)
    whole, _point, decimals = text.partition(".")
    if not digits:
        return whole
    separator = separator or formats.get_format("DECIMAL_SEPARATOR")
    return f"{whole}{separator}{decimals[:digits].ljust(digits, '0')}"


def decimal_text(value, digits, separator=None):
    """``floatformat(value, digits)`` for ``digits`` from 1 to 9: the value's decimal text rounded half up, in the
    page's language. A float is written directly (the filter's steps, without its machinery per call); anything
    else, or thousands grouped, goes to the filter. ``separator``: the page's decimal separator, read when not given."""
    if type(value) is not float or not -1e15 < value < 1e15 or not 0 < digits < 10 or settings.USE_THOUSAND_SEPARATOR:
        return floatformat(value, digits)
    rounded = Decimal(repr(value)).quantize(_STEPS[digits], rounding=ROUND_HALF_UP)
    text = format(rounded, "f")
    if not rounded and text.startswith("-"):  # floatformat never writes "-0.0"
        text = text[1:]
    separator = separator or formats.get_format("DECIMAL_SEPARATOR")
    return text if separator == "." else text.replace(".", separator)


_STEPS = {digits: Decimal(1).scaleb(-digits) for digits in range(1, 10)}


@register.simple_tag(takes_context=True)
def record_links(context, kind, record):
    """The links beside a record on the patient page: edit (for accounts that may change patients, unless
    a signature locks it), history, its pending queries and opening one. A tag rather than an included
    template, its markup written directly: the page shows one per score, dozens a page."""
    return mark_safe(record_links_html(context, kind, record))


def record_links_html(context, kind, record):
    """The markup of ``{% record_links %}``."""
    known = context.render_context.get("record_links")
    if known is None:  # once a page: the labels in its language, what the account may do, the locks
        user = context["request"].user
        known = context.render_context["record_links"] = (
            user.has_perm("registry.change_patient"),
            user.has_perm("registry.add_query"),
            escape(_("edit")),
            escape(_("history")),
            escape(_("query")),
            escape(_("locked")),
            context.get("locks") or {},
            context.get("query_counts") or {},
        )
    may_edit, may_query, edit, history, query, locked, locks, counts = known
    signature = locks.get("patient") or _visit_lock(locks.get("visits", {}), kind, record)
    links = ['<span class="links">']
    if signature is not None:
        links.append(f'<span class="lock" title="{escape(str(signature))}">{locked}</span> ')
    elif may_edit:
        links.append(f'<a href="{url_html(context, "record-edit", kind, record.pk)}">{edit}</a> ')
    links.append(f'<a href="{url_html(context, "record-history", kind, record.pk)}">{history}</a> ')
    if may_query:
        links.append(f'<a href="{url_html(context, "query-create", kind, record.pk)}">{query}</a>')
    pending = counts.get((kind, record.pk))
    if pending:
        label = ngettext("%(count)s open query", "%(count)s open queries", pending) % {"count": pending}
        links.append(f' <a class="queries-badge" href="#queries">{escape(label)}</a>')
    links.append("</span>")
    return "".join(links)


# An id no record has: reversed in its place, it marks where a record's id goes in the pattern's URL.
_ID_MARK = 987654321987654321


@register.simple_tag(takes_context=True)
def page_url(context, name, *args):
    """``{% url name args %}`` for a page that links to many records of one pattern (a link per score): the
    pattern is reversed once a page and each record's id, the last argument when it is a number, written
    into it."""
    return mark_safe(url_html(context, name, *args))


def url_html(context, name, *args):
    """The escaped URL ``{% page_url %}`` writes."""
    urls = context.render_context.get("page_urls")
    if urls is None:
        urls = context.render_context["page_urls"] = {}
    *fixed, last = args
    if not isinstance(last, int):
        key = (name, *args)
        if key not in urls:
            urls[key] = escape(reverse(name, args=args))
        return urls[key]
    key = (name, *fixed, None)
    parts = urls.get(key)
    if parts is None:
        parts = urls[key] = escape(reverse(name, args=[*fixed, _ID_MARK])).split(str(_ID_MARK))
    return f"{parts[0]}{last}{parts[1]}"


@register.simple_tag
def change_error(change, digits):
    """A change since baseline beside its error (FA: test–retest; GMFM: the MCID), and a mark when it exceeds
    it; nothing when the change has no error. ``change``: a registry.quantities.Change, or a dict with its
    ``error``, ``basis`` and ``beyond_error`` (research's tables); ``digits``: the error's decimals. A tag
    rather than an included template: the patient page shows one per score."""
    return mark_safe(change_error_html(change, digits))


def change_error_html(change, digits, separator=None):
    """The markup of ``{% change_error %}`` (``separator``: the page's decimal separator, if read already)."""
    if isinstance(change, dict):
        change = SimpleNamespace(**{name: change.get(name) for name in ("error", "basis", "beyond_error")})
    if change.error is None:
        return ""
    error = escape(decimal_text(change.error, digits, separator))
    words = _change_error_words(get_language())
    title, text, beyond_title, beyond = words["mcid"] if change.basis == "mcid" else words["test-retest"]
    markup = f' <span class="change-error" title="{title % {"error": error}}">{text % {"error": error}}</span>'
    if change.beyond_error:
        markup += f' <strong class="beyond-error" title="{beyond_title % {"error": error}}">✱ {beyond}</strong>'
    return markup


@functools.lru_cache
def _change_error_words(language):
    """{basis: (title, text, title beyond the error, beyond the error)} in ``language``, each with an
    ``%(error)s`` to fill; translated once a process (catalogs do not change while it runs)."""
    return {
        "mcid": (
            _(
                "Minimal clinically important difference for the patient's GMFCS level: %(error)s points "
                "(Oeffinger et al., Dev Med Child Neurol 2008)"
            ),
            _("MCID %(error)s"),
            _("The change is larger than the minimal clinically important difference (%(error)s points)"),
            escape(_("beyond the MCID")),
        ),
        "test-retest": (
            _(
                "Measurement error: a change within ±%(error)s may be test–retest variation (1.96 × √2 × the "
                "test–retest coefficient of variation × the baseline)"
            ),
            "±%(error)s",
            _("The change is larger than the measurement error (±%(error)s): a reliable change"),
            escape(_("beyond measurement error")),
        ),
    }


@register.simple_tag(takes_context=True)
def score_row(context, item):
    """One row of a visit's scores on the patient page: the instrument (with its muscle group and side), the
    value or why it is missing, the change since baseline with its error, the score's links. ``item``: a
    score of registry.selectors.patient_timeline. A tag rather than template markup: dozens a page."""
    return mark_safe(score_row_html(context, item))


def score_row_html(context, item):
    """The markup of ``{% score_row %}``."""
    score, change = item["score"], item["change"]
    name = escape_value(score.instrument.code)
    if score.muscle_id:
        name = f"{name} {escape_value(score.muscle)} {escape_value(score.get_side_display())}"
    if score.value is None:
        reason = _("missing: %(reason)s") % {"reason": escape_value(score.get_missing_display())}
        value = f'<span class="score-missing">{reason}</span>'
    else:
        value = f"{escape_value(score.display_value)}{escape_value(score.instrument.unit)}"
    return (
        f"<tr><td>{name}</td><td>{value}</td>"
        f"<td>{escape_value(signed(change.change))}{change_error_html(change, 1)}</td>"
        f"<td>{record_links_html(context, 'scores', score)}</td></tr>"
    )


def _visit_lock(visit_locks, kind, record):
    if kind == "visits":
        return visit_locks.get(record.pk)
    if kind == "scores":
        return visit_locks.get(record.visit_id)
    return None


@register.filter
def get_item(mapping, key):
    """``mapping[key]`` in a template, or None."""
    return (mapping or {}).get(key)
