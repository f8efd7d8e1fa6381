"""Research pages and exports: the cohort with its tables, linking FA with scores, plots,
and the streamed de-identified exports (every one logged)."""

import datetime as dt
import logging
from functools import wraps
from typing import NamedTuple

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET

from imaging.models import Region
from imaging.selectors import SUMMARY_MEASURES
from registry import quantities
from registry.api.tokens import token_user, unauthorized
from registry.course import collector_paused, instruments_scored, measures_provided, read_scores
from registry.deidentify import DATE_MODES, RELATIVE, rules
from registry.models import Instrument, Patient
from research import analysis, exports, plots
from research.cohort import (
    CohortForm,
    courses,
    courses_of,
    enrolled,
    in_measure_order,
    iter_courses,
    measure_names,
)
from research.models import ExportLog

logger = logging.getLogger(__name__)
VIEW_COHORT = "research.view_cohort"
EXPORT = "research.export_data"


def require(request, perm):
    if not request.user.has_perm(perm):
        raise PermissionDenied(_("Your role does not allow this."))


def cohort_from(request):
    """The cohort filter of the request's query string, or (the form with its errors, None)."""
    form = CohortForm(request.GET or None)
    if request.GET and not form.is_valid():
        return form, None
    if not request.GET:
        form = CohortForm({})
        form.is_valid()
    return form, form.cohort_filter()


def query_without(request, *names):
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


# Per-patient tables show this many patients a page, so a page costs the same for 30 or 3,000 patients.
PAGE_PATIENTS = 10


def page_of(request, items, size=PAGE_PATIENTS):
    """The page of ``items`` that ``?page=N`` asks for: (page, None), or (None, a message naming the
    parameter) when N is not a page number."""
    paginator = Paginator(items, size)
    raw = request.GET.get("page", "1")
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= paginator.num_pages):
        return None, _("page must be a whole number from 1 to %(last)d.") % {"last": paginator.num_pages}
    return paginator.page(int(raw)), None


@login_required
@collector_paused
def cohort_page(request):
    require(request, VIEW_COHORT)
    form, cohort = cohort_from(request)
    context = {
        "form": form,
        "query": query_without(request, "page"),
        "instruments": Instrument.objects.all(),
        "date_modes": DATE_MODES,
        "labels": {
            "sex": dict(Patient.Sex.choices),
            "cp_subtype": dict(Patient.Subtype.choices),
            "etiology": dict(Patient.Etiology.choices),
        },
    }
    page_error = None
    if cohort is not None:
        # n and the baseline characteristics are of the whole cohort (enrolment and doses only); the
        # per-patient tables of one page of it, so the page does not grow with the cohort.
        patients = enrolled(cohort)
        page, page_error = page_of(request, patients)
        context.update(n=len(patients), characteristics=analysis.baseline_characteristics(patients))
        if page is not None:
            course_list = courses_of(cohort, [course.patient_id for course in page])
            context.update(
                page=page,
                score_table=analysis.measure_table(course_list, {"score"}),
                fa_table=analysis.measure_table(course_list, {"fa"}),
            )
    context["page_error"] = page_error
    return render(request, "research/cohort.html", context, status=400 if form.errors or page_error else 200)


class Linking(NamedTuple):
    """What the linking page and its plots show: the cohort's courses, the choices offered, the ones made,
    and ``errors``: {parameter: message} for each choice asked for that the registry does not know (that choice
    left at its default)."""

    courses: list
    instruments: list
    fa_measures: list
    instrument: str
    fa_measure: str
    follow_up: str
    errors: dict


def linking_courses(request, cohort):
    """The cohort's courses with the scores of the one instrument and the one FA measure the linking page
    and its plots show, and the choices (a Linking).

    The instruments and FA measures to choose from are found in the database, so only the chosen ones are read.
    An instrument, FA measure or follow-up the registry does not know is named in ``errors``; an instrument or
    FA measure it knows that this cohort lacks is a valid choice (the page then says no patient has both)."""
    errors = {}
    fa_measure = request.GET.get("fa") or analysis.FA_DEFAULT
    if not _known_fa_measure(fa_measure):
        errors["fa"] = _("fa: the registry has no FA measure “%(value)s”.") % {"value": fa_measure}
        fa_measure = analysis.FA_DEFAULT
    course_list = courses(cohort, instruments=(), measures=[fa_measure])
    instruments = instruments_scored(course_list)
    offered = in_measure_order(measures_provided(course_list))
    fa_measures = [name for name in offered if name.startswith("FA ")] or [analysis.FA_DEFAULT]
    default_instrument = "GMFM-88" if "GMFM-88" in instruments else (instruments[0] if instruments else "GMFM-88")
    asked = request.GET.get("instrument")
    instrument = asked or default_instrument
    if asked and not Instrument.objects.filter(code=asked).exists():
        errors["instrument"] = _("instrument: the registry has no instrument “%(value)s”.") % {"value": asked}
        instrument = default_instrument
    read_scores(course_list, [instrument])
    follow_up = request.GET.get("follow_up") or analysis.LATEST_TIMEPOINT
    if follow_up not in dict(analysis.follow_up_choices()):
        errors["follow_up"] = _("follow_up: “%(value)s” is not one of the follow-ups listed.") % {"value": follow_up}
        follow_up = analysis.LATEST_TIMEPOINT
    return Linking(course_list, instruments, fa_measures, instrument, fa_measure, follow_up, errors)


def _known_fa_measure(name):
    """Whether ``name`` is an FA measure the registry can have: a scan's summary, or "FA <region code>"."""
    if any(name == summary for summary, kind, _unit, _key in SUMMARY_MEASURES if kind == "fa"):
        return True
    return name.startswith("FA ") and Region.objects.filter(code=name[3:]).exists()


@login_required
@collector_paused
def linking_page(request):
    require(request, VIEW_COHORT)
    form, cohort = cohort_from(request)
    context = {"form": form}
    page_error = None
    if cohort is not None:
        linking = linking_courses(request, cohort)
        linked = analysis.link(linking.courses, linking.instrument, linking.fa_measure, linking.follow_up)
        # The statistics are of every pair; the per-patient table shows one page of them.
        page, page_error = page_of(request, linked["pairs"])
        context.update(
            choice_errors=" ".join(linking.errors.values()),
            n=len(linking.courses),
            instruments=linking.instruments,
            fa_measures=linking.fa_measures,
            instrument=linking.instrument,
            fa_measure=linking.fa_measure,
            follow_up_choices=analysis.follow_up_choices(),
            linked=linked,
            page=page,
            # Links (pages, plots) carry the choices shown: one the registry does not know is left to its default.
            query=query_without(request, "page", *linking.errors),
            plots=PLOTS,
        )
    context["page_error"] = page_error
    failed = form.errors or page_error or context.get("choice_errors")
    return render(request, "research/linking.html", context, status=400 if failed else 200)


def _scaled(value, unit):
    """A dose in the units the pages print it in (quantities.DOSE_UNITS; per_kg:8 → "3.20 ×10⁸/kg")."""
    return None if value is None else value / unit


def _plot_scatter(linked, key_x, key_y, labels, stats_key, fmt, x_unit=None, x_scale=1):
    """One scatter of the linked pairs; ``labels`` = (x label, y label, title); x divided by ``x_scale``."""
    points = [
        {"label": pair["study_id"], "x": _scaled(pair[key_x], x_scale), "y": pair[key_y]} for pair in linked["pairs"]
    ]
    x_label, y_label, title = labels
    return plots.scatter_with_fit(
        points, x_label=x_label, y_label=y_label, title=title, stats=linked[stats_key], x_unit=x_unit, fmt=fmt
    )


def _names(linked):
    return {"fa": linked["fa_measure"], "instrument": linked["instrument"]}


def _plot_dose(linked, key_y, measure, stats_key, fmt):
    labels = (
        _("TNC (×10⁸ cells/kg)"),
        f"Δ {measure}",
        _("Dose and change in %(measure)s") % {"measure": measure},
    )
    return _plot_scatter(
        linked,
        "tnc_per_kg",
        key_y,
        labels,
        stats_key,
        fmt,
        x_unit=_("10⁸ cells/kg"),
        x_scale=quantities.DOSE_UNITS["tnc"],
    )


PLOTS = {
    "fa-vs-score": lambda linked, course_list, fmt: _plot_scatter(
        linked,
        "delta_fa",
        "delta_score",
        (
            f"Δ {linked['fa_measure']}",
            f"Δ {linked['instrument']}",
            _("Change in %(fa)s and in %(instrument)s") % _names(linked),
        ),
        "correlation",
        fmt,
    ),
    "dose-vs-fa": lambda linked, course_list, fmt: _plot_dose(linked, "delta_fa", linked["fa_measure"], "dose_fa", fmt),
    "dose-vs-score": lambda linked, course_list, fmt: _plot_dose(
        linked, "delta_score", linked["instrument"], "dose_score", fmt
    ),
    "fa-before-after": lambda linked, course_list, fmt: plots.paired_before_after(
        linked["fa_pairs"],
        y_label=linked["fa_measure"],
        title=_("%(fa)s: baseline and follow-up") % _names(linked),
        stats=linked["fa_change"],
        fmt=fmt,
    ),
    "score-trajectories": lambda linked, course_list, fmt: plots.trajectories(
        analysis.trajectories(course_list, linked["instrument"]),
        y_label=linked["instrument"],
        title=_("%(instrument)s over time") % _names(linked),
        fmt=fmt,
    ),
    "fa-trajectories": lambda linked, course_list, fmt: plots.trajectories(
        analysis.trajectories(course_list, linked["fa_measure"]),
        y_label=linked["fa_measure"],
        title=_("%(fa)s over time") % _names(linked),
        fmt=fmt,
    ),
}
PLOT_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


@login_required
@collector_paused
def plot(request, name, fmt):
    require(request, VIEW_COHORT)
    if name not in PLOTS or fmt not in PLOT_TYPES:
        return HttpResponse(_("No such plot."), status=404, content_type="text/plain; charset=utf-8")
    form, cohort = cohort_from(request)
    if cohort is None:
        return HttpResponse(
            " ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    linking = linking_courses(request, cohort)
    if linking.errors:
        return HttpResponse(" ".join(linking.errors.values()), status=400, content_type="text/plain; charset=utf-8")
    course_list = linking.courses
    linked = analysis.link(course_list, linking.instrument, linking.fa_measure, linking.follow_up)
    response = HttpResponse(PLOTS[name](linked, course_list, fmt), content_type=PLOT_TYPES[fmt])
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
        ExportLog.objects.create(
            user=request.user,
            kind=f"plot:{name}",
            file_format=fmt,
            filters=cohort.as_dict(),
            completed=True,
            rows=len(linked["pairs"]),
        )
    return response


@login_required
def export_log(request):
    require(request, "research.view_exportlog")
    return render(request, "research/export_log.html", {"entries": ExportLog.objects.select_related("user")[:500]})


# ---- exports: plain Django views streaming their files -----------------------------------


class BadExportRequest(Exception):
    """A query parameter the export cannot take: answered 400 with {parameter: [message]}."""

    def __init__(self, errors):
        self.errors = errors


def export_account(request):
    """The account asking for an export: the signed-in session's, or that of the API token sent as
    `Authorization: Token KEY` (checked by the API's own token authentication)."""
    if request.user.is_authenticated:
        return request.user
    return token_user(request)


def export_view(view):
    """An export endpoint: GET only, by an account allowed to export, bad parameters answered 400."""

    @wraps(view)
    @require_GET
    def answer(request):
        user = export_account(request)
        if user is None:
            return unauthorized()
        if not user.has_perm(EXPORT):
            return JsonResponse({"detail": _("Your role does not allow this.")}, status=403)
        request.user = user
        try:
            return view(request)
        except BadExportRequest as error:
            return JsonResponse(error.errors, status=400)

    return answer


def _choice(request, name, allowed, default, message):
    value = request.GET.get(name, default)
    if value not in allowed:
        raise BadExportRequest({name: [message]})
    return value


def _date_mode(request):
    return _choice(request, "dates", DATE_MODES, RELATIVE, _("Choose relative or shifted."))


def _open_queries(request):
    """Whether the export adds the count of open data-quality queries per row (opt-in)."""
    return _choice(request, "open_queries", ("true", "false"), "false", _("Choose true or false.")) == "true"


def _file_format(request, allowed):
    message = _("Choose one of: %(formats)s.") % {"formats": ", ".join(allowed)}
    return _choice(request, "format", allowed, "csv", message)


def _cohort(request):
    form = CohortForm(request.GET)
    if not form.is_valid():
        raise BadExportRequest({name: list(errors) for name, errors in form.errors.items()})
    return form.cohort_filter()


def _logged_stream(log, counter, chunks):
    """Streams the chunks, then records in the export log how many rows went out."""
    yield from chunks
    log.rows, log.completed = counter.count, True
    log.save(update_fields=["rows", "completed"])


def _stream_table(request, *, kind, fmt, date_mode, cohort, columns, rows, filename):
    writer, content_type = exports.WRITERS[fmt]
    filters = cohort.as_dict() if cohort else {}
    log = ExportLog.objects.create(user=request.user, kind=kind, file_format=fmt, date_mode=date_mode, filters=filters)
    counter = exports.Counter(rows)
    response = StreamingHttpResponse(_logged_stream(log, counter, writer(columns, counter)), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response


@export_view
def export_cohort(request):
    """The de-identified cohort: `table=long` (one row per patient × visit × measure) or `wide`
    (one row per patient × visit); `format=csv|json|xlsx`; `dates=relative|shifted`; and the
    cohort filters of the research page (subtype, etiology, gmfcs, tnc_min, tnc_max, cd34_min,
    cd34_max in ×10⁸ and ×10⁶ cells/kg, months_min, months_max, usable_only); `open_queries=true` adds
    the count of open data-quality queries per row (never their text)."""
    fmt = _file_format(request, exports.WRITERS)
    table = _choice(request, "table", ("long", "wide"), "long", _("Choose long or wide."))
    date_mode = _date_mode(request)
    cohort = _cohort(request)
    with_queries = _open_queries(request)
    export_rules = rules(date_mode)
    if table == "long":
        columns = exports.long_columns(export_rules, with_queries)
        rows = exports.long_rows(cohort, export_rules, with_queries)
    else:
        measures = measure_names(iter_courses(cohort))  # a first pass keeps only the names
        columns = exports.wide_columns(export_rules, measures, with_queries)
        rows = exports.wide_rows(cohort, export_rules, measures, with_queries)
    filename = f"cohort-{table}-{dt.date.today().isoformat()}"
    return _stream_table(
        request, kind=table, fmt=fmt, date_mode=date_mode, cohort=cohort, columns=columns, rows=rows, filename=filename
    )


@export_view
def export_dictionary(request):
    """Every column of the long and wide tables: name, type, unit, description, source (with
    `open_queries=true`, the column that count adds)."""
    fmt = _file_format(request, ("json", "csv"))
    date_mode = _date_mode(request)
    with_queries = _open_queries(request)
    names = ("table", "name", "type", "unit", "description", "source")
    columns = [(name, "string", "", "", "") for name in names]
    rows = ([row[name] for name in names] for row in exports.dictionary(rules(date_mode), with_queries))
    return _stream_table(
        request,
        kind="dictionary",
        fmt=fmt,
        date_mode=date_mode,
        cohort=None,
        columns=columns,
        rows=rows,
        filename="dictionary",
    )


@export_view
def export_bids(request):
    """The imaging derivatives of the cohort (FA, MD, AD, RD, colour FA, mask) as a BIDS
    derivatives zip, with JSON sidecars carrying the provenance.

    Every map is checked against the sha256 stored with it before the first byte is sent: if any is
    missing or damaged, nothing is exported and the answer (409) names the sessions at fault."""
    from imaging.dti import PIPELINE_VERSION
    from research.bids import iter_bids_zip
    from research.derivatives import bids_entries, damaged_entries

    cohort = _cohort(request)
    entries, participants = bids_entries(cohort, rules())
    faults = damaged_entries(entries)
    if faults:
        logger.warning(
            "BIDS export for %s refused: maps missing or damaged in %s",
            request.user,
            "; ".join(f"{fault['subject']} {fault['session']} ({', '.join(fault['problems'])})" for fault in faults),
        )
        message = ngettext(
            "Nothing was exported: maps of %(count)d session are missing or damaged in storage. The registry "
            "team can reprocess its scan; export again once it is done, or leave that patient out with the "
            "cohort filters.",
            "Nothing was exported: maps of %(count)d sessions are missing or damaged in storage. The "
            "registry team can reprocess those scans; export again once they are done, or leave those "
            "patients out with the cohort filters.",
            len(faults),
        ) % {"count": len(faults)}
        return JsonResponse({"detail": message, "sessions": faults}, status=409)
    log = ExportLog.objects.create(user=request.user, kind="bids", file_format="zip", filters=cohort.as_dict())
    counter = exports.Counter(entries)
    chunks = iter_bids_zip(
        counter,
        dataset_name="CP cell-therapy registry: DTI derivatives",
        pipeline_version=PIPELINE_VERSION,
        participants=participants,
    )
    response = StreamingHttpResponse(_logged_stream(log, counter, chunks), content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="dti-derivatives-{dt.date.today()}.zip"'
    return response
