"""QC fails a result that cannot be right: an empty brain mask, FA that is not a number in the mask,
or a tensor fit that leaves most of the signal unexplained. Warnings stay warnings."""

from types import SimpleNamespace

import numpy as np
import pytest

from imaging.dti.phantom import fibonacci_hemisphere
from imaging.dti.qc import QCThresholds, compute_qc

BVALS = np.r_[0.0, 0.0, np.full(30, 1000.0)]
BVECS = np.vstack([np.zeros((2, 3)), fibonacci_hemisphere(30)])
SNR = {"snr": 30.0, "method": "b0_repeats"}


def maps(mask_voxels=200, fa=0.4, residual=0.03):
    """Maps on a 10x10x10 grid whose first ``mask_voxels`` voxels (C order) are the brain."""
    mask = np.zeros(1000, bool)
    mask[:mask_voxels] = True
    mask = mask.reshape(10, 10, 10)
    return SimpleNamespace(
        mask=mask,
        fa=np.full(mask.shape, fa, np.float32),
        residual=np.full(mask.shape, residual, np.float32),
        nonphysical=np.zeros(mask.shape, bool),
    )


def qc(m):
    return compute_qc(bvals=BVALS, bvecs=BVECS, maps=m, snr=SNR)


def test_a_plausible_result_passes():
    report = qc(maps())
    assert report["overall"] == "pass", report
    assert report["items"]["fa_finite"]["flag"] == "pass"


def test_an_empty_brain_mask_fails():
    report = qc(maps(mask_voxels=0))
    assert report["overall"] == "fail"
    assert report["items"]["brain_mask"]["flag"] == "fail" and "empty" in report["items"]["brain_mask"]["message"]
    assert report["items"]["fit_residual"]["flag"] == "fail" and report["items"]["fit_residual"]["value"] is None


def test_fa_that_is_not_a_number_in_the_mask_fails():
    m = maps()
    m.fa[0, 0, 0] = np.nan
    report = qc(m)
    item = report["items"]["fa_finite"]
    assert report["overall"] == "fail" and item["flag"] == "fail" and item["value"] == 1
    assert "1 of 200 mask voxels have no finite FA" in item["message"]


@pytest.mark.parametrize(
    "residual, flag",
    [(0.03, "pass"), (0.09, "pass"), (0.2, "warn"), (0.5, "warn"), (0.51, "fail"), (float("nan"), "fail")],
)
def test_the_fit_residual_warns_when_high_and_fails_when_far_beyond_normal(residual, flag):
    assert QCThresholds().max_residual == 0.10 and QCThresholds().fail_residual == 0.50
    report = qc(maps(residual=residual))
    assert report["items"]["fit_residual"]["flag"] == flag
    assert report["overall"] == ("warn" if flag == "warn" else flag)
