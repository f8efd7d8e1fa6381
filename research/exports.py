"""De-identified exports: the long and wide tables as CSV, JSON or XLSX, streamed row by row,
and the dictionary describing every column."""

import csv
import io
import json
import os
import tempfile

from django.utils.translation import gettext_lazy as _

from registry import queries
from registry.deidentify import RELATIVE
from research.cohort import SeenCourse, iter_courses

BATCH_ROWS = 2000


def _date_column(rules):
    return rules.date_column("event")


def _patient_columns():
    return [
        ("study_id", "string", "", _("Pseudonymous study ID"), "Patient.study_id"),
        ("site", "string", "", _("Code of the patient's site (centre)"), "Site.code"),
        ("sex", "string", "", _("F or M"), "Patient.sex"),
        ("cp_subtype", "string", "", _("CP subtype"), "Patient.cp_subtype"),
        ("etiology", "string", "", _("Etiology"), "Patient.etiology"),
        ("gmfcs_level_enrolment", "integer", "level", _("GMFCS level at enrolment (1-5)"), "Patient.gmfcs_level"),
        ("gestational_age_weeks", "integer", "weeks", _("Gestational age at birth"), "Patient.gestational_age_weeks"),
        ("epilepsy", "boolean", "", _("Epilepsy"), "Patient.epilepsy"),
        (
            "age_at_procedure_months",
            "integer",
            "months",
            _("Age at the first intrathecal procedure"),
            "Patient.date_of_birth, IntrathecalProcedure.date",
        ),
        (
            "tnc_per_kg",
            "number",
            "cells/kg",
            _("Total nucleated cells per kg at the first procedure"),
            "CellProduct.tnc_count / IntrathecalProcedure.weight_kg",
        ),
        (
            "cd34_per_kg",
            "number",
            "cells/kg",
            _("CD34+ cells per kg at the first procedure"),
            "CellProduct.cd34_count / IntrathecalProcedure.weight_kg",
        ),
    ]


def _event_columns(rules):
    date_doc = (
        _("Days from the patient's first intrathecal procedure to the event (negative before it)")
        if rules.date_mode == RELATIVE
        else _(
            "Date of the event moved back by the patient's secret offset (1-364 days, the same in every "
            "export), so intervals are kept"
        )
    )
    return [
        ("event", "string", "", _("visit, or procedure for dose rows"), "Visit.kind / IntrathecalProcedure"),
        ("visit_kind", "string", "", _("baseline, follow-up or unscheduled"), "Visit.kind"),
        (
            "timepoint",
            "string",
            "",
            _(
                "The scheduled follow-up the visit fills, from the visit schedule registry-admins keep (as "
                "seeded: 3m, 6m, 9m, 12m, 18m, 24m; the follow-up visit nearest to the target month within ±1 "
                "month in the first year, ±2 after); empty for baseline, unscheduled and out-of-window visits"
            ),
            "Visit.date, IntrathecalProcedure.date",
        ),
        (
            _date_column(rules),
            "integer" if rules.date_mode == RELATIVE else "date",
            "days" if rules.date_mode == RELATIVE else "",
            date_doc,
            "Visit.date / IntrathecalProcedure.date",
        ),
        (
            "months_since_procedure",
            "number",
            "months",
            _("Months (30.4375 days) since the first procedure"),
            "Visit.date",
        ),
        ("age_months", "integer", "months", _("Age at the event"), "Patient.date_of_birth"),
    ]


OPEN_QUERIES_COLUMN = (
    "open_queries",
    "integer",
    "",
    _(
        "Open or answered data-quality queries on the row's visit (and its scores) or procedure (and its "
        "adverse events); only when the export asks for it with open_queries=true"
    ),
    "Query.status",
)


def long_columns(rules, open_queries=False):
    return (
        _patient_columns()
        + _event_columns(rules)
        + [
            (
                "measure",
                "string",
                "",
                _(
                    "Instrument code (GMFM-88, GMFCS...), with muscle group and side for scores per muscle group "
                    "(MAS hamstrings-l), FA/MD of white matter, whole brain or a region, or a dose"
                ),
                "Instrument.code / DiffusionResult / RoiMeasurement",
            ),
            ("measure_type", "string", "", _("score, fa, md or dose"), ""),
            (
                "value",
                "number",
                "",
                _(
                    "The measure's value, in `unit`; labelled scales by their numeric coding: GMFCS, MACS and CFCS "
                    "levels I–V as 1–5, Modified Ashworth 0, 1, 1+, 2, 3, 4 as 0, 1, 1.5, 2, 3, 4 (the label is in "
                    "value_label); empty when the score is recorded as missing (see missing_code)"
                ),
                "Score.value / DiffusionResult / RoiMeasurement",
            ),
            ("unit", "string", "", _("Unit of value (FA has none; MD in mm²/s)"), "Instrument.unit"),
            ("baseline_value", "number", "", _("The same measure at the baseline visit"), ""),
            (
                "change",
                "number",
                "",
                _(
                    "value - baseline_value; empty for an imaging measure of a scan not acquired like the "
                    "baseline scan (another b-value, fewer directions, another scanner…) unless a radiologist "
                    "included it"
                ),
                "",
            ),
            ("percent_change", "number", "%", _("100 × change / |baseline_value|"), ""),
            (
                "change_error",
                "number",
                "",
                _(
                    "The change the measure must exceed to count, in `unit`: for FA 1.96 × √2 × the test–retest "
                    "coefficient of variation × baseline_value; for GMFM-66 the minimal clinically important "
                    "difference at the patient's GMFCS level; empty when there is none"
                ),
                "settings.FA_TEST_RETEST_CV_PERCENT / GMFM_MCID",
            ),
            (
                "beyond_error",
                "boolean",
                "",
                _("Whether |change| > change_error (empty when either is empty)"),
                "",
            ),
            (
                "scan_usable",
                "boolean",
                "",
                _("Whether a radiologist marked the scan usable (empty: not reviewed)"),
                "Scan.usable",
            ),
            (
                "scan_qc_passed",
                "boolean",
                "",
                _("Whether every automatic QC check of the scan passed"),
                "DiffusionResult.qc",
            ),
            (
                "value_label",
                "string",
                "",
                _("The value as the instrument writes it (1+ for Modified Ashworth, III for GMFCS); empty otherwise"),
                "Instrument.value_labels",
            ),
            (
                "missing_code",
                "string",
                "",
                _(
                    "Why a score has no value: not-done, not-applicable, unable-to-assess, refused or unknown; "
                    "empty when it has one"
                ),
                "Score.missing",
            ),
        ]
        + ([OPEN_QUERIES_COLUMN] if open_queries else [])
    )


def wide_columns(rules, measures, open_queries=False):
    columns = _patient_columns() + _event_columns(rules)[1:]
    for name in measures:
        columns.append((name, "number", "", _("Value of %(name)s at the visit") % {"name": name}, ""))
        columns.append((f"{name} change", "number", "", _("Change of %(name)s since baseline") % {"name": name}, ""))
        columns.append(
            (
                f"{name} beyond error",
                "boolean",
                "",
                _("Whether the change of %(name)s exceeds its measurement error or MCID (long table: beyond_error)")
                % {"name": name},
                "",
            )
        )
    columns += [
        ("scan_usable", "boolean", "", _("Whether a radiologist marked the scan usable"), "Scan.usable"),
        ("scan_qc_passed", "boolean", "", _("Whether every automatic QC check passed"), "DiffusionResult.qc"),
        (
            "missing_codes",
            "string",
            "",
            _(
                "The visit's scores recorded as missing and why, e.g. CFCS=refused; GMFM-88=not-done (their value "
                "columns are empty)"
            ),
            "Score.missing",
        ),
    ]
    return columns + ([OPEN_QUERIES_COLUMN] if open_queries else [])


def dictionary(rules, open_queries=False):
    """Every column of both tables: name, type, unit, description, source."""
    rows = []
    tables = (
        ("long", long_columns(rules, open_queries)),
        ("wide", wide_columns(rules, ["<measure>"], open_queries)),
    )
    for table, columns in tables:
        for name, kind, unit, description, source in columns:
            rows.append(
                {
                    "table": table,
                    "name": name,
                    "type": kind,
                    "unit": unit,
                    "description": str(description),
                    "source": source,
                }
            )
    return rows


def _query_counts(course, open_queries):
    """A function giving the open_queries cell of an event (an empty list when not asked for)."""
    if not open_queries:
        return lambda event, pk: []
    counts = queries.pending_by_event(course.patient_id)
    return lambda event, pk: [counts[event].get(pk, 0)]


class Row(list):
    """A row of the long table whose first cells (the patient's and the event's) are ``head``, one list
    shared by every row of that event: the CSV writer formats them once per event, not once per row."""

    __slots__ = ("head",)


def long_rows(cohort, rules, open_queries=False):
    """One row per patient × visit × measure (and per procedure × dose); changes from the read model."""
    for course in iter_courses(cohort):
        seen = SeenCourse(course, rules)
        patient = seen.patient_values()
        count = _query_counts(course, open_queries)
        for procedure in course.procedures:
            dose = seen.procedure(procedure)
            event = ["procedure", "", None, dose.get("day"), dose.get("months_since_procedure"), dose.get("age_months")]
            head = patient + event
            for name, value in (("TNC/kg", dose.get("tnc_per_kg")), ("CD34+/kg", dose.get("cd34_per_kg"))):
                if value is not None:
                    row = Row(head)
                    row += (name, "dose", value, "cells/kg", *DOSE_EMPTY_CELLS, *count("procedure", procedure.id))
                    row.head = head
                    yield row
        baseline = course.baseline
        baselines = {name: course.baseline_value(name) for name in (baseline.measures if baseline else ())}
        change = course.change
        for visit in course.visits:
            head = patient + ["visit", *seen.visit(visit)]
            scan = seen.scan_values(visit)
            queries_cells = count("visit", visit.id)
            for name, measure in visit.measures.items():
                kind = measure.kind
                difference = change(visit, name)
                row = Row(head)
                row += (
                    name,
                    kind,
                    measure.value,
                    measure.unit,
                    baselines.get(name),
                    difference.change,
                    difference.percent,
                    difference.error,
                    difference.beyond_error,
                    *(NO_SCAN_CELLS if kind == "score" else scan),
                    measure.label or None,
                    measure.missing or None,
                    *queries_cells,
                )
                row.head = head
                yield row


# The cells of a dose row after its unit, and those of a score's scan.
DOSE_EMPTY_CELLS = (None,) * 9
NO_SCAN_CELLS = (None, None)


def wide_rows(cohort, rules, measures, open_queries=False):
    """One row per patient × visit, three columns (value, change, beyond error) per measure."""
    for course in iter_courses(cohort):
        seen = SeenCourse(course, rules)
        patient = seen.patient_values()
        count = _query_counts(course, open_queries)
        for visit in course.visits:
            row = patient + seen.visit(visit)
            for name in measures:
                measure = visit.measures.get(name)
                change = course.change(visit, name)
                row += [measure.value if measure else None, change.change, change.beyond_error]
            yield row + seen.scan_values(visit) + [missing_codes(visit, measures)] + count("visit", visit.id)


def missing_codes(visit, measures):
    """The scores of ``visit`` recorded as missing, as "CFCS=refused; GMFM-88=not-done" (None if none)."""
    codes = [f"{name}={visit.measures[name].missing}" for name in measures if name in visit.measures]
    codes = [code for code in codes if not code.endswith("=")]
    return "; ".join(codes) or None


class Counter:
    """Counts rows passing through, so the export log can record how many were sent."""

    def __init__(self, rows):
        self.rows, self.count = rows, 0

    def __iter__(self):
        for row in self.rows:
            self.count += 1
            yield row


BOOLEAN_TEXT = {True: "true", False: "false", None: ""}


def stream_csv(columns, rows):
    """CSV with booleans as true/false and missing values empty (the csv module writes None as "").

    The cells of a row's shared ``head`` (see :class:`Row`) are formatted once for all the rows that
    share it; the bytes are those of formatting every row whole (a cell's quoting does not depend on
    its neighbours)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    write, writerow = buffer.write, writer.writerow
    writerow([column[0] for column in columns])
    booleans = [index for index, column in enumerate(columns) if column[1] == "boolean"]
    head_text = _HeadText(booleans)
    head, width, prefix, tail_booleans = None, 0, "", booleans
    pending = 0
    for row in rows:
        # A tail of one empty cell is written differently ("") from a last cell: such rows go whole.
        if row.__class__ is Row and len(row) - len(row.head) >= 2:
            if row.head is not head:
                head, width = row.head, len(row.head)
                prefix = head_text(head)
                tail_booleans = [index - width for index in booleans if index >= width]
            write(prefix)
            row = row[width:]
            for index in tail_booleans:
                row[index] = BOOLEAN_TEXT[row[index]]
        else:
            for index in booleans:
                row[index] = BOOLEAN_TEXT[row[index]]
        writerow(row)
        pending += 1
        if pending == BATCH_ROWS:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue().encode()


class _HeadText:
    """The CSV text of a row's first cells ``head``, ending with the comma before the next cell; one
    writer for every head of an export."""

    def __init__(self, booleans):
        self.booleans = booleans
        self.line = io.StringIO()
        self.writer = csv.writer(self.line, lineterminator="\n")

    def __call__(self, head):
        cells = [*head, None]  # "...,\n"
        for index in self.booleans:
            if index < len(head):
                cells[index] = BOOLEAN_TEXT[cells[index]]
        line = self.line
        line.seek(0)
        line.truncate()
        self.writer.writerow(cells)
        return line.getvalue()[:-1]


def stream_json(columns, rows):
    names = [column[0] for column in columns]
    encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False)
    parts, first = ["["], True
    for row in rows:
        parts.append(("\n" if first else ",\n") + encoder.encode(dict(zip(names, row))))
        first = False
        if len(parts) >= BATCH_ROWS:
            yield "".join(parts).encode()
            parts = []
    parts.append("\n]\n")
    yield "".join(parts).encode()


def stream_xlsx(columns, rows, sheet="cohort"):
    """XLSX through openpyxl's write-only mode into a temporary file, then sent in chunks."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(sheet)
    worksheet.append([column[0] for column in columns])
    for row in rows:
        worksheet.append(list(row))
    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    try:
        workbook.save(path)
        with open(path, "rb") as saved:
            while chunk := saved.read(1024 * 1024):
                yield chunk
    finally:
        os.unlink(path)


WRITERS = {
    "csv": (stream_csv, "text/csv; charset=utf-8"),
    "json": (stream_json, "application/json"),
    "xlsx": (stream_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}
