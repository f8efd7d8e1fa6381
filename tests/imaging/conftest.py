"""Fixtures for the imaging tests: a private media folder, phantom scans as files, a processed scan."""

import gzip
import json
import os
import uuid
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from django.core.files import File

from imaging import services
from imaging.dti import make_phantom
from imaging.models import DiffusionResult, Scan
from tests.imaging import dicom_synth as synthetic_dicom


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    """Each test stores files in its own folder, so it can check what was (not) written."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.IMAGING_STAGING_DIR = tmp_path / "staging"
    os.makedirs(settings.MEDIA_ROOT)
    os.makedirs(settings.IMAGING_STAGING_DIR)
    return tmp_path


def stored_files(settings):
    """Every file under the media and staging folders."""
    found = []
    for root in (settings.MEDIA_ROOT, settings.IMAGING_STAGING_DIR):
        for folder, _dirs, files in os.walk(root):
            found += [os.path.join(folder, name) for name in files]
    return found


@pytest.fixture(scope="session")
def dicom_synth():
    """Writers of synthetic DICOM diffusion series and their zips (tests/imaging/dicom_synth.py)."""
    return synthetic_dicom


@pytest.fixture(scope="session")
def phantom():
    return make_phantom(shape=(32, 32, 20), n_b0=2, n_dirs=20, snr=30, seed=3)


@pytest.fixture
def scan_files(phantom, phantom_regions, tmp_path):
    """A good series on disk: {"dwi", "bval", "bvec", "labels", "label_names"} paths; the label
    names are region codes of the vocabulary."""
    files = phantom.save(tmp_path / "series")
    with open(files["label_names"], "w") as handle:
        json.dump({str(label): code for label, code in phantom_regions.items()}, handle)
    return files


@pytest.fixture
def upload_scan(build, make_user, scan_files, monkeypatch):
    """upload_scan(visit=None, uploader=None): the phantom's files registered as a scan of a visit, as
    an upload does; nothing is put on a queue (tests run the worker's code themselves)."""
    monkeypatch.setattr("imaging.services.dispatch", lambda scan_id, first=False: None)

    def upload(visit=None, uploader=None):
        with (
            open(scan_files["dwi"], "rb") as dwi,
            open(scan_files["bval"], "rb") as bval,
            open(scan_files["bvec"], "rb") as bvec,
        ):
            scan, _created = services.scan_register(
                visit or build.visit(),
                uploader or make_user("radiology", "uploader"),
                dwi=File(dwi, name=Path(scan_files["dwi"]).name),
                bval=File(bval, name="dwi.bval"),
                bvec=File(bvec, name="dwi.bvec"),
            )
        return scan

    return upload


@pytest.fixture
def processed_scan(upload_scan):
    """A phantom scan registered and processed in this process (the worker's code run directly, no
    queue): done, with its maps (b0, FA, colour FA, brain mask) in storage."""
    scan = upload_scan()
    services.scan_process(scan.pk, worker="test")
    scan = Scan.objects.get(pk=scan.pk)
    assert scan.status == Scan.Status.DONE, scan.error
    return scan


class Series:
    """Builds upload payloads, good or broken in one chosen way."""

    def __init__(self, files, folder):
        self.files, self.folder = files, folder

    def write(self, name, content, mode="w"):
        path = self.folder / name
        with open(path, mode) as handle:
            handle.write(content)
        return path

    def payload(self, visit, **replace):
        """Multipart data for POST /api/v1/scans/ with some files replaced by paths."""
        paths = {"dwi": self.files["dwi"], "bval": self.files["bval"], "bvec": self.files["bvec"], **replace}
        data = {"visit": visit.pk}
        for field, path in paths.items():
            if path is not None:
                data[field] = open(path, "rb")
        return data


@pytest.fixture
def series(scan_files, tmp_path):
    return Series(scan_files, tmp_path)


@pytest.fixture
def disk(settings):
    """Writers of broken or odd input files, and `stored()`: every file the upload left in media or staging."""
    return SimpleNamespace(
        nifti=nifti,
        truncated_gzip=truncated_gzip,
        gzip_bytes=gzip_bytes,
        patched_header=patched_header,
        stored=lambda: stored_files(settings),
    )


def nifti(path, array, affine=None):
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.asarray(array), np.eye(4) if affine is None else affine), str(path))
    return path


def truncated_gzip(source, target):
    with open(source, "rb") as handle:
        data = handle.read()
    with open(target, "wb") as handle:
        handle.write(data[: len(data) // 2])
    return target


def patched_header(source, target, offset, fmt, value):
    """A copy of a .nii.gz with one NIfTI-1 header field overwritten (``struct`` format ``fmt``), as a
    damaged or hand-edited file would have it."""
    import struct

    with gzip.open(source, "rb") as handle:
        raw = bytearray(handle.read())
    raw[offset : offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    with gzip.open(target, "wb") as handle:
        handle.write(bytes(raw))
    return target


def gzip_bytes(path, payload):
    with gzip.open(path, "wb") as handle:
        handle.write(payload)
    return path


def stored_scan(visit, shape=(32, 32, 20, 22), **result):
    """A done scan of `visit` with a current result as stored (no input files behind it)."""
    scan = Scan.objects.create(
        visit=visit,
        acquisition_date=visit.date,
        dwi="fake/dwi.nii.gz",
        bval="fake/dwi.bval",
        bvec="fake/dwi.bvec",
        dwi_sha256="0" * 64,
        bval_sha256="0" * 64,
        bvec_sha256="0" * 64,
        fingerprint=uuid.uuid4().hex,
        status="done",
        shape=list(shape),
    )
    DiffusionResult.objects.create(scan=scan, is_current=True, folder="fake", **{"fa_mean": 0.3, **result})
    return scan
