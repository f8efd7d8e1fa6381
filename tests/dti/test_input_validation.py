"""Every input problem raises DiffusionInputError with its field and a message."""

import gzip
import hashlib
import io
import os

import numpy as np
import pytest

from imaging.dti import (
    DiffusionInputError,
    InputLimits,
    inspect_dwi_header,
    stream_dwi,
    validate_gradients,
    validate_inputs,
)
from imaging.dti.gradients import B0_THRESHOLD
from imaging.dti.io import check_finite, sha256_file
from imaging.dti.phantom import fibonacci_hemisphere

N_DIRS = 12


def _scheme(n_b0=1, n_dirs=N_DIRS, b=1000.0):
    bvals = np.r_[np.zeros(n_b0), np.full(n_dirs, b)]
    bvecs = np.vstack([np.zeros((n_b0, 3)), fibonacci_hemisphere(n_dirs)])
    return bvals, bvecs


@pytest.fixture
def good_files(tmp_path, write_nifti, write_bval, write_bvec):
    """good_files(shape=..., gz=...) -> (dwi, bval, bvec, data): a valid series in tmp_path."""

    def make(shape=(6, 5, 4), n_b0=1, n_dirs=N_DIRS, dtype=np.float32, gz=True):
        bvals, bvecs = _scheme(n_b0, n_dirs)
        rng = np.random.default_rng(0)
        data = (100 + 10 * rng.random(shape + (bvals.size,))).astype(dtype)
        ext = ".nii.gz" if gz else ".nii"
        dwi = write_nifti(tmp_path / f"dwi{ext}", data)
        return (dwi, write_bval(tmp_path / "dwi.bval", bvals), write_bvec(tmp_path / "dwi.bvec", bvecs), data)

    return make


def _raises(fn, field, *words):
    with pytest.raises(DiffusionInputError) as ei:
        fn()
    err = ei.value
    assert err.field == field, (err.field, err.message)
    for w in words:
        assert w.lower() in err.message.lower(), err.message
    assert str(err).startswith(field + ": ")
    assert err.to_dict() == {"field": field, "message": err.message}
    return err


def test_good_inputs_pass(tmp_path, good_files):
    dwi, bval, bvec, data = good_files()
    s = validate_inputs(dwi, bval, bvec)
    assert s.header.shape == data.shape
    assert s.gradients["n_b0"] == 1
    assert s.gradients["n_directions"] == N_DIRS
    assert s.gradients["shells"] == [[0.0, 1], [1000.0, N_DIRS]]
    checked = stream_dwi(dwi, keep_data=False)
    assert checked.n_values == data.size and checked.data is None
    assert checked.sha256 == hashlib.sha256(open(dwi, "rb").read()).hexdigest()


def test_not_nifti(tmp_path, good_files):
    p = tmp_path / "scan.nii"
    p.write_bytes(b"this is a text file, not an image" * 20)
    _, bval, bvec, _ = good_files()
    _raises(lambda: validate_inputs(str(p), bval, bvec), "dwi", "not a readable NIfTI")
    q = tmp_path / "scan.dcm"
    q.write_bytes(b"DICM")
    _raises(lambda: inspect_dwi_header(str(q)), "dwi", ".nii")


def test_gzip_truncated(tmp_path, good_files):
    dwi, bval, bvec, _ = good_files()
    raw = open(dwi, "rb").read()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(raw[: len(raw) // 2])
    # cheap check (header + gzip trailer) already catches it
    _raises(lambda: validate_inputs(str(cut), bval, bvec), "dwi", "truncated")
    # and so do the streaming scan and the loader
    _raises(lambda: stream_dwi(str(cut), keep_data=False), "dwi", "truncated")
    _raises(lambda: stream_dwi(str(cut), keep_data=True), "dwi", "truncated")
    tiny = tmp_path / "tiny.nii.gz"
    tiny.write_bytes(raw[:40])  # ends inside the header
    err = _raises(lambda: inspect_dwi_header(str(tiny)), "dwi")
    assert "truncated" in err.message or "not a readable" in err.message


def test_gzip_corrupt_stream(tmp_path, good_files):
    dwi, bval, bvec, data = good_files(shape=(12, 12, 8))
    raw = bytearray(open(dwi, "rb").read())
    mid = len(raw) // 2
    raw[mid : mid + 64] = bytes(64)  # damage the deflate stream, keep the trailer
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(bytes(raw))
    err = _raises(lambda: stream_dwi(str(bad), keep_data=False), "dwi", "corrupt", "bad.nii.gz")
    assert str(tmp_path) not in err.message and "Error -3" not in err.message  # no server path, no zlib text


def test_uncompressed_truncated(tmp_path, good_files):
    dwi, bval, bvec, data = good_files(gz=False)
    raw = open(dwi, "rb").read()
    assert np.array_equal(stream_dwi(dwi, keep_data=True).data, data)  # uncompressed files stream too
    cut = tmp_path / "cut.nii"
    cut.write_bytes(raw[:-100])
    _raises(lambda: validate_inputs(str(cut), bval, bvec), "dwi", "truncated")
    _raises(lambda: stream_dwi(str(cut), keep_data=False), "dwi", "truncated")


def test_gzip_named_nii(tmp_path, good_files):
    dwi, bval, bvec, _ = good_files()
    p = tmp_path / "renamed.nii"
    p.write_bytes(open(dwi, "rb").read())
    _raises(lambda: inspect_dwi_header(str(p)), "dwi", "rename")


def test_3d_image(tmp_path, good_files, write_nifti):
    _, bval, bvec, _ = good_files()
    p = write_nifti(tmp_path / "t1.nii.gz", np.ones((6, 5, 4), np.float32))
    _raises(lambda: validate_inputs(p, bval, bvec), "dwi", "3D", "4D")


def test_volume_count_mismatch(tmp_path, good_files, write_bval):
    dwi, _, bvec, data = good_files()
    bvals, bvecs = _scheme()
    bval = write_bval(tmp_path / "short.bval", bvals[:-1])
    _raises(
        lambda: validate_inputs(dwi, bval, bvec), "bval", f"{data.shape[3]} volumes", f"{data.shape[3] - 1} b-values"
    )


def test_bvec_count_mismatch(tmp_path, good_files, write_bvec):
    dwi, bval, _, _ = good_files()
    bvals, bvecs = _scheme()
    bvec = write_bvec(tmp_path / "short.bvec", bvecs[:-2])
    err = _raises(lambda: validate_inputs(dwi, bval, bvec), "bvec")
    assert "directions" in err.message or "per volume" in err.message


def test_no_b0(tmp_path):
    bvals, bvecs = _scheme()
    bvals[0] = 1000.0
    bvecs[0] = (1.0, 0.0, 0.0)
    _raises(lambda: validate_gradients(bvals, bvecs, bvals.size), "bval", "no b0")
    # b <= threshold counts as b0; the threshold is a parameter
    bvals[0] = B0_THRESHOLD - 10
    assert validate_gradients(bvals, bvecs, bvals.size)["n_b0"] == 1
    _raises(lambda: validate_gradients(bvals, bvecs, bvals.size, b0_threshold=20), "bval", "no b0")


def test_five_directions(tmp_path, write_nifti, write_bval, write_bvec):
    bvals, bvecs = _scheme(n_dirs=5)
    dwi = write_nifti(tmp_path / "d.nii.gz", np.ones((4, 4, 4, 6), np.float32))
    bval = write_bval(tmp_path / "d.bval", bvals)
    bvec = write_bvec(tmp_path / "d.bvec", bvecs)
    _raises(lambda: validate_inputs(dwi, bval, bvec), "bvec", "only 5 distinct", "at least 6")
    # repeating directions (or their negatives) does not add directions
    bv2 = np.vstack([bvecs, -bvecs[1:3]])
    bva2 = np.r_[bvals, [1000.0, 1000.0]]
    _raises(lambda: validate_gradients(bva2, bv2, bva2.size), "bvec", "only 5")


def test_non_unit_bvecs(tmp_path):
    bvals, bvecs = _scheme()
    bvecs[4] *= 0.8
    _raises(lambda: validate_gradients(bvals, bvecs, bvals.size), "bvec", "not unit length", "volume 4", "0.800")
    # within tolerance (0.05 default; parameter) is accepted
    bvals, bvecs = _scheme()
    bvecs[4] *= 0.97
    validate_gradients(bvals, bvecs, bvals.size)
    _raises(lambda: validate_gradients(bvals, bvecs, bvals.size, unit_tolerance=0.01), "bvec", "not unit length")
    # zero (or NaN) vectors are fine for b0 volumes
    bvals, bvecs = _scheme()
    bvecs[0] = (np.nan, np.nan, np.nan)
    validate_gradients(bvals, bvecs, bvals.size)


def test_nan_in_data(tmp_path, write_nifti, write_bval, write_bvec):
    bvals, bvecs = _scheme()
    data = np.full((6, 5, 4, bvals.size), 100.0, np.float32)
    data[2, 3, 1, 7] = np.nan
    data[0, 0, 0, 9] = np.inf
    dwi = write_nifti(tmp_path / "nan.nii.gz", data)
    bval = write_bval(tmp_path / "nan.bval", bvals)
    bvec = write_bvec(tmp_path / "nan.bvec", bvecs)
    validate_inputs(dwi, bval, bvec)  # header-only check does not read data
    err = _raises(lambda: stream_dwi(dwi, keep_data=False, chunk_bytes=256), "dwi", "2 NaN", "volume 7")
    assert "infinite" in err.message
    # loading finds the same, whatever the chunk size
    assert _raises(lambda: stream_dwi(dwi, keep_data=True), "dwi").message == err.message


def test_limits(tmp_path, good_files):
    dwi, bval, bvec, data = good_files()
    size = os.path.getsize(dwi)
    _raises(
        lambda: validate_inputs(dwi, bval, bvec, limits=InputLimits(max_spatial_dim=5)), "dwi", "6x5x4", "at most 5"
    )
    _raises(
        lambda: validate_inputs(dwi, bval, bvec, limits=InputLimits(max_volumes=10)), "dwi", "13 volumes", "at most 10"
    )
    _raises(lambda: validate_inputs(dwi, bval, bvec, limits=InputLimits(max_file_bytes=size - 1)), "dwi", "limit")
    _raises(lambda: validate_inputs(dwi, bval, bvec, limits=InputLimits(max_data_bytes=1000)), "dwi", "memory", "limit")
    # exactly at the limits passes
    validate_inputs(
        dwi,
        bval,
        bvec,
        limits=InputLimits(max_spatial_dim=6, max_volumes=13, max_file_bytes=size, max_data_bytes=data.size * 4),
    )


def test_bad_text_files(tmp_path, good_files):
    dwi, bval, bvec, _ = good_files()
    p = tmp_path / "x.bval"
    p.write_text("0 1000 abc\n")
    _raises(lambda: validate_inputs(dwi, str(p), bvec), "bval", "not a number")
    q = tmp_path / "x.bvec"
    q.write_text("1 0\n0 1\n")
    _raises(lambda: validate_inputs(dwi, bval, str(q)), "bvec", "expected 3 rows")
    _raises(lambda: validate_inputs(dwi, str(tmp_path / "missing.bval"), bvec), "bval", "does not exist")


def test_validation_is_header_only(tmp_path, monkeypatch, good_files):
    """validate_inputs must not decode the voxel data."""
    import nibabel as nib

    dwi, bval, bvec, _ = good_files()

    def boom(*a, **k):
        raise AssertionError("voxel data read during cheap validation")

    monkeypatch.setattr(nib.arrayproxy.ArrayProxy, "__array__", boom)
    monkeypatch.setattr(nib.arrayproxy.ArrayProxy, "_get_unscaled", boom)
    validate_inputs(dwi, bval, bvec)


def test_stream_reads_in_chunks_the_same_values(good_files):
    """Chunks of any size (here not a whole number of volumes) give the same data and hash."""
    dwi, _, _, data = good_files(shape=(20, 20, 10))
    with gzip.open(dwi) as fh:
        assert len(fh.read()) > data.nbytes
    whole = stream_dwi(dwi, keep_data=True)
    pieces = stream_dwi(dwi, keep_data=True, chunk_bytes=4092)
    assert np.array_equal(whole.data, data) and np.array_equal(pieces.data, data)
    assert pieces.sha256 == whole.sha256 == stream_dwi(dwi, keep_data=False, chunk_bytes=4092).sha256


@pytest.mark.parametrize("gz", [True, False])
def test_stream_loads_scaled_integers_as_nibabel_does(tmp_path, gz):
    """int16 with scl_slope/scl_inter: float32 values equal to nibabel's, exactly, in Fortran order."""
    import nibabel as nib

    rng = np.random.default_rng(1)
    stored = rng.integers(0, 3000, size=(7, 6, 5, 4)).astype(np.int16)
    img = nib.Nifti1Image(stored, np.diag([2.0, 2.0, 2.5, 1.0]))
    img.header.set_slope_inter(0.5, 10.0)
    path = tmp_path / ("scaled.nii.gz" if gz else "scaled.nii")
    nib.save(img, str(path))
    loaded = stream_dwi(path, keep_data=True, chunk_bytes=100)
    expected = nib.load(str(path)).get_fdata(dtype=np.float32)
    assert loaded.data.dtype == np.float32 and loaded.data.flags.f_contiguous
    assert np.array_equal(loaded.data, expected)
    assert np.allclose(loaded.affine, np.diag([2.0, 2.0, 2.5, 1.0]))
    assert loaded.file_bytes == os.path.getsize(path)
    assert loaded.sha256 == sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_sha256_of_a_path_or_an_open_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"FA rose at 6 months\n" * 100_000)  # several read chunks
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert sha256_file(path) == sha256_file(str(path)) == expected
    with open(path, "rb") as fh:
        assert sha256_file(fh) == expected
    assert sha256_file(io.BytesIO(b"")) == hashlib.sha256(b"").hexdigest()


def test_nan_in_arrays_is_found_volume_by_volume():
    data = np.ones((3, 3, 2, 5), np.float32)
    data[1, 2, 1, 3] = np.inf
    err = _raises(lambda: check_finite(data), "dwi", "1 NaN or infinite", "volume 3")
    assert "Re-export" in err.message
    check_finite(np.ones((3, 3, 2, 5), np.int16))
