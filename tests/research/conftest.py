"""Fixtures for the research tests: a private media folder, small phantom scans, signed-in
clients per role, and helpers that build small cohorts whose numbers can be checked by hand.

Helpers are handed out through fixtures (`research`, `cohort`, ...) rather than imported, as
the test folders are not packages.
"""

import csv
import datetime as dt
import io
import itertools
import json
import os
import uuid
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.files import File

from registry.roles import RESEARCH

COHORT_URL = "/api/v1/export/cohort/"
DICTIONARY_URL = "/api/v1/export/dictionary/"
BIDS_URL = "/api/v1/export/bids/"


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    """Each test stores its files (scans, maps, labels) in its own folder."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.IMAGING_STAGING_DIR = tmp_path / "staging"
    os.makedirs(settings.MEDIA_ROOT)
    os.makedirs(settings.IMAGING_STAGING_DIR)
    return tmp_path


# ---- phantom scans ----------------------------------------------------------------------


@pytest.fixture(scope="session")
def phantoms(tmp_path_factory, phantom_regions):
    """Two small phantom series on disk: "low" FA and "high" FA (tracts + 0.12).

    {"low"|"high": SimpleNamespace(files={"dwi", "bval", "bvec", "labels", "label_names"}, label_names={int: code})}
    with the labels named by region codes.
    """
    from imaging.dti import make_phantom

    folder = tmp_path_factory.mktemp("phantoms")
    made = {}
    for name, boost, seed in (("low", 0.0, 11), ("high", 0.12, 12)):
        phantom = make_phantom(shape=(24, 24, 16), n_b0=1, n_dirs=12, snr=30, fa_boost=boost, seed=seed)
        made[name] = SimpleNamespace(files=phantom.save(folder / name), label_names=dict(phantom_regions))
    return made


def with_header_text(source, target, text):
    """A copy of a NIfTI whose free-text header fields (descrip, db_name, aux_file) carry `text`,
    as scanners' converters sometimes fill them with names and acquisition times."""
    import nibabel as nib

    image = nib.load(str(source))
    header = image.header.copy()
    header["descrip"] = text.encode()[:79]
    header["db_name"] = text.encode()[:17]
    header["aux_file"] = text.encode()[:23]
    nib.save(nib.Nifti1Image(image.get_fdata(dtype="float32").astype("int16"), image.affine, header), str(target))
    return str(target)


def register_and_process(visit, actor, files, *, acquisition_date=None, dwi=None):
    """Register a series for a visit and run the pipeline on it in this process (no queue)."""
    from imaging import services
    from imaging.models import Scan

    dwi_path = dwi or files["dwi"]
    with open(dwi_path, "rb") as dwi_file, open(files["bval"], "rb") as bval, open(files["bvec"], "rb") as bvec:
        scan, _created = services.scan_register(
            visit,
            actor,
            dwi=File(dwi_file, name=Path(dwi_path).name),
            bval=File(bval, name="dwi.bval"),
            bvec=File(bvec, name="dwi.bvec"),
            acquisition_date=acquisition_date,
        )
    services.scan_process(scan.pk, worker="test")
    scan = Scan.objects.get(pk=scan.pk)
    assert scan.status == Scan.Status.DONE, scan.error
    return scan


def apply_labels(scan, actor, phantom):
    """The phantom's label image and names applied to a processed scan (ROI measurements)."""
    from imaging import services

    with open(phantom.files["labels"], "rb") as labels:
        return services.labels_apply(
            scan,
            actor,
            File(labels, name="labels.nii.gz"),
            json.dumps({str(k): v for k, v in phantom.label_names.items()}),
        )


_fake_scans = itertools.count(1)


def add_scan_result(
    visit,
    fa_wm,
    *,
    fa_mean=None,
    md=0.0008,
    usable=None,
    reason="",
    qc_passed=True,
    status="done",
    acquisition_date=None,
):
    """A scan with a current result written straight to the database (no files, no pipeline):
    for tests that need FA values chosen by hand."""
    from imaging.models import DiffusionResult, Scan

    n = next(_fake_scans)
    scan = Scan.objects.create(
        visit=visit,
        acquisition_date=acquisition_date or visit.date,
        dwi=f"fake/{n}/dwi.nii.gz",
        bval=f"fake/{n}/dwi.bval",
        bvec=f"fake/{n}/dwi.bvec",
        dwi_sha256="0" * 64,
        bval_sha256="0" * 64,
        bvec_sha256="0" * 64,
        fingerprint=uuid.uuid4().hex,
        status=status,
        usable=usable,
        usable_reason=reason,
        shape=[24, 24, 16, 13],
    )
    if status == "done":
        DiffusionResult.objects.create(
            scan=scan,
            is_current=True,
            folder=f"fake/{n}",
            files={},
            fa_mean=fa_wm - 0.1 if fa_mean is None else fa_mean,
            fa_wm_mean=fa_wm,
            md_mean=md,
            qc_passed=qc_passed,
            qc={"overall": "pass" if qc_passed else "fail"},
        )
    return scan


# ---- cohorts ----------------------------------------------------------------------------


class CohortBuilder:
    """Patients with one procedure and visits carrying scores and (hand-chosen) FA.

    course(study_id, visits=[(date, kind, {"GMFM-88": 40, ...}, fa_or_None), ...], ...)
    """

    def __init__(self, build):
        self.build = build

    def course(
        self,
        study_id,
        visits,
        *,
        procedure_date=dt.date(2024, 2, 2),
        tnc=3_200_000_000,
        cd34=25_000_000,
        weight_kg=Decimal("16"),
        harvest_date=None,
        **patient_fields,
    ):
        build = self.build
        patient = build.patient(study_id=study_id, mrn=f"MRN-{study_id}", **patient_fields)
        harvest = build.harvest(patient=patient, date=harvest_date or procedure_date - dt.timedelta(days=1))
        product = build.product(harvest=harvest, tnc_count=tnc, cd34_count=cd34)
        procedure = build.procedure(product=product, date=procedure_date, weight_kg=weight_kg)
        made = []
        for date, kind, scores, fa in visits:
            visit = build.visit(patient=patient, date=date, kind=kind)
            for code, value in scores.items():
                build.score(visit=visit, instrument=code, value=Decimal(str(value)))
            scan = add_scan_result(visit, fa) if fa is not None else None
            made.append(SimpleNamespace(visit=visit, scan=scan))
        return SimpleNamespace(patient=patient, procedure=procedure, visits=made)

    def simple(
        self,
        study_id,
        *,
        baseline_score=40,
        follow_score=46,
        baseline_fa=0.40,
        follow_fa=0.45,
        baseline_date=dt.date(2024, 1, 20),
        follow_date=dt.date(2024, 8, 2),
        **fields,
    ):
        """Baseline and one follow-up with GMFM-88 and FA white matter."""
        return self.course(
            study_id,
            [
                (baseline_date, "baseline", {"GMFM-88": baseline_score}, baseline_fa),
                (follow_date, "follow-up", {"GMFM-88": follow_score}, follow_fa),
            ],
            **fields,
        )


@pytest.fixture
def cohort(build):
    return CohortBuilder(build)


# ---- clients ----------------------------------------------------------------------------


def signed_in(api_as, role):
    """An API client with a token (for the API) and a session (for the pages)."""
    client = api_as(role)
    client.force_login(client.user)
    return client


@pytest.fixture
def as_role(api_as):
    made = {}

    def client_for(role):
        if role not in made:
            made[role] = signed_in(api_as, role)
        return made[role]

    return client_for


@pytest.fixture
def researcher(as_role):
    return as_role(RESEARCH)


# ---- reading figures -------------------------------------------------------------------


def text_of_svg(data):
    """Every piece of text drawn in an SVG figure (titles, axis and tick labels, annotations), one per line."""
    root = ET.fromstring(data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return "\n".join("".join(el.itertext()) for el in root.iter("{http://www.w3.org/2000/svg}text"))


@pytest.fixture
def svg_text():
    return text_of_svg


# ---- reading exports --------------------------------------------------------------------


def body_of(response):
    """The whole body of a response, streamed or not (a streamed one is consumed chunk by chunk)."""
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


def read_csv(data):
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def read_export(response, fmt):
    """Rows of an export as dicts of strings (CSV), JSON values (JSON) or cell values (XLSX)."""
    data = body_of(response)
    if fmt == "csv":
        return read_csv(data)
    if fmt == "json":
        return json.loads(data)
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    return [dict(zip(rows[0], row)) for row in rows[1:]]


@pytest.fixture
def exports():
    return SimpleNamespace(
        body=body_of,
        csv=read_csv,
        read=read_export,
        cohort=COHORT_URL,
        dictionary=DICTIONARY_URL,
        bids=BIDS_URL,
        process=register_and_process,
        labels=apply_labels,
        header_text=with_header_text,
        add_scan_result=add_scan_result,
    )
