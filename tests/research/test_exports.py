"""The de-identified cohort exports: numbers checked by hand, table shapes, the dictionary,
filters, refusals, the export log, who may export, flat memory, and the linking statistics
checked against scipy."""

import datetime as dt
import gc
import html
import itertools
import json
import re
import tracemalloc
from decimal import Decimal

import numpy as np
import pytest
import scipy.stats
from django.http import StreamingHttpResponse
from rest_framework.test import APIClient

from imaging.models import DiffusionResult, Scan
from registry.models import (
    BoneMarrowHarvest,
    CellProduct,
    Instrument,
    IntrathecalProcedure,
    Patient,
    Score,
    Site,
    Visit,
)
from research.cohort import CHUNK_PATIENTS
from research.models import ExportLog

LONG_COLUMNS = [
    "study_id",
    "site",
    "sex",
    "cp_subtype",
    "etiology",
    "gmfcs_level_enrolment",
    "gestational_age_weeks",
    "epilepsy",
    "age_at_procedure_months",
    "tnc_per_kg",
    "cd34_per_kg",
    "event",
    "visit_kind",
    "timepoint",
    "event_day",
    "months_since_procedure",
    "age_months",
    "measure",
    "measure_type",
    "value",
    "unit",
    "baseline_value",
    "change",
    "percent_change",
    "change_error",
    "beyond_error",
    "scan_usable",
    "scan_qc_passed",
    "value_label",
    "missing_code",
]
MEASURES = ["GMFM-88", "FA white matter", "FA whole brain", "MD whole brain"]


# ---- a tiny cohort, computed by hand ---------------------------------------------------------


@pytest.fixture
def tiny(cohort):
    """CP-501: born 2018-01-10, GMFCS III, diplegia; 3.2e9 TNC and 2.5e7 CD34+ for 16 kg on
    2024-02-02; baseline 2024-01-20 (GMFM-88 40, FA 0.40), follow-up 2024-08-02 (46, FA 0.45).
    CP-502: born 2019-06-15, GMFCS II, quadriplegia; 4.8e9 TNC (no CD34+ count) for 12 kg on
    2024-03-01; baseline 2024-02-20 (30), follow-ups 2024-06-01 (33) and 2025-03-01 (36)."""
    a = cohort.simple(
        "CP-501", date_of_birth=dt.date(2018, 1, 10), gmfcs_level=3, cp_subtype="spastic-diplegia", etiology="hie"
    )
    b = cohort.course(
        "CP-502",
        [
            (dt.date(2024, 2, 20), "baseline", {"GMFM-88": 30}, None),
            (dt.date(2024, 6, 1), "follow-up", {"GMFM-88": 33}, None),
            (dt.date(2025, 3, 1), "follow-up", {"GMFM-88": 36}, None),
        ],
        procedure_date=dt.date(2024, 3, 1),
        tnc=4_800_000_000,
        cd34=None,
        weight_kg=Decimal("12"),
        date_of_birth=dt.date(2019, 6, 15),
        gmfcs_level=2,
        cp_subtype="spastic-quadriplegia",
        etiology="prematurity",
        sex="M",
    )
    return a, b


def get_rows(client, exports, query="table=long&format=csv"):
    response = client.get(f"{exports.cohort}?{query}")
    assert response.status_code == 200, response.content[:500]
    fmt = re.search(r"format=(\w+)", query).group(1) if "format=" in query else "csv"
    return exports.read(response, fmt)


def one(rows, **match):
    found = [row for row in rows if all(str(row[key]) == str(value) for key, value in match.items())]
    assert len(found) == 1, (match, found)
    return found[0]


def test_long_table_numbers_match_the_hand_computation(tiny, researcher, exports):
    rows = get_rows(researcher, exports)

    assert list(rows[0]) == LONG_COLUMNS
    # CP-501: 2 dose rows + 2 visits x (GMFM-88, FA WM, FA whole brain, MD); CP-502: 1 dose row + 3 visits x GMFM-88.
    assert len([r for r in rows if r["study_id"] == "CP-501"]) == 2 + 2 * 4
    assert len([r for r in rows if r["study_id"] == "CP-502"]) == 1 + 3
    assert len({(r["study_id"], r["event"], r["event_day"], r["measure"]) for r in rows}) == len(rows)

    for row in (r for r in rows if r["study_id"] == "CP-501"):
        assert float(row["tnc_per_kg"]) == pytest.approx(2.0e8)  # 3.2e9 / 16
        assert float(row["cd34_per_kg"]) == pytest.approx(1.5625e6)  # 2.5e7 / 16
        assert row["age_at_procedure_months"] == "72"  # 2018-01-10 → 2024-02-02
        assert (row["sex"], row["cp_subtype"], row["gmfcs_level_enrolment"]) == ("F", "spastic-diplegia", "3")

    dose = one(rows, study_id="CP-501", measure="TNC/kg")
    assert (dose["event"], dose["event_day"], dose["months_since_procedure"], dose["age_months"]) == (
        "procedure",
        "0",
        "0.0",
        "72",
    )
    assert dose["measure_type"] == "dose"

    base = one(rows, study_id="CP-501", measure="GMFM-88", visit_kind="baseline")
    # 2024-01-20 is 13 days before the procedure: -13 / 30.4375 = -0.43 → -0.4 months; aged 72 months.
    assert (base["event_day"], base["months_since_procedure"], base["age_months"]) == ("-13", "-0.4", "72")
    assert (float(base["baseline_value"]), base["change"], base["percent_change"]) == (40.0, "", "")
    assert (base["measure_type"], base["scan_usable"]) == ("score", "")

    follow = one(rows, study_id="CP-501", measure="GMFM-88", visit_kind="follow-up")
    # 2024-02-02 → 2024-08-02 is 182 days: 182 / 30.4375 = 5.98 → 6.0 months; 2018-01-10 → 2024-08-02: 78 months.
    assert (follow["event_day"], follow["months_since_procedure"], follow["age_months"]) == ("182", "6.0", "78")
    assert float(follow["baseline_value"]) == 40.0
    assert float(follow["change"]) == 6.0 and float(follow["percent_change"]) == 15.0  # 46 - 40; 100 × 6 / 40
    assert (base["timepoint"], follow["timepoint"]) == ("", "6m")  # 2024-08-02: 6 calendar months after the procedure

    fa = one(rows, study_id="CP-501", measure="FA white matter", visit_kind="follow-up")
    assert float(fa["baseline_value"]) == pytest.approx(0.40)
    assert float(fa["change"]) == pytest.approx(0.05) and float(fa["percent_change"]) == pytest.approx(12.5)
    assert (fa["measure_type"], fa["scan_usable"], fa["scan_qc_passed"]) == ("fa", "", "true")
    assert one(rows, study_id="CP-501", measure="MD whole brain", visit_kind="baseline")["measure_type"] == "md"

    # CP-502: 4.8e9 / 12 kg = 4.0e8, no CD34+ count (empty, and no CD34+ dose row).
    dose_b = one(rows, study_id="CP-502", measure="TNC/kg")
    assert float(dose_b["tnc_per_kg"]) == pytest.approx(4.0e8) and dose_b["cd34_per_kg"] == ""
    assert dose_b["age_at_procedure_months"] == "56"  # 2019-06-15 → 2024-03-01
    late = one(rows, study_id="CP-502", measure="GMFM-88", event_day="365")  # 2024-03-01 → 2025-03-01
    assert (late["months_since_procedure"], late["age_months"], late["timepoint"]) == ("12.0", "68", "12m")
    assert float(late["change"]) == 6.0 and float(late["percent_change"]) == pytest.approx(20.0)
    early = one(rows, study_id="CP-502", measure="GMFM-88", event_day="92")
    assert (early["months_since_procedure"], float(early["change"]), float(early["percent_change"])) == (
        "3.0",
        3.0,
        10.0,
    )


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_long_table_value_column_holds_the_value_and_unit_the_unit(tiny, researcher, exports, fmt):
    rows = get_rows(researcher, exports, f"table=long&format={fmt}")

    def value_unit(**match):
        row = one(rows, study_id="CP-501", **match)
        return str(row["value"]), str(row["unit"])

    assert value_unit(measure="TNC/kg") == ("200000000.0", "cells/kg")
    assert value_unit(measure="CD34+/kg") == ("1562500.0", "cells/kg")
    assert value_unit(measure="GMFM-88", visit_kind="baseline") == ("40.0", "%")
    assert value_unit(measure="GMFM-88", visit_kind="follow-up") == ("46.0", "%")
    assert value_unit(measure="FA white matter", visit_kind="follow-up") == ("0.45", "")
    assert value_unit(measure="MD whole brain", visit_kind="baseline") == ("0.0008", "mm²/s")


def test_json_and_xlsx_carry_the_same_rows_with_types(tiny, researcher, exports):
    csv_rows = get_rows(researcher, exports, "table=long&format=csv")
    json_rows = get_rows(researcher, exports, "table=long&format=json")
    xlsx_rows = get_rows(researcher, exports, "table=long&format=xlsx")
    assert len(csv_rows) == len(json_rows) == len(xlsx_rows) == 14
    follow = one(json_rows, study_id="CP-501", measure="GMFM-88", visit_kind="follow-up")
    assert follow["event_day"] == 182 and follow["months_since_procedure"] == 6.0 and follow["change"] == 6.0
    assert follow["percent_change"] == 15.0 and follow["gmfcs_level_enrolment"] == 3 and follow["epilepsy"] is False
    assert follow["tnc_per_kg"] == 2.0e8 and follow["scan_usable"] is None
    cell = one(xlsx_rows, study_id="CP-501", measure="GMFM-88", visit_kind="follow-up")
    assert cell["event_day"] == 182 and cell["change"] == 6 and cell["percent_change"] == 15


def test_wide_table_has_one_row_per_patient_and_visit(tiny, researcher, exports):
    rows = get_rows(researcher, exports, "table=wide&format=csv")

    assert len(rows) == 2 + 3
    header = list(rows[0])
    assert header[:11] == LONG_COLUMNS[:11]
    assert header[11:16] == ["visit_kind", "timepoint", "event_day", "months_since_procedure", "age_months"]
    assert header[16:-3] == [
        name for measure in MEASURES for name in (measure, f"{measure} change", f"{measure} beyond error")
    ]
    assert header[-3:] == ["scan_usable", "scan_qc_passed", "missing_codes"]
    assert len({(r["study_id"], r["event_day"]) for r in rows}) == 5

    base = one(rows, study_id="CP-501", visit_kind="baseline")
    assert (base["GMFM-88"], base["GMFM-88 change"], base["event_day"]) == ("40.0", "", "-13")
    follow = one(rows, study_id="CP-501", visit_kind="follow-up")
    assert (float(follow["GMFM-88"]), float(follow["GMFM-88 change"])) == (46.0, 6.0)
    assert float(follow["FA white matter change"]) == pytest.approx(0.05)
    assert (follow["months_since_procedure"], follow["age_months"], follow["scan_qc_passed"]) == ("6.0", "78", "true")
    late = one(rows, study_id="CP-502", event_day="365")
    assert (float(late["GMFM-88 change"]), late["FA white matter"], late["scan_usable"]) == (6.0, "", "")


@pytest.mark.parametrize(
    "dates,date_column,date_type", [("relative", "event_day", "integer"), ("shifted", "event_date_shifted", "date")]
)
def test_the_dictionary_describes_every_column_of_both_tables(tiny, researcher, exports, dates, date_column, date_type):
    response = researcher.get(f"{exports.dictionary}?format=json&dates={dates}")
    assert response.status_code == 200
    entries = json.loads(exports.body(response))
    assert all(entry["type"] and entry["description"] for entry in entries)
    described = {
        table: {entry["name"]: entry for entry in entries if entry["table"] == table} for table in ("long", "wide")
    }
    assert described["long"][date_column]["type"] == date_type

    long_header = list(get_rows(researcher, exports, f"table=long&format=csv&dates={dates}")[0])
    assert set(long_header) <= set(described["long"]), set(long_header) - set(described["long"])
    assert set(described["long"]) <= set(long_header)  # and nothing else

    patterns = [
        re.compile("^" + re.escape(name).replace(re.escape("<measure>"), ".+") + "$") for name in described["wide"]
    ]
    wide_header = list(get_rows(researcher, exports, f"table=wide&format=json&dates={dates}")[0])
    undescribed = [column for column in wide_header if not any(p.match(column) for p in patterns)]
    assert undescribed == []
    assert {"<measure>", "<measure> change", "<measure> beyond error", date_column} <= set(described["wide"])

    csv_entries = exports.csv(exports.body(researcher.get(f"{exports.dictionary}?format=csv&dates={dates}")))
    assert [row["name"] for row in csv_entries] == [entry["name"] for entry in entries]


# ---- filters -----------------------------------------------------------------------------------


def studies(rows):
    return sorted({row["study_id"] for row in rows})


@pytest.mark.parametrize(
    "query,expected",
    [
        ("", ["CP-501", "CP-502"]),
        ("subtype=spastic-quadriplegia", ["CP-502"]),
        ("subtype=spastic-diplegia&subtype=spastic-quadriplegia", ["CP-501", "CP-502"]),
        ("etiology=hie", ["CP-501"]),
        ("gmfcs=3", ["CP-501"]),
        ("gmfcs=2&gmfcs=3", ["CP-501", "CP-502"]),
        ("gmfcs=5", []),
        ("tnc_min=3&tnc_max=5", ["CP-502"]),  # ×10⁸/kg: 2.0 and 4.0
        ("tnc_max=2.5", ["CP-501"]),
        ("tnc_min=2&tnc_max=2", ["CP-501"]),  # bounds included
        ("cd34_min=1", ["CP-501"]),  # 1.5625 ×10⁶/kg; CP-502 has no count
        ("cd34_max=1", []),
    ],
)
def test_patient_filters(tiny, researcher, exports, query, expected):
    rows = get_rows(researcher, exports, f"table=long&format=csv&{query}")
    assert studies(rows) == expected
    page = researcher.get(f"/research/?{query}")
    assert page.status_code == 200 and f'<span class="n">n = {len(expected)}</span>'.encode() in page.content


@pytest.mark.parametrize(
    "query,days",
    [
        ("months_max=6", {"CP-501": {"-13", "182"}, "CP-502": {"-10", "92"}}),
        ("months_min=6.5", {"CP-501": {"-13"}, "CP-502": {"-10", "365"}}),
        ("months_min=3&months_max=6", {"CP-501": {"-13", "182"}, "CP-502": {"-10", "92"}}),
        ("months_min=3.1&months_max=11", {"CP-501": {"-13", "182"}, "CP-502": {"-10"}}),
        ("months_min=6.1", {"CP-501": {"-13"}, "CP-502": {"-10", "365"}}),
    ],
)
def test_follow_up_window_keeps_baselines_and_follow_ups_inside_it(tiny, researcher, exports, query, days):
    rows = [r for r in get_rows(researcher, exports, f"table=long&format=csv&{query}") if r["event"] == "visit"]
    assert {study: {r["event_day"] for r in rows if r["study_id"] == study} for study in days} == days
    wide = get_rows(researcher, exports, f"table=wide&format=csv&{query}")
    assert len(wide) == sum(len(d) for d in days.values())


def test_usable_only_keeps_scans_a_radiologist_marked_usable(cohort, researcher, exports):
    reviewed = cohort.simple("CP-601")
    unreviewed = cohort.simple("CP-602")
    Scan.objects.filter(visit__patient=reviewed.patient).update(usable=True)
    # CP-602's follow-up gets a newer scan, marked not usable: it never counts.
    rejected = exports.add_scan_result(unreviewed.visits[1].visit, 0.9, usable=False, reason="motion")

    def fa_values(query):
        wide = get_rows(researcher, exports, f"table=wide&format=json&{query}")
        long = get_rows(researcher, exports, f"table=long&format=json&{query}")
        with_fa = {(r["study_id"], r["visit_kind"]) for r in long if r["measure"] == "FA white matter"}
        values = {
            (r["study_id"], r["visit_kind"]): (r["FA white matter"], r["scan_usable"])
            for r in wide
            if r["FA white matter"] is not None
        }
        assert set(values) == with_fa
        return values

    assert fa_values("") == {
        ("CP-601", "baseline"): (0.40, True),
        ("CP-601", "follow-up"): (0.45, True),
        ("CP-602", "baseline"): (0.40, None),
        ("CP-602", "follow-up"): (0.45, None),
    }
    assert fa_values("usable_only=on") == {("CP-601", "baseline"): (0.40, True), ("CP-601", "follow-up"): (0.45, True)}
    # Scores stay: usable_only filters scans, not patients.
    scores = get_rows(researcher, exports, "table=long&format=csv&usable_only=on")
    assert studies(scores) == ["CP-601", "CP-602"]
    assert Scan.objects.get(pk=rejected.pk).usable is False
    page = researcher.get("/research/?usable_only=on")
    assert b'<span class="n">n = 2</span>' in page.content


@pytest.mark.parametrize(
    "query,field",
    [
        ("tnc_min=abc", "tnc_min"),
        ("tnc_min=5&tnc_max=1", "tnc_max"),
        ("cd34_min=3&cd34_max=2", "cd34_max"),
        ("months_min=12&months_max=6", "months_max"),
        ("months_min=-1", "months_min"),
        ("gmfcs=9", "gmfcs"),
        ("subtype=athetoid", "subtype"),
        ("format=pdf", "format"),
        ("table=tall", "table"),
        ("dates=exact", "dates"),
    ],
)
def test_bad_input_is_refused_with_its_field_and_nothing_is_exported(tiny, researcher, exports, query, field):
    response = researcher.get(f"{exports.cohort}?{query}")

    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert field in json.loads(response.content)
    assert not ExportLog.objects.filter(completed=True).exists()
    assert b"CP-501" not in response.content


@pytest.mark.parametrize("query,field", [("format=xlsx", "format"), ("format=pdf", "format"), ("dates=exact", "dates")])
def test_bad_dictionary_input_is_refused(researcher, exports, query, field):
    response = researcher.get(f"{exports.dictionary}?{query}")
    assert response.status_code == 400, (response.status_code, response.content[:300])
    assert field in json.loads(response.content)
    assert not ExportLog.objects.filter(completed=True).exists()


def test_bad_filter_on_the_page_is_shown_with_its_field(tiny, researcher):
    response = researcher.get("/research/?tnc_min=abc")
    assert response.status_code == 400
    assert b'class="field invalid"' in response.content and b'name="tnc_min"' in response.content


# ---- the export log and who may export --------------------------------------------------------


def test_every_export_is_logged(tiny, researcher, exports):
    rows = get_rows(researcher, exports, "table=long&format=csv&gmfcs=3&tnc_min=1.5")
    wide = get_rows(researcher, exports, "table=wide&format=json&dates=shifted")
    exports.body(researcher.get(f"{exports.dictionary}?format=csv"))
    exports.body(researcher.get(exports.bids))
    researcher.get("/research/plots/fa-vs-score.png?download=1&gmfcs=3")

    logs = {log.kind: log for log in ExportLog.objects.all()}
    assert set(logs) == {"long", "wide", "dictionary", "bids", "plot:fa-vs-score"}
    assert all(log.user == researcher.user and log.completed for log in logs.values())
    long = logs["long"]
    assert (long.file_format, long.date_mode, long.rows) == ("csv", "relative", len(rows))
    assert long.filters == {"gmfcs": [3], "tnc_min": pytest.approx(1.5e8)}  # logged in cells/kg
    assert (logs["wide"].file_format, logs["wide"].date_mode, logs["wide"].rows) == ("json", "shifted", len(wide))
    assert logs["wide"].filters == {}
    assert logs["dictionary"].file_format == "csv" and logs["dictionary"].rows > 30
    assert logs["bids"].file_format == "zip" and logs["bids"].rows is not None
    assert (logs["plot:fa-vs-score"].file_format, logs["plot:fa-vs-score"].rows) == ("png", 1)


def test_an_export_not_read_to_the_end_is_not_logged_as_completed(tiny, researcher, exports):
    response = researcher.get(f"{exports.cohort}?table=long&format=csv")
    assert response.status_code == 200
    log = ExportLog.objects.get()
    assert (log.kind, log.completed, log.rows) == ("long", False, None)
    exports.body(response)
    log.refresh_from_db()
    assert log.completed and log.rows == 14


@pytest.mark.parametrize(
    "role,code", [("registry-admin", 200), ("research", 403), ("hematology", 403), ("radiology", 403)]
)
def test_the_export_log_page_is_for_registry_admins(tiny, researcher, exports, as_role, role, code):
    get_rows(researcher, exports)
    response = as_role(role).get("/research/exports/")
    assert response.status_code == code
    if code == 200:
        assert researcher.user.username.encode() in response.content and b"<td>long</td>" in response.content
        assert b"<td>csv</td>" in response.content


def test_anonymous_is_sent_to_sign_in_for_the_export_log(client):
    assert client.get("/research/exports/").status_code == 302


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/export/cohort/?format=csv",
        "/api/v1/export/cohort/?format=xlsx&table=wide",
        "/api/v1/export/dictionary/?format=json",
        "/api/v1/export/bids/",
    ],
)
@pytest.mark.parametrize("role", ["hematology", "radiology"])
def test_clinical_roles_cannot_export(tiny, as_role, url, role):
    response = as_role(role).get(url)
    assert response.status_code == 403
    assert b"CP-501" not in response.content
    assert not ExportLog.objects.exists()


@pytest.mark.parametrize(
    "url", ["/api/v1/export/cohort/?format=csv", "/api/v1/export/dictionary/?format=json", "/api/v1/export/bids/"]
)
def test_anonymous_cannot_export(tiny, url):
    response = APIClient().get(url)
    assert response.status_code == 401
    assert b"CP-501" not in response.content
    assert not ExportLog.objects.exists()


def test_registry_admin_may_export(tiny, as_role, exports):
    rows = get_rows(as_role("registry-admin"), exports)
    assert studies(rows) == ["CP-501", "CP-502"]


# ---- memory stays flat as rows grow ------------------------------------------------------------

BULK_VISITS = [(dt.date(2024, 1, 20), "baseline"), (dt.date(2024, 8, 2), "follow-up")]
ROWS_PER_PATIENT = 2 + len(BULK_VISITS) * (2 + 3)  # 2 doses; per visit GMFM-88, GMFCS, FA WM, FA whole, MD


def bulk_cohort(count, start):
    """`count` patients written with bulk_create (no services, no history): one procedure,
    baseline and follow-up with GMFM-88, GMFCS and a processed scan each."""
    gmfm, gmfcs = Instrument.objects.get(code="GMFM-88"), Instrument.objects.get(code="GMFCS")
    site = Site.default()
    patients = Patient.objects.bulk_create(
        [
            Patient(
                site=site,
                study_id=f"BK-{start + i:06d}",
                given_name="Bulk",
                family_name="Patient",
                mrn=f"BK-{start + i}",
                date_of_birth=dt.date(2018, 1, 10),
                sex="FM"[i % 2],
                cp_subtype="spastic-diplegia",
                etiology="hie",
                gmfcs_level=1 + i % 5,
            )
            for i in range(count)
        ]
    )
    harvests = BoneMarrowHarvest.objects.bulk_create(
        [BoneMarrowHarvest(patient=p, date=dt.date(2024, 2, 1), volume_ml=Decimal("150")) for p in patients]
    )
    products = CellProduct.objects.bulk_create(
        [
            CellProduct(
                harvest=h,
                tnc_count=3_000_000_000 + i * 1_000_000,
                cd34_count=25_000_000,
                viability_percent=Decimal("95"),
            )
            for i, h in enumerate(harvests)
        ]
    )
    IntrathecalProcedure.objects.bulk_create(
        [
            IntrathecalProcedure(
                patient=p, product=prod, date=dt.date(2024, 2, 2), weight_kg=Decimal("16"), volume_ml=Decimal("10")
            )
            for p, prod in zip(patients, products)
        ]
    )
    visits = Visit.objects.bulk_create(
        [Visit(patient=p, date=day, kind=kind) for p in patients for day, kind in BULK_VISITS]
    )
    Score.objects.bulk_create(
        [
            Score(visit=v, instrument=instrument, value=Decimal(value))
            for i, v in enumerate(visits)
            for instrument, value in ((gmfm, 40 + i % 7), (gmfcs, 1 + i % 5))
        ]
    )
    scans = Scan.objects.bulk_create(
        [
            Scan(
                visit=v,
                acquisition_date=v.date,
                dwi="bulk/dwi.nii.gz",
                bval="bulk/dwi.bval",
                bvec="bulk/dwi.bvec",
                dwi_sha256="0" * 64,
                bval_sha256="0" * 64,
                bvec_sha256="0" * 64,
                fingerprint=f"bulk-{v.pk}",
                status="done",
            )
            for v in visits
        ]
    )
    DiffusionResult.objects.bulk_create(
        [
            DiffusionResult(
                scan=s,
                is_current=True,
                folder="bulk",
                fa_mean=0.3 + (i % 10) / 100,
                fa_wm_mean=0.4 + (i % 10) / 100,
                md_mean=0.0008,
                qc_passed=True,
            )
            for i, s in enumerate(scans)
        ]
    )
    return count * ROWS_PER_PATIENT


def traced_export(client, url):
    """(rows, chunks, peak bytes traced while the streamed export is produced and read chunk by chunk)."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        response = client.get(url)
        assert isinstance(response, StreamingHttpResponse)
        rows, chunks = -1, 0  # the header line is not a row
        for chunk in response.streaming_content:
            rows += chunk.count(b"\n")
            chunks += 1  # reading to the end closes the response (the test client's wrapper)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return rows, chunks, peak


@pytest.mark.parametrize("table,rows_per_patient", [("long", ROWS_PER_PATIENT), ("wide", len(BULK_VISITS))])
def test_csv_memory_stays_flat_as_rows_grow(researcher, table, rows_per_patient):
    url = f"/api/v1/export/cohort/?table={table}&format=csv"
    # Memory is bounded by one chunk of patients (research.cohort.CHUNK_PATIENTS); both sizes span
    # several chunks, so a growth with the row count would show.
    n_patients = 2 * CHUNK_PATIENTS + 200
    bulk_cohort(n_patients, 0)
    traced_export(researcher, url)  # warm-up: imports, caches
    rows_n, chunks_n, peak_n = traced_export(researcher, url)
    bulk_cohort(3 * n_patients, n_patients)
    rows_4n, chunks_4n, peak_4n = traced_export(researcher, url)

    assert (rows_n, rows_4n) == (n_patients * rows_per_patient, 4 * n_patients * rows_per_patient)
    assert chunks_4n > chunks_n >= 1
    assert peak_4n < 1.5 * peak_n, f"peak {peak_n / 1e6:.1f} MB for {rows_n} rows, {peak_4n / 1e6:.1f} MB for {rows_4n}"
    log = ExportLog.objects.order_by("-pk").first()
    assert log.completed and log.rows == rows_4n


# ---- linking statistics against scipy ----------------------------------------------------------

# study id → (baseline GMFM-88, follow-up GMFM-88, baseline FA, follow-up FA, TNC in 1e8 cells for 16 kg)
LINKED = {
    "CP-701": (40, 46, 0.400, 0.452, 32),
    "CP-702": (35, 37, 0.380, 0.391, 48),
    "CP-703": (52, 51, 0.455, 0.447, 24),
    "CP-704": (28, 36, 0.360, 0.423, 64),
    "CP-705": (44, 47, 0.410, 0.436, 40),
    "CP-706": (31, 35, 0.372, 0.391, 56),
}


def build_linked(cohort, study_ids):
    for study_id in study_ids:
        b_score, f_score, b_fa, f_fa, tnc = LINKED[study_id]
        cohort.simple(
            study_id,
            baseline_score=b_score,
            follow_score=f_score,
            baseline_fa=b_fa,
            follow_fa=f_fa,
            tnc=tnc * 100_000_000,
        )


def exact_spearman_p(x, y):
    """Two-sided exact permutation p of Spearman's rho: 2 × min(P(ρ* ≤ ρ), P(ρ* ≥ ρ)) over all pairings."""
    rho = scipy.stats.spearmanr(x, y).statistic
    every = [scipy.stats.spearmanr(x, perm).statistic for perm in itertools.permutations(y)]
    low = np.mean([r <= rho + 1e-12 for r in every])
    high = np.mean([r >= rho - 1e-12 for r in every])
    return min(1.0, 2 * min(low, high))


def test_linking_statistics_match_scipy(cohort, researcher):
    build_linked(cohort, LINKED)
    values = [LINKED[s] for s in sorted(LINKED)]
    delta_fa = [f_fa - b_fa for _b, _f, b_fa, f_fa, _t in values]
    delta_score = [f - b for b, f, _bf, _ff, _t in values]
    doses = [tnc * 1e8 / 16 for *_rest, tnc in values]

    response = researcher.get("/research/linking/?instrument=GMFM-88&fa=FA white matter")
    assert response.status_code == 200
    linked = response.context["linked"]
    assert [pair["study_id"] for pair in linked["pairs"]] == sorted(LINKED)
    assert [pair["delta_fa"] for pair in linked["pairs"]] == pytest.approx(delta_fa)
    assert [pair["delta_score"] for pair in linked["pairs"]] == pytest.approx(delta_score)

    rho = scipy.stats.spearmanr(delta_fa, delta_score).statistic
    assert linked["correlation"]["n"] == 6 and linked["correlation"]["rho"] == pytest.approx(rho)
    assert linked["correlation"]["p"] == pytest.approx(exact_spearman_p(delta_fa, delta_score), abs=1e-9)
    dose_rho = scipy.stats.spearmanr(doses, delta_fa).statistic
    assert linked["dose_fa"]["rho"] == pytest.approx(dose_rho)
    assert linked["dose_score"]["rho"] == pytest.approx(scipy.stats.spearmanr(doses, delta_score).statistic)

    before = [b_fa for _b, _f, b_fa, _ff, _t in values]
    after = [f_fa for _b, _f, _bf, f_fa, _t in values]
    wilcoxon = scipy.stats.wilcoxon(after, before)
    assert linked["fa_change"]["n"] == 6
    assert linked["fa_change"]["statistic"] == pytest.approx(wilcoxon.statistic)
    assert linked["fa_change"]["p"] == pytest.approx(wilcoxon.pvalue)
    assert linked["fa_change"]["median_difference"] == pytest.approx(float(np.median(np.subtract(after, before))))

    page = response.content.decode()
    assert '<span class="n">n = 6</span>' in page
    shown = html.unescape(re.sub(r"<[^>]+>", "", page))
    assert f"ρ = {rho:.2f} · n = 6 · p = {linked['correlation']['p']:.3f} (exact permutation)" in shown
    assert f"W = {wilcoxon.statistic:g} · p = {wilcoxon.pvalue:.3f} · n = 6 (6 non-zero differences)" in shown


def test_with_two_patients_no_p_value_is_shown(cohort, researcher):
    build_linked(cohort, ["CP-701", "CP-704"])
    response = researcher.get("/research/linking/?instrument=GMFM-88&fa=FA white matter")
    assert response.status_code == 200
    linked = response.context["linked"]
    for key in ("correlation", "fa_change", "dose_fa", "dose_score"):
        assert linked[key]["n"] == 2 and linked[key]["p"] is None
    results = re.search(r'<dl class="results">(.*?)</dl>', response.content.decode(), re.S).group(1)
    assert ", p = " not in results
    assert results.count("n &lt; 3: no p-value") == 4
    assert '<span class="n">n = 2</span>' in response.content.decode()
