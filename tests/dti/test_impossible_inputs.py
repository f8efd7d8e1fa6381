"""Physically impossible inputs are refused with a message naming the file: b-values no scanner uses,
voxel sizes that are zero, not finite or larger than a scanner produces, and any header problem that
nibabel would only repair or warn about while loading."""

import gzip
import struct

import numpy as np
import pytest

from imaging.dti import DiffusionInputError, InputLimits, PipelineSettings, process_dwi, validate_inputs
from imaging.dti.gradients import MAX_BVAL, check_bvals
from imaging.dti.phantom import fibonacci_hemisphere

SIZEOF_HDR = 0  # byte offsets in the NIfTI-1 header
PIXDIM_X = 80


@pytest.fixture
def series(tmp_path, write_nifti, write_bval, write_bvec):
    """series(bvals=None, gz=True) -> (dwi, bval, bvec): a tiny valid series, b-values replaceable."""

    def make(bvals=None, gz=True):
        scheme = np.r_[0.0, np.full(12, 1000.0)]
        bvecs = np.vstack([np.zeros(3), fibonacci_hemisphere(12)])
        data = (100 + 10 * np.random.default_rng(0).random((6, 5, 4, scheme.size))).astype(np.float32)
        dwi = write_nifti(tmp_path / ("dwi.nii.gz" if gz else "dwi.nii"), data)
        bval = write_bval(tmp_path / "dwi.bval", scheme if bvals is None else bvals)
        return dwi, bval, write_bvec(tmp_path / "dwi.bvec", bvecs)

    return make


def patch_header(path, offset, fmt, value):
    """Overwrite one field of a (possibly gzipped) NIfTI-1 header, as a damaged file would have it."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        raw = bytearray(handle.read())
    raw[offset : offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    with opener(path, "wb") as handle:
        handle.write(bytes(raw))
    return path


def refused(dwi, bval, bvec, field, *words):
    with pytest.raises(DiffusionInputError) as caught:
        validate_inputs(dwi, bval, bvec)
    error = caught.value
    assert error.field == field, error.message
    for word in words:
        assert word.lower() in error.message.lower(), error.message
    assert "/" not in error.message.replace("s/mm", ""), error.message  # no folder, only the file's name
    return error


@pytest.mark.parametrize("b", [1e308, 10_001.0, 50_000.0])
def test_b_values_above_the_limit_are_refused(series, b):
    bvals = np.r_[0.0, np.full(12, 1000.0)]
    bvals[5] = b
    error = refused(*series(bvals), "bval", "'dwi.bval'", "10,000", "volume 5")
    assert f"{b:g}" in error.message


def test_high_b_research_protocols_are_accepted(series):
    summary = validate_inputs(*series(np.r_[0.0, np.full(6, 3000.0), np.full(6, MAX_BVAL)]))
    assert summary.gradients["max_bval"] == MAX_BVAL


@pytest.mark.parametrize("text, words", [("0 -1000 1000", "negative"), ("0 nan 1000", "nan"), ("0 inf 1", "inf")])
def test_negative_and_non_finite_b_values_name_the_file(series, tmp_path, text, words):
    dwi, _bval, bvec = series()
    bval = tmp_path / "odd.bval"
    bval.write_text(text + " 1000" * 10 + "\n")
    refused(dwi, str(bval), bvec, "bval", "'odd.bval'", words)


def test_the_b_value_limit_is_one_setting():
    assert InputLimits().max_bval == MAX_BVAL == 10_000.0
    check_bvals([0, 20_000], max_bval=20_000)  # a site may raise it
    with pytest.raises(DiffusionInputError, match="20,000"):
        check_bvals([0, 20_001], max_bval=20_000)


def test_arrays_given_to_the_pipeline_are_held_to_the_same_limit():
    bvals = np.r_[0.0, np.full(12, 1000.0)]
    bvals[3] = 1e308
    bvecs = np.vstack([np.zeros(3), fibonacci_hemisphere(12)])
    with pytest.raises(DiffusionInputError) as caught:
        process_dwi(np.ones((4, 4, 4, 13), np.float32), bvals, bvecs, PipelineSettings())
    assert caught.value.field == "bval" and "10,000" in caught.value.message


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize(
    "size, words",
    [(0.0, "non-zero"), (-2.0, "positive"), (float("nan"), "nan"), (float("inf"), "inf"), (25.0, "at most 20 mm")],
)
def test_impossible_voxel_sizes_are_refused(series, gz, size, words):
    dwi, bval, bvec = series(gz=gz)
    patch_header(dwi, PIXDIM_X, "<f", size)
    name = "'dwi.nii.gz'" if gz else "'dwi.nii'"
    refused(dwi, bval, bvec, "dwi", name, words)


def test_the_voxel_size_limit_is_a_setting(series):
    dwi, bval, bvec = series()
    patch_header(dwi, PIXDIM_X, "<f", 12.0)
    validate_inputs(dwi, bval, bvec)
    with pytest.raises(DiffusionInputError, match="at most 10 mm"):
        validate_inputs(dwi, bval, bvec, limits=InputLimits(max_voxel_mm=10.0))


@pytest.mark.parametrize("gz", [True, False])
def test_a_wrong_header_size_is_refused(series, gz):
    dwi, bval, bvec = series(gz=gz)
    patch_header(dwi, SIZEOF_HDR, "<i", 999)
    refused(dwi, bval, bvec, "dwi", "damaged NIfTI header", "sizeof_hdr should be 348", "dcm2niix")


def test_a_nifti2_header_is_accepted(tmp_path, write_bval, write_bvec):
    import nibabel as nib

    bvals = np.r_[0.0, np.full(12, 1000.0)]
    data = np.full((4, 4, 4, 13), 100, np.float32)
    nib.save(nib.Nifti2Image(data, np.eye(4)), str(tmp_path / "dwi2.nii"))
    bvecs = np.vstack([np.zeros(3), fibonacci_hemisphere(12)])
    summary = validate_inputs(
        tmp_path / "dwi2.nii", write_bval(tmp_path / "b.bval", bvals), write_bvec(tmp_path / "b.bvec", bvecs)
    )
    assert summary.header.shape == (4, 4, 4, 13)


def test_a_nibabel_warning_while_loading_is_a_refusal(series, monkeypatch):
    import warnings

    import nibabel as nib

    real_load = nib.load

    def load_with_a_warning(path, *args, **kwargs):
        warnings.warn_explicit("the header is odd", UserWarning, nib.__file__, 1)
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(nib, "load", load_with_a_warning)
    refused(*series(), "dwi", "'dwi.nii.gz'", "damaged NIfTI header", "the header is odd")


@pytest.mark.parametrize("category", [ResourceWarning, DeprecationWarning])
def test_a_warning_that_is_not_about_the_file_does_not_refuse_a_good_series(series, monkeypatch, category):
    """The garbage collector closing some other unclosed file while nibabel runs raises a ResourceWarning
    attributed to nibabel's code: it says nothing of the image, which is accepted."""
    import warnings

    import nibabel as nib

    real_load = nib.load

    def load_with_a_warning(path, *args, **kwargs):
        warnings.warn_explicit("unclosed file <_io.FileIO name='/srv/x.css'>", category, nib.__file__, 1)
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(nib, "load", load_with_a_warning)
    summary = validate_inputs(*series())
    assert summary.header.shape[3] > 1
