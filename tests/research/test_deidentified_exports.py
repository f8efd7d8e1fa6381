"""Research exports are de-identified, byte for byte, in every table, format and date mode.

A cohort of three patients is planted with a unique marker in every identifier (given name,
family name, record number), in the assessor of every score, in the reason of scan reviews, in
adverse-event terms typed under "Other, specify", in region text typed before the vocabulary, and
in the free-text header fields of the uploaded diffusion series, and with exact dates (birth,
consent, harvest, procedure, adverse-event onset, visits, scan acquisition) found nowhere else.
The scans are processed by the real pipeline and measured with the phantom's label image.

Every export a researcher can download (long and wide tables as CSV, JSON and XLSX with relative
and shifted dates, the dictionary, the BIDS zip) is searched whole: the raw bytes, every member of
a zip (XLSX and BIDS), every gunzipped NIfTI and its header text fields. None may carry a marker or
a real date (ISO, compact 20240206, with slashes, or as an Excel date number). The same search finds
them in what hematology sees, and the values are checked to be in the database, so it can fail.
"""

import datetime as dt
import gzip
import io
import re
import uuid
import zipfile
from decimal import Decimal
from types import SimpleNamespace

import pytest

from imaging import services as imaging_services
from imaging.models import RoiMeasurement, Scan
from registry.deidentify import date_shift_days
from registry.models import Patient, Score, Visit

# Three patients' real dates: every one distinct, none today, none a shifted copy of another
# (the test chooses a de-identification key under which no shifted date lands on a real one).
PATIENT_DATES = [
    {
        "date_of_birth": dt.date(2016, 3, 17),
        "consent_date": dt.date(2022, 5, 23),
        "baseline": dt.date(2022, 6, 8),
        "baseline_scan": dt.date(2022, 6, 10),
        "harvest": dt.date(2022, 6, 27),
        "procedure": dt.date(2022, 6, 29),
        "onset": dt.date(2022, 7, 4),
        "follow_up": dt.date(2022, 12, 13),
        "follow_up_scan": dt.date(2022, 12, 15),
    },
    {
        "date_of_birth": dt.date(2017, 8, 29),
        "consent_date": dt.date(2022, 9, 6),
        "baseline": dt.date(2022, 9, 21),
        "baseline_scan": dt.date(2022, 9, 22),
        "harvest": dt.date(2022, 10, 11),
        "procedure": dt.date(2022, 10, 13),
        "onset": dt.date(2022, 10, 18),
        "follow_up": dt.date(2023, 4, 19),
        "follow_up_scan": dt.date(2023, 4, 20),
    },
    {
        "date_of_birth": dt.date(2018, 11, 5),
        "consent_date": dt.date(2023, 1, 9),
        "baseline": dt.date(2023, 1, 24),
        "baseline_scan": dt.date(2023, 1, 26),
        "harvest": dt.date(2023, 2, 14),
        "procedure": dt.date(2023, 2, 16),
        "onset": dt.date(2023, 2, 21),
        "follow_up": dt.date(2023, 8, 23),
        "follow_up_scan": dt.date(2023, 8, 25),
    },
]
STUDY_IDS = ["CP-301", "CP-302", "CP-303"]
EXCEL_EPOCH = dt.date(1899, 12, 30)

TABLE_EXPORTS = [
    f"table={table}&format={fmt}&dates={dates}"
    for table in ("long", "wide")
    for fmt in ("csv", "json", "xlsx")
    for dates in ("relative", "shifted")
]
DICTIONARY_EXPORTS = [f"format={fmt}&dates={dates}" for fmt in ("json", "csv") for dates in ("relative", "shifted")]


# ---- the planted cohort -----------------------------------------------------------------------


def date_forms(day):
    """The ways a date could be written into a file."""
    return {
        day.isoformat(),
        day.strftime("%Y%m%d"),
        day.strftime("%Y/%m/%d"),
        day.strftime("%d/%m/%Y"),
        day.strftime("%m/%d/%Y"),
        day.strftime("%d.%m.%Y"),
    }


def real_dates():
    return {day for dates in PATIENT_DATES for day in dates.values()}


def choose_key(settings, patients):
    """A de-identification key under which every patient's dates really move (offset >= 1) and
    no shifted date coincides with any real date, so that a real date found in an export is a leak."""
    every_real = {day for dates in PATIENT_DATES for day in dates.values()}
    for attempt in range(1000):
        settings.DEIDENTIFICATION_KEY = f"research-test-key-{attempt}"
        shifts = [date_shift_days(patient.pk) for patient in patients]
        shifted = {
            day - dt.timedelta(days=shift) for dates, shift in zip(PATIENT_DATES, shifts) for day in dates.values()
        }
        if min(shifts) >= 1 and not shifted & every_real:
            return settings.DEIDENTIFICATION_KEY
    raise AssertionError("no key keeps shifted dates apart from the real ones")


@pytest.fixture
def planted(build, make_user, phantoms, tmp_path, settings, exports):
    mark = f"ZQX{uuid.uuid4().hex[:10].upper()}"
    hematology_user = make_user("hematology", "planting-hematologist")
    radiologist = make_user("radiology", "planting-radiologist")
    secrets, patients, scans, visits = {"mark": mark}, [], [], []
    for k, (study_id, dates) in enumerate(zip(STUDY_IDS, PATIENT_DATES)):
        names = {"given_name": f"{mark}GIVEN{k}", "family_name": f"{mark}FAMILY{k}", "mrn": f"{mark}MRN{k}"}
        secrets.update({f"{field}{k}": value for field, value in names.items()})
        secrets[f"assessor{k}"] = f"{mark}ASSESSOR{k}"
        patient = build.patient(
            study_id=study_id,
            date_of_birth=dates["date_of_birth"],
            consent_date=dates["consent_date"],
            gmfcs_level=2 + k,
            sex="FM"[k % 2],
            **names,
        )
        harvest = build.harvest(patient=patient, date=dates["harvest"])
        product = build.product(harvest=harvest, tnc_count=3_200_000_000 + k * 400_000_000)
        procedure = build.procedure(product=product, date=dates["procedure"], weight_kg=Decimal("16"))
        build.adverse_event(procedure=procedure, onset_date=dates["onset"], term="Headache")
        build.adverse_event(
            procedure=procedure, onset_date=dates["onset"], term="Other, specify", term_other=f"{mark}TERMOTHER{k}"
        )
        for kind, phantom, score, level in (
            ("baseline", "low", 40 + k, 2 + k),
            ("follow_up", "high", 46 + 2 * k, 2 + k),
        ):
            visit = build.visit(patient=patient, date=dates[kind], kind=kind.replace("_", "-"))
            visits.append(visit)
            build.score(visit=visit, instrument="GMFM-88", value=Decimal(score), assessor=secrets[f"assessor{k}"])
            build.score(visit=visit, instrument="GMFCS", value=Decimal(level), assessor=secrets[f"assessor{k}"])
            # The uploaded series carries the name and the acquisition time in its header text.
            header = f"{names['given_name']} Time={dates[kind + '_scan']:%Y%m%d}"
            dwi = tmp_path / f"dwi-{k}-{kind}.nii.gz"
            scans.append(
                register_scan(exports, visit, radiologist, phantoms[phantom], dates[kind + "_scan"], header, dwi)
            )
        patients.append(patient)

    # Reviews with reasons: a usable scan with a remark, and an extra scan marked not usable.
    secrets["reason0"], secrets["reason1"] = f"{mark}REASON0", f"{mark}REASON1"
    imaging_services.scan_review(scans[0], radiologist, scans[0].version, True, f"{secrets['reason0']} slight motion")
    extra = register_scan(
        exports,
        visits[3],
        radiologist,
        phantoms["low"],
        PATIENT_DATES[1]["follow_up_scan"],
        f"{mark}EXTRA",
        tmp_path / "dwi-extra.nii.gz",
    )
    imaging_services.scan_review(extra, radiologist, extra.version, False, f"{secrets['reason1']} motion")
    scans.append(Scan.objects.get(pk=extra.pk))

    # Region text typed before regions were a vocabulary, kept for the clinical roles.
    RoiMeasurement.objects.filter(scan=scans[0], region__isnull=True).update(region_text=f"{mark}REGION")
    assert RoiMeasurement.objects.filter(region_text=f"{mark}REGION").exists()

    choose_key(settings, patients)
    return SimpleNamespace(
        mark=mark,
        secrets=secrets,
        patients=patients,
        scans=scans,
        visits=visits,
        hematology=hematology_user,
        radiologist=radiologist,
    )


def register_scan(exports, visit, actor, phantom, acquisition_date, header_text, dwi_path):
    """A series uploaded with `header_text` in its NIfTI header, processed, and measured with the
    phantom's label image."""
    dwi = exports.header_text(phantom.files["dwi"], dwi_path, header_text)
    scan = exports.process(visit, actor, phantom.files, acquisition_date=acquisition_date, dwi=dwi)
    exports.labels(scan, actor, phantom)
    return Scan.objects.get(pk=scan.pk)


# ---- searching every byte -----------------------------------------------------------------------


class Finder:
    """Finds the planted markers and real dates in bytes, recursing into zips and gzips."""

    def __init__(self, mark, days):
        self.mark = mark.lower().encode()
        self.needles = {form.encode(): day for day in days for form in date_forms(day)}
        self.serials = {(day - EXCEL_EPOCH).days: day for day in days}
        self.searched = []

    def search(self, where, data):
        findings = []
        self.searched.append(where)
        if self.mark in data.lower():
            findings.append((where, "marker"))
        for needle, day in self.needles.items():
            if needle in data:
                findings.append((where, f"date {day} as {needle.decode()}"))
        if data[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for info in archive.infolist():
                    if info.filename.lower().encode().find(self.mark) >= 0:
                        findings.append((f"{where}!{info.filename}", "marker in member name"))
                    findings += self.search(f"{where}!{info.filename}", archive.read(info))
        elif data[:2] == b"\x1f\x8b":
            raw = gzip.decompress(data)
            findings += self.search(f"{where}(gunzipped)", raw)
            if where.endswith((".nii.gz", ".nii")):
                findings += self.nifti_header(where, data)
        if re.search(rb"xl/worksheets/.*\.xml$", where.encode()):
            for serial, day in self.serials.items():
                if re.search(rb"<v>%d(\.0+)?</v>" % serial, data):
                    findings.append((where, f"date {day} as Excel serial {serial}"))
        return findings

    def nifti_header(self, where, data):
        import nibabel as nib

        image = nib.Nifti1Image.from_bytes(gzip.decompress(data))
        findings = []
        for field in ("descrip", "db_name", "aux_file", "intent_name"):
            text = bytes(image.header[field].tobytes()).rstrip(b"\0")
            self.searched.append(f"{where}[{field}]")
            if self.mark in text.lower():
                findings.append((f"{where}[{field}]", "marker in NIfTI header"))
            for needle, day in self.needles.items():
                if needle in text:
                    findings.append((f"{where}[{field}]", f"date {day} in NIfTI header"))
        return findings


def every_export(client, exports):
    """(name, bytes) of every export a researcher can download."""
    for query in TABLE_EXPORTS:
        response = client.get(f"{exports.cohort}?{query}")
        assert response.status_code == 200, (query, response.content[:300])
        yield f"cohort?{query}", exports.body(response)
    for query in DICTIONARY_EXPORTS:
        response = client.get(f"{exports.dictionary}?{query}")
        assert response.status_code == 200, (query, response.content[:300])
        yield f"dictionary?{query}", exports.body(response)
    response = client.get(exports.bids)
    assert response.status_code == 200, response.content[:300]
    yield "bids.zip", exports.body(response)


# ---- the tests ----------------------------------------------------------------------------------


def test_no_export_carries_an_identifier_or_a_real_date(planted, researcher, exports):
    finder = Finder(planted.mark, real_dates())
    findings, sizes = [], {}
    for name, data in every_export(researcher, exports):
        sizes[name] = len(data)
        findings += finder.search(name, data)

    assert len(sizes) == len(TABLE_EXPORTS) + len(DICTIONARY_EXPORTS) + 1
    # The search reached inside the archives: XLSX sheets, BIDS maps and their NIfTI headers.
    assert any("xl/worksheets/" in where for where in finder.searched)
    niftis = [where for where in finder.searched if where.endswith(".nii.gz(gunzipped)")]
    assert len(niftis) >= 6 * 6, niftis  # 6 usable scans x 6 maps
    assert any(where.endswith("[descrip]") for where in finder.searched)
    # And the exports really hold the cohort (the search was not over empty files).
    long_csv = exports.read(researcher.get(f"{exports.cohort}?table=long&format=csv"), "csv")
    assert {row["study_id"] for row in long_csv} == set(STUDY_IDS)
    assert {"GMFM-88", "GMFCS", "FA white matter"} <= {row["measure"] for row in long_csv}
    assert findings == []


def test_the_search_finds_the_planted_values_where_they_are_shown(planted, as_role, exports, settings):
    """The control: the planted values are in the database, hematology's pages and API show them,
    and the stored upload carries the header text, so the same search would catch a leak."""
    mark, secrets = planted.mark, planted.secrets
    for k, patient in enumerate(planted.patients):
        stored = Patient.objects.get(pk=patient.pk)
        assert (stored.given_name, stored.family_name, stored.mrn) == (
            secrets[f"given_name{k}"],
            secrets[f"family_name{k}"],
            secrets[f"mrn{k}"],
        )
        assert stored.date_of_birth == PATIENT_DATES[k]["date_of_birth"]
        assert stored.consent_date == PATIENT_DATES[k]["consent_date"]
        assert Score.objects.filter(visit__patient=patient, assessor=secrets[f"assessor{k}"]).count() == 4
        assert set(Visit.objects.filter(patient=patient).values_list("date", flat=True)) == {
            PATIENT_DATES[k]["baseline"],
            PATIENT_DATES[k]["follow_up"],
        }
    assert Scan.objects.filter(usable_reason__startswith=secrets["reason0"]).count() == 1
    assert Scan.objects.filter(usable_reason__startswith=secrets["reason1"], usable=False).count() == 1
    assert RoiMeasurement.objects.filter(scan__in=planted.scans).count() >= 7 * 10

    finder = Finder(mark, real_dates())
    hematology = as_role("hematology")
    page = hematology.get(f"/patients/{planted.patients[0].pk}/")
    assert page.status_code == 200
    found = finder.search("patient page", page.content)
    assert (("patient page", "marker")) in found
    for key in ("date_of_birth", "baseline", "procedure", "follow_up"):
        assert ("patient page", f"date {PATIENT_DATES[0][key]} as {PATIENT_DATES[0][key].isoformat()}") in found
    scan_page = hematology.get(f"/imaging/scans/{planted.scans[-1].pk}/")  # the one marked not usable
    assert scan_page.status_code == 200 and secrets["reason1"].encode() in scan_page.content
    assert PATIENT_DATES[1]["follow_up_scan"].isoformat().encode() in scan_page.content
    scores = hematology.get(f"/api/v1/scores/?patient={planted.patients[1].pk}")
    assert secrets["assessor1"].encode() in scores.content
    with open(f"{settings.MEDIA_ROOT}/{planted.scans[0].dwi.name}", "rb") as upload:
        found = finder.search("upload.nii.gz", upload.read())
    assert ("upload.nii.gz(gunzipped)", "marker") in found
    assert ("upload.nii.gz[descrip]", "marker in NIfTI header") in found
    assert ("upload.nii.gz(gunzipped)", "date 2022-06-10 as 20220610") in found


def shifted_dates(rows, planted):
    """{(study_id, event): shifted date} from long-table rows, with the real date of each event."""
    by_study = {patient.study_id: k for k, patient in enumerate(planted.patients)}
    seen = {}
    for row in rows:
        key = "procedure" if row["event"] == "procedure" else row["visit_kind"].replace("-", "_")
        shifted = dt.date.fromisoformat(str(row["event_date_shifted"]))
        assert seen.setdefault((row["study_id"], key), shifted) == shifted, "one event, two dates"
    return {key: (shifted, PATIENT_DATES[by_study[key[0]]][key[1]]) for key, shifted in seen.items()}


def test_shifted_dates_move_back_by_one_offset_per_patient_the_same_in_every_export(planted, researcher, exports):
    first = shifted_dates(
        exports.read(researcher.get(f"{exports.cohort}?table=long&format=csv&dates=shifted"), "csv"), planted
    )
    again = shifted_dates(
        exports.read(researcher.get(f"{exports.cohort}?table=long&format=json&dates=shifted"), "json"), planted
    )
    assert len(first) == 3 * 3  # procedure, baseline and follow-up of each patient
    assert again == first

    offsets = {}
    for (study_id, event), (shifted, real) in first.items():
        assert 0 <= (real - shifted).days <= 364, (study_id, event, shifted, real)
        offsets.setdefault(study_id, set()).add((real - shifted).days)
    assert all(len(days) == 1 for days in offsets.values()), offsets  # intervals kept exactly
    for study_id in STUDY_IDS:
        events = {event: dates for (sid, event), dates in first.items() if sid == study_id}
        for a in events:
            for b in events:
                assert (events[a][0] - events[b][0]).days == (events[a][1] - events[b][1]).days

    # The wide table (another export, another format) shows the same shifted visit dates.
    wide = exports.read(researcher.get(f"{exports.cohort}?table=wide&format=xlsx&dates=shifted"), "xlsx")
    assert len(wide) == 6
    for row in wide:
        kind = row["visit_kind"].replace("-", "_")
        assert dt.date.fromisoformat(row["event_date_shifted"]) == first[(row["study_id"], kind)][0]
