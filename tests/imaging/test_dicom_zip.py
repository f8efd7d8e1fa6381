"""DICOM-zip ingestion (imaging.dicom) with synthetic series (the dicom_synth fixture).

Plain pytest, no Django. dcm2niix comes from the venv (PyPI package dcm2niix).
"""

import io
import os
import stat
import struct
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from imaging import dicom
from imaging.dti import make_phantom
from imaging.dti.errors import DiffusionInputError

MB = 1_000_000
SHAPE = (16, 16, 6)
N_DIRS = 8


def _scheme(seed=0, n_dirs=N_DIRS):
    rng = np.random.default_rng(seed)
    g = rng.normal(size=(n_dirs, 3))
    g /= np.linalg.norm(g, axis=1)[:, None]
    bvecs = np.vstack([[0.0, 0.0, 0.0], g])
    bvals = np.r_[0.0, np.full(n_dirs, 1000.0)]
    data = rng.integers(50, 3000, size=(*SHAPE, n_dirs + 1)).astype(np.uint16)
    return data, bvals, bvecs


def _good_zip(dicom_synth, tmp_path, name="dwi", **kw):
    data, bvals, bvecs = _scheme()
    dicom_synth.write_dwi_series(tmp_path / f"{name}_src", data, bvals, bvecs, **kw)
    return dicom_synth.zip_folder(tmp_path / f"{name}_src", tmp_path / f"{name}.zip"), data, bvals, bvecs


def _refused(zip_path, out_dir, **kw):
    kw.setdefault("max_bytes", 50 * MB)
    with pytest.raises(DiffusionInputError) as ei:
        dicom.convert_zip(zip_path, out_dir, **kw)
    err = ei.value
    assert err.field == "dicom_zip"
    msg = err.message
    # a sentence a radiologist can act on: starts with a capital, ends with a full stop,
    # says what to do, and carries no log / traceback
    assert msg[0].isupper() and msg.endswith(".")
    assert any(w in msg.lower() for w in ("upload", "export", "zip it", "create the zip"))
    assert "Traceback" not in msg and "dcm2niix" not in msg and "\n" not in msg
    return msg


def _all_files(root):
    return sorted(str(p.relative_to(root)) for p in Path(root).rglob("*"))


# ------------------------------------------------------------------- round trip


@pytest.mark.parametrize("manufacturer", ["SIEMENS", "Philips Medical Systems"])
def test_round_trip_axial(tmp_path, manufacturer, dicom_synth):
    zp, data, bvals, bvecs = _good_zip(dicom_synth, tmp_path, manufacturer=manufacturer)
    dwi, bval, bvec = dicom.convert_zip(zp, tmp_path / "out", max_bytes=50 * MB)
    assert dwi == tmp_path / "out" / "dwi.nii.gz" and bval.suffix == ".bval" and bvec.suffix == ".bvec"
    img = nib.load(dwi)
    assert img.shape == (*SHAPE, N_DIRS + 1)
    # dcm2niix flips the DICOM rows (NIfTI j axis reversed); voxel values are untouched
    assert np.array_equal(np.asarray(img.dataobj)[:, ::-1], data)
    np.testing.assert_allclose(img.header.get_zooms()[:3], (2.0, 2.0, 2.0))
    assert nib.aff2axcodes(img.affine) == ("L", "A", "S")
    np.testing.assert_allclose(np.loadtxt(bval), bvals)
    got = np.loadtxt(bvec)
    assert got.shape == (3, N_DIRS + 1)
    # documented convention for an axial series: FSL bvec = (gx, -gy, gz) of the LPS gradient
    np.testing.assert_allclose(got.T, bvecs * [1.0, -1.0, 1.0], atol=1e-5)
    np.testing.assert_allclose(got.T, dicom_synth.expected_fsl_bvecs(bvecs), atol=1e-5)
    # extracted DICOM kept (flat generated names), work folder for NIfTI removed
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "dicom",
        "dwi.bval",
        "dwi.bvec",
        "dwi.json",
        "dwi.nii.gz",
    ]
    assert len(list((tmp_path / "out" / "dicom").iterdir())) == SHAPE[2] * (N_DIRS + 1)
    # the scanner, as the scan's acquisition records it
    assert (
        dicom.scanner_details(tmp_path / "out" / "dwi.json")["manufacturer"].lower() == manufacturer.split()[0].lower()
    )


def test_round_trip_oblique_follows_fsl_convention(tmp_path, dicom_synth):
    c, s = np.cos(0.3), np.sin(0.3)
    rx = np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    rz = np.array([[np.cos(0.2), -np.sin(0.2), 0], [np.sin(0.2), np.cos(0.2), 0], [0, 0, 1]])
    rot = rx @ rz
    orientation = tuple(np.r_[rot[:, 0], rot[:, 1]])
    zp, data, bvals, bvecs = _good_zip(dicom_synth, tmp_path, orientation=orientation, voxel_size=(2.0, 2.5, 3.0))
    dwi, bval, bvec = dicom.convert_zip(zp, tmp_path / "out", max_bytes=50 * MB, keep_dicom=False)
    img = nib.load(dwi)
    assert np.array_equal(np.asarray(img.dataobj)[:, ::-1], data)
    np.testing.assert_allclose(img.header.get_zooms()[:3], (2.0, 2.5, 3.0), atol=1e-4)
    got = np.loadtxt(bvec).T
    np.testing.assert_allclose(got, dicom_synth.expected_fsl_bvecs(bvecs, orientation), atol=1e-5)
    # the same, from the NIfTI affine: gradient (RAS) in the image axes, x negated iff det > 0
    a = img.affine[:3, :3]
    assert np.linalg.det(a) < 0
    expected = (bvecs * [-1.0, -1.0, 1.0]) @ (a / np.linalg.norm(a, axis=0))
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert not (tmp_path / "out" / "dicom").exists()


def test_demo_zip_from_phantom_is_self_consistent(tmp_path, dicom_synth):
    ph = make_phantom((16, 16, 16), n_b0=1, n_dirs=6)
    zp = dicom_synth.make_demo_zip(tmp_path / "demo.zip", ph)
    dwi, bval, bvec = dicom.convert_zip(zp, tmp_path / "out", max_bytes=50 * MB)
    img = nib.load(dwi)
    assert img.shape == (*ph.data.shape,)
    np.testing.assert_allclose(img.get_fdata()[:, ::-1], ph.data, atol=0.05 * ph.data.max() / 1000)
    np.testing.assert_allclose(np.loadtxt(bvec).T, ph.bvecs * [1.0, -1.0, 1.0], atol=1e-5)


def test_non_diffusion_series_is_ignored_next_to_the_dwi(tmp_path, dicom_synth):
    data, bvals, bvecs = _scheme()
    src = tmp_path / "src"
    dicom_synth.write_dwi_series(src / "dti", data, bvals, bvecs, series_number=5)
    dicom_synth.write_dwi_series(
        src / "t2", data[..., :1], series_number=2, diffusion=False, series_description="T2 axial"
    )
    zp = dicom_synth.zip_folder(src, tmp_path / "study.zip")
    dwi, bval, _ = dicom.convert_zip(zp, tmp_path / "out", max_bytes=50 * MB)
    assert nib.load(dwi).shape[3] == N_DIRS + 1
    np.testing.assert_allclose(np.loadtxt(bval), bvals)


def test_two_diffusion_series_are_refused(tmp_path, dicom_synth):
    data, bvals, bvecs = _scheme()
    src = tmp_path / "src"
    dicom_synth.write_dwi_series(src / "a", data, bvals, bvecs, series_number=5)
    dicom_synth.write_dwi_series(src / "b", data[..., :7], bvals[:7], bvecs[:7], series_number=6)
    msg = _refused(dicom_synth.zip_folder(src, tmp_path / "two.zip"), tmp_path / "out")
    assert "one diffusion series per zip" in msg
    assert "(9 and 7 volumes)" in msg


# ------------------------------------------------------------- unsafe archives


def _zip_with(tmp_path, members, name="bad.zip"):
    """members: list of (ZipInfo or name, bytes)."""
    zp = tmp_path / name
    with zipfile.ZipFile(zp, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, payload in members:
            zf.writestr(info, payload)
    return zp


def _dicom_bytes(dicom_synth, tmp_path):
    data, bvals, bvecs = _scheme()
    paths = dicom_synth.write_dwi_series(tmp_path / "one", data[..., :1], bvals[:1], bvecs[:1])
    return paths[0].read_bytes()


def _raw_name_zip(tmp_path, name, payload):
    """A zip whose member name is written verbatim (zipfile would not strip it)."""
    placeholder = ("Q" * len(name)).encode()
    zp = _zip_with(tmp_path, [(placeholder.decode(), payload)])
    raw = zp.read_bytes()
    assert raw.count(placeholder) == 2
    zp.write_bytes(raw.replace(placeholder, name.encode()))
    return zp


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink", "drive", "backslash_dotdot"])
def test_paths_escaping_the_folder_are_refused(tmp_path, kind, dicom_synth):
    dcm = _dicom_bytes(dicom_synth, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    if kind == "dotdot":
        zp = _zip_with(work, [("DICOM/IM00001.dcm", dcm), ("../evil.dcm", dcm)])
    elif kind == "absolute":
        zp = _raw_name_zip(work, "/tmp/abs_evil_dicom_zip.dcm", dcm)
    elif kind == "drive":
        zp = _raw_name_zip(work, "C:/evil.dcm", dcm)
    elif kind == "backslash_dotdot":
        zp = _raw_name_zip(work, "..\\..\\evil.dcm", dcm)
    else:
        link = zipfile.ZipInfo("DICOM/link.dcm")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zp = _zip_with(work, [("DICOM/IM00001.dcm", dcm), (link, "/etc/passwd")])
    names = zipfile.ZipFile(zp).namelist()
    assert any(".." in n or n.startswith("/") or ":" in n or "link" in n for n in names)
    before_parent = _all_files(tmp_path)
    out = work / "out"
    msg = _refused(zp, out)
    assert "paths escaping its folder" in msg
    # nothing written: not outside out_dir, not inside it either
    assert not Path("/tmp/abs_evil_dicom_zip.dcm").exists()
    after = [p for p in _all_files(tmp_path) if not p.startswith("work/out")]
    assert after == before_parent
    assert _all_files(out) == []


# ----------------------------------------------------------------- bad content


def test_not_a_zip(tmp_path):
    zp = tmp_path / "random.zip"
    zp.write_bytes(np.random.default_rng(1).bytes(4096))
    msg = _refused(zp, tmp_path / "out")
    assert "not a valid zip archive" in msg


def test_truncated_zip(tmp_path, dicom_synth):
    zp, *_ = _good_zip(dicom_synth, tmp_path)
    raw = zp.read_bytes()
    zp.write_bytes(raw[: len(raw) // 2])
    msg = _refused(zp, tmp_path / "out")
    assert "not a valid zip archive" in msg
    assert _all_files(tmp_path / "out") == []


def test_corrupt_member_crc_is_refused(tmp_path, dicom_synth):
    zp = tmp_path / "stored.zip"
    dcm = _dicom_bytes(dicom_synth, tmp_path)
    with zipfile.ZipFile(zp, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("DICOM/IM00001.dcm", dcm)
    raw = bytearray(zp.read_bytes())
    pos = raw.index(b"DICM")
    raw[pos + 200] ^= 0xFF  # flip one stored byte: CRC mismatch on extraction
    zp.write_bytes(bytes(raw))
    msg = _refused(zp, tmp_path / "out")
    assert "damaged" in msg
    assert _all_files(tmp_path / "out") == []


def test_encrypted_member_is_refused(tmp_path):
    zp = _zip_with(tmp_path, [("DICOM/IM00001.dcm", b"x" * 100)])
    raw = bytearray(zp.read_bytes())
    # set the "encrypted" general-purpose bit in the local and the central header
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = raw.index(sig)
        flags = struct.unpack_from("<H", raw, i + off)[0] | 0x1
        struct.pack_into("<H", raw, i + off, flags)
    zp.write_bytes(bytes(raw))
    msg = _refused(zp, tmp_path / "out")
    assert "password" in msg


def test_text_files_only_hold_no_dicom(tmp_path):
    zp = _zip_with(
        tmp_path,
        [
            ("report.txt", "Normal MRI.\n" * 50),
            ("notes/readme.md", "# notes\n"),
            ("DICOM/IM00001.dcm", "not really DICOM"),
        ],
    )
    msg = _refused(zp, tmp_path / "out")
    assert msg.startswith("The zip holds no DICOM files")
    assert not (tmp_path / "out" / "dicom").exists()


def test_series_without_diffusion_tags(tmp_path, dicom_synth):
    data, _, _ = _scheme()
    dicom_synth.write_dwi_series(tmp_path / "src", data, diffusion=False, series_description="EPI")
    zp = dicom_synth.zip_folder(tmp_path / "src", tmp_path / "nodiff.zip")
    msg = _refused(zp, tmp_path / "out")
    assert msg.startswith("The DICOM series has no diffusion information (b-values and gradient directions)")
    assert _all_files(tmp_path / "out") == []


def test_series_with_all_zero_b_values(tmp_path, dicom_synth):
    data, bvals, bvecs = _scheme()
    dicom_synth.write_dwi_series(tmp_path / "src", data, np.zeros_like(bvals), np.zeros_like(bvecs))
    zp = dicom_synth.zip_folder(tmp_path / "src", tmp_path / "b0only.zip")
    msg = _refused(zp, tmp_path / "out")
    assert "no diffusion information" in msg


def test_incomplete_series_is_refused(tmp_path, dicom_synth):
    data, bvals, bvecs = _scheme()
    paths = dicom_synth.write_dwi_series(tmp_path / "src", data, bvals, bvecs)
    paths[SHAPE[2] * 3 + 2].unlink()  # one slice missing from volume 4
    zp = dicom_synth.zip_folder(tmp_path / "src", tmp_path / "holes.zip")
    msg = _refused(zp, tmp_path / "out")
    assert msg.startswith("The diffusion series is incomplete")
    assert _all_files(tmp_path / "out") == []


# -------------------------------------------------------------------- size limits


def _bomb(tmp_path, size=50 * MB):
    zp = tmp_path / "bomb.zip"
    with zipfile.ZipFile(zp, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("DICOM/big.dcm", "w", force_zip64=True) as fh:
            block = b"\0" * MB
            for _ in range(size // MB):
                fh.write(block)
    assert zp.stat().st_size < MB
    return zp


def test_zip_bomb_refused_before_writing(tmp_path):
    zp = _bomb(tmp_path)
    msg = _refused(zp, tmp_path / "out", max_bytes=10 * MB)
    assert "more than the 10 MB allowed" in msg
    assert _all_files(tmp_path / "out") == []


def test_compression_ratio_refused(tmp_path):
    zp = _bomb(tmp_path, size=20 * MB)
    msg = _refused(zp, tmp_path / "out", max_bytes=100 * MB)
    assert "compressed about" in msg
    assert _all_files(tmp_path / "out") == []


class _CountingFile(io.RawIOBase):
    def __init__(self, fh, counter):
        self._fh, self._counter = fh, counter

    def write(self, b):
        self._counter[0] += len(b)
        return self._fh.write(b)

    def close(self):
        self._fh.close()
        super().close()


def test_lying_header_never_writes_more_than_max_bytes(tmp_path, monkeypatch):
    """Even if the declared sizes were believed (checks disabled), the stream stops at max_bytes."""
    zp = _bomb(tmp_path)
    real_check = dicom._check_archive
    monkeypatch.setattr(dicom, "_check_archive", lambda zf, mb, mf, mr: real_check(zf, 10**12, mf, 10**9))
    written = [0]

    def counting_open(path, mode="r", *a, **kw):
        fh = open(path, mode, *a, **kw)
        return _CountingFile(fh, written) if "b" in mode and ("w" in mode or "x" in mode) else fh

    monkeypatch.setattr(dicom, "open", counting_open, raising=False)
    msg = _refused(zp, tmp_path / "out", max_bytes=10 * MB)
    assert "more than the 10 MB allowed" in msg
    assert 0 < written[0] <= 10 * MB
    assert _all_files(tmp_path / "out") == []


def test_understated_header_is_refused_as_damaged(tmp_path):
    """A central directory that understates the size: zipfile stops there and the CRC fails."""
    zp = _bomb(tmp_path, size=20 * MB)
    with zipfile.ZipFile(zp) as zf:
        info = zf.infolist()[0]
    raw = bytearray(zp.read_bytes())
    cd = raw.index(b"PK\x01\x02")
    # zip64: sizes live in the central directory's extra field (uncompressed first)
    name_len, extra_len = struct.unpack_from("<HH", raw, cd + 28)
    extra = cd + 46 + name_len
    end = extra + extra_len
    while extra < end:
        tag, size = struct.unpack_from("<HH", raw, extra)
        if tag == 0x0001:
            assert struct.unpack_from("<Q", raw, extra + 4)[0] == info.file_size
            struct.pack_into("<Q", raw, extra + 4, 1000)
            break
        extra += 4 + size
    else:  # no zip64 extra: 32-bit field
        struct.pack_into("<I", raw, cd + 24, 1000)
    zp.write_bytes(bytes(raw))
    assert zipfile.ZipFile(zp).infolist()[0].file_size == 1000
    msg = _refused(zp, tmp_path / "out", max_bytes=10 * MB)
    assert "damaged" in msg
    assert _all_files(tmp_path / "out") == []


def test_too_many_files(tmp_path):
    zp = _zip_with(tmp_path, [(f"f{i}.txt", "x") for i in range(12)])
    msg = _refused(zp, tmp_path / "out", max_files=10)
    assert "more than the 10 allowed" in msg


# ------------------------------------------------------------------------ misc


def test_find_dcm2niix_is_executable():
    path = dicom.find_dcm2niix()
    assert os.access(path, os.X_OK)


def test_timeout_is_refused_and_cleaned(tmp_path, monkeypatch, dicom_synth):
    zp, *_ = _good_zip(dicom_synth, tmp_path)
    sleeper = tmp_path / "slow_dcm2niix"
    sleeper.write_text("#!/bin/sh\nsleep 30\n")
    sleeper.chmod(0o755)
    monkeypatch.setattr(dicom, "find_dcm2niix", lambda: str(sleeper))
    msg = _refused(zp, tmp_path / "out", timeout=1)
    assert "took longer than the allowed 1 s" in msg
    assert _all_files(tmp_path / "out") == []
